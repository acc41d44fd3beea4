from __future__ import annotations

import io
from pathlib import Path
import subprocess
import sys

from cli_support import TINY
import optuna
from optuna.artifacts import get_all_artifact_meta
from optuna.trial import TrialState
import pytest
import torch

from lightning_modules.cli import main
from lightning_modules.commands.search import ProgressDisplay
from optuna_amoeba.nasnet import AMOEBANET_A
from optuna_amoeba.nasnet import Genotype
from optuna_amoeba.nasnet import NASNET_A
from optuna_amoeba.nasnet import search_space


pytestmark = pytest.mark.usefixtures("isolated_cli")


def _studies(url: str) -> list[str]:
    return [summary.study_name for summary in optuna.get_all_study_summaries(url)]


@pytest.mark.slow
def test_search_runs_continues_and_shows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'amoeba.db'}"
    search = ["search", *TINY, "--storage", url, "--seed", "0", "--study-name", "s"]
    assert main([*search, "--n-trials", "2"]) == 0
    out = capsys.readouterr().out
    assert "[1/2 complete, 0 pruned]  trial 0 complete  val_acc=" in out
    assert "[2/2 complete, 0 pruned]  trial 1 complete" in out
    assert "recommended genotype: normal: " in out

    study = optuna.load_study(study_name="s", storage=url)
    assert [t.number for t in study.trials] == [0, 1]
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    for trial in study.trials:
        Genotype.parse(trial.user_attrs["genotype"])
        artifacts = get_all_artifact_meta(trial, storage=study._storage)
        assert [a.artifact_id for a in artifacts] == [trial.user_attrs["cell_picture_artifact"]]
        assert (tmp_path / "artifacts" / artifacts[0].artifact_id).is_file()

    assert main([*search, "--n-trials", "3"]) == 0
    study = optuna.load_study(study_name="s", storage=url)
    assert [t.number for t in study.trials] == [0, 1, 2]
    assert study.trials[2].state == TrialState.COMPLETE
    assert study.trials[2].params not in (study.trials[0].params, study.trials[1].params)
    assert "[3/3 complete, 0 pruned]  trial 2 complete" in capsys.readouterr().out

    assert main([*search, "--n-trials", "3"]) == 0
    assert "already has 3 complete trials (--n-trials 3); nothing to run" in (
        capsys.readouterr().out
    )
    assert len(optuna.load_study(study_name="s", storage=url).trials) == 3

    show = ["show", "--storage", url, "--top", "2", "--output-dir", "pictures"]
    assert main([*show, "--formats", "png", "svg"]) == 0
    out = capsys.readouterr().out
    best = sorted(study.trials, key=lambda t: (-(t.value or 0.0), t.number))[:2]
    expected = {"progress.png", "progress.svg"}
    for rank, trial in enumerate(best, start=1):
        assert f"{rank}. trial {trial.number}: val_acc={trial.value:.4f}" in out
        cells = tmp_path / "pictures" / f"trial_{trial.number}_cells.png"
        assert cells.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        svg = (tmp_path / "pictures" / f"trial_{trial.number}_cells.svg").read_text()
        assert svg.lstrip().startswith("<?xml") and "<svg" in svg
        for kind in ("cells", "lineage"):
            expected |= {f"trial_{trial.number}_{kind}.png", f"trial_{trial.number}_{kind}.svg"}
    assert {path.name for path in (tmp_path / "pictures").iterdir()} == expected

    # Another setting would make the trials incomparable: refused, nothing run.
    assert main([*search, "--n-trials", "4", "--filters", "8"]) == 2
    err = capsys.readouterr().err
    assert "study 's' was searched with other settings: filters 4 (now 8)" in err
    assert len(optuna.load_study(study_name="s", storage=url).trials) == 3


@pytest.mark.slow
def test_train_checkpoints_resumes_and_trains_a_study_best(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train = ["train", *TINY, "--accelerator", "cpu", "--checkpoint-dir", "ckpt"]
    assert main([*train, "--genotype", "amoebanet_a"]) == 0
    out = capsys.readouterr().out
    assert f"training {AMOEBANET_A}" in out
    assert "after 1 epochs, selected checkpoint: " in out and "test_acc=" in out
    last = tmp_path / "ckpt" / "last.ckpt"
    assert torch.load(last, weights_only=True)["global_step"] == 2

    assert main([*train, "--genotype", "amoebanet_a", "--epochs", "2"]) == 0
    out = capsys.readouterr().out
    assert f"resuming from {Path('ckpt') / 'last.ckpt'}" in out
    assert "after 2 epochs, selected checkpoint: " in out and "test_acc=" in out
    assert torch.load(last, weights_only=True)["global_step"] == 4

    assert main([*train, "--genotype", "nasnet_a", "--epochs", "3"]) == 2
    assert "trains another model (genotype differ)" in capsys.readouterr().err
    # Fewer epochs than the checkpoint has trained: refused before anything is written.
    assert main([*train, "--genotype", "amoebanet_a", "--epochs", "1"]) == 2
    assert "has trained 2 epochs, more than --epochs 1" in capsys.readouterr().err
    assert torch.load(last, weights_only=True)["global_step"] == 4

    # --restart starts over: the earlier training's checkpoints go, so none is resumed later.
    # The user's own copies stay, whatever their names.
    earlier = sorted(path.name for path in last.parent.glob("*.ckpt"))
    for copy in ("best-model-for-paper.ckpt", "last-epoch2-keep.ckpt"):
        (last.parent / copy).write_bytes(last.read_bytes())
    assert main([*train, "--genotype", "amoebanet_a", "--restart"]) == 0
    assert f"--restart: removed {len(earlier)} checkpoint(s)" in capsys.readouterr().out
    assert torch.load(last, weights_only=True)["global_step"] == 2
    kept = sorted(path.name for path in last.parent.glob("*.ckpt"))
    assert len(kept) == 4 and kept[0].startswith("best-epoch=0-")
    assert kept[1:] == ["best-model-for-paper.ckpt", "last-epoch2-keep.ckpt", "last.ckpt"]

    url = f"sqlite:///{tmp_path / 'found.db'}"
    study = optuna.create_study(study_name="found", storage=url, direction="maximize")
    for value, genotype in ((0.5, AMOEBANET_A), (0.4, NASNET_A)):
        study.add_trial(
            optuna.trial.create_trial(
                params=genotype.to_params(),
                distributions=search_space(),
                value=value,
            )
        )
    assert main([*train, "--from-study", "--storage", url, "--checkpoint-dir", "c2"]) == 0
    assert "training normal: avg_pool_3x3(h0) + max_pool_3x3(h0)" in capsys.readouterr().out


def test_console_script_reports_bad_input_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "lightning_modules.cli", "search", "--filters", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert (
        result.stderr
        == "optuna-amoeba search: error: --filters must be an int in [1, 1024], got 0\n"
    )
    assert not list(tmp_path.iterdir())


def test_help_does_not_load_torch() -> None:
    code = (
        "import sys\n"
        "from lightning_modules.cli import main\n"
        "try:\n"
        "    main(['search', '--help'])\n"
        "except SystemExit as exit:\n"
        "    assert exit.code == 0\n"
        "assert 'torch' not in sys.modules and 'lightning' not in sys.modules\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "--n-trials N_TRIALS" in result.stdout


def test_search_refuses_a_study_that_minimises(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'other.db'}"
    optuna.create_study(study_name="loss", storage=url, direction="minimize")
    assert main(["search", *TINY, "--storage", url, "--study-name", "loss"]) == 2
    err = capsys.readouterr().err
    assert "study 'loss' exists but does not maximise one value" in err
    assert optuna.load_study(study_name="loss", storage=url).trials == []


def test_search_show_and_train_name_the_architecture_recommend_by_mean_ranks_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    from lightning_modules.commands import train
    from lightning_modules.commands.search import _print_best
    from optuna_amoeba import nasnet

    url = f"sqlite:///{tmp_path / 'repeats.db'}"
    study = optuna.create_study(study_name="repeats", storage=url, direction="maximize")
    study.sampler = optuna.samplers.RandomSampler(seed=0)
    amoeba, nasnet_a = nasnet.AMOEBANET_A.to_params(), nasnet.NASNET_A.to_params()
    # AmoebaNet-A has the single best training (trial 0) and the best plain mean of the
    # repeated architectures (0.96), but over two noisy trainings; NASNet-A's four trainings
    # give the best mean less one pooled standard error; trial 1, a random architecture
    # trained once, is pulled down by the whole standard error.
    for params, value in [(amoeba, 0.99), (None, 0.965), (nasnet_a, 0.958), (amoeba, 0.93)]:
        if params is not None:
            study.enqueue_trial(params)
        trial = study.ask()
        nasnet.suggest_genotype(trial)
        study.tell(trial, value)
    for _ in range(3):
        study.enqueue_trial(nasnet_a)
        trial = study.ask()
        nasnet.suggest_genotype(trial)
        study.tell(trial, 0.958)
    assert study.trials[1].params not in (amoeba, nasnet_a)

    _print_best(study, argparse.Namespace(artifact_dir="", storage=url))
    out = capsys.readouterr().out
    assert out == (
        "best trial 0: val_acc=0.9900 (one training; its architecture ranks below the "
        "recommended one by pessimistic mean)\n"
        "recommended: trials 2, 4, 5, 6: val_acc mean 0.9580 ± 0.0000 over 4 trainings, "
        "pessimistic mean 0.9474\n"
        f"recommended genotype: {Genotype.from_params(nasnet_a)}\n"
    )

    show = ["show", "--storage", url, "--top", "2", "--output-dir", str(tmp_path / "cells")]
    assert main(show) == 0
    out = capsys.readouterr().out
    assert (
        "7 complete trials, the best 2 architectures by pessimistic mean validation accuracy "
        "(the mean moved one pooled standard error towards worse)"
    ) in out
    first = "1. trials 2, 4, 5, 6: val_acc mean 0.9580 ± 0.0000 over 4 trainings, "
    second = "2. trials 0, 3: val_acc mean 0.9600 ± 0.0300 over 2 trainings, "
    assert first + "pessimistic mean 0.9474" in out
    assert second + "pessimistic mean 0.9450" in out
    assert out.index(first) < out.index(second)
    assert "trial 1:" not in out
    assert (tmp_path / "cells" / "trial_2_cells.png").is_file()

    chosen = argparse.Namespace(from_study=True, storage=url, study_name="repeats")
    assert train._genotype(chosen) == Genotype.from_params(nasnet_a)


def test_progress_line_names_the_recommended_set_not_a_lucky_trial(
    lucky_trial_study: optuna.Study,
) -> None:
    study = lucky_trial_study
    stream = io.StringIO()
    ProgressDisplay(6, stream=stream)(study, study.trials[-1])
    line = stream.getvalue()
    assert line.startswith("[6/6 complete, 0 pruned]  trial 5 complete")
    assert "recommended=0.9000 (mean of 3, trials 0, 3, 5)" in line
    assert "trial 2)" not in line


@pytest.mark.parametrize(
    ("missing", "argv"),
    [
        ("lightning", ["search", "--dataset", "digits", "--n-trials", "1"]),
        ("torch", ["train", "--genotype", "nasnet_a", "--dataset", "digits"]),
    ],
)
def test_without_the_nas_extra_a_command_names_it_in_one_line(
    tmp_path: Path, missing: str, argv: list[str]
) -> None:
    # As when the package is not installed: importing it, or anything in it, finds nothing.
    code = (
        "import sys\n"
        "class Absent:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] == {missing!r}:\n"
        f"            raise ModuleNotFoundError('No module named {missing}', name={missing!r})\n"
        "sys.meta_path.insert(0, Absent())\n"
        "from lightning_modules.cli import main\n"
        f"sys.exit(main({argv!r}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 2
    assert result.stderr == (
        f"optuna-amoeba {argv[0]}: error: needs {missing}: pip install 'optuna-amoeba[nas]'\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_an_import_error_inside_an_installed_package_keeps_its_traceback(tmp_path: Path) -> None:
    # A bug or a broken install, not a missing extra: the traceback tells which.
    code = (
        "import sys\n"
        "from lightning_modules.commands import show\n"
        "def broken(args):\n"
        "    raise ImportError('libcudnn.so.9: cannot open shared object file', name='torch._C')\n"
        "show.run = broken\n"
        "from lightning_modules.cli import main\n"
        "sys.exit(main(['show']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "libcudnn.so.9" in result.stderr


def test_a_storage_failing_mid_search_is_one_line_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from optuna.exceptions import StorageInternalError

    from lightning_modules.commands import search

    url = "postgresql://amoeba:s3cret@db.example/amoeba"

    def lost_server(args: object) -> int:
        cause = ConnectionError(f"server closed the connection: {url}\nbackground")
        raise StorageInternalError("An exception is raised during the commit.") from cause

    monkeypatch.setattr(search, "run", lost_server)
    assert main(["search", "--storage", url]) == 1
    err = capsys.readouterr().err
    assert err == (
        "optuna-amoeba search: error: the storage failed: ConnectionError: server closed the "
        "connection: postgresql://amoeba:***@db.example/amoeba background; run the same "
        "command to continue once it is reachable\n"
    )
