"""Two-objective searches on the command line: ``search --objectives``, continuing, ``show``."""

from __future__ import annotations

from pathlib import Path
import re
import warnings

from cli_support import TINY
import optuna
from optuna.trial import TrialState
import pytest

from lightning_modules.cli import main
from lightning_modules.commands.search import SEARCH_CONFIG_ATTR
from optuna_amoeba import nasnet
from optuna_amoeba.visualization import pareto_trade_offs


pytestmark = pytest.mark.usefixtures("isolated_cli")


# The settings TINY gives, as search stores them.
TINY_CONFIG = {
    "dataset": "digits",
    "epochs": 1,
    "cells": 1,
    "filters": 4,
    "batch_size": 32,
    "learning_rate": 0.1,
    "blocks": nasnet.DEFAULT_NUM_BLOCKS,
}


def _fake_search(url: str, objectives: list[str], values: list[tuple[float, ...]]) -> None:
    """A study as ``search --objectives ...`` leaves it, with made-up values (no training)."""
    directions = ["maximize"] + ["minimize"] * (len(objectives) - 1)
    study = optuna.create_study(study_name="s", storage=url, directions=directions)
    if len(objectives) > 1:
        names = {"params": "parameters", "flops": "FLOPs"}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(["validation accuracy", names[objectives[1]]])
    study.set_user_attr(SEARCH_CONFIG_ATTR, {**TINY_CONFIG, "objectives": objectives})
    study.sampler = optuna.samplers.RandomSampler(seed=0)
    for value in values:
        trial = study.ask()
        genotype = nasnet.suggest_genotype(trial)
        trial.set_user_attr("genotype", str(genotype))
        if len(value) > 1:
            trial.set_user_attr("params", int(value[1]))
        study.tell(trial, list(value) if len(value) > 1 else value[0])


@pytest.mark.slow
def test_two_objective_search_continues_and_shows_its_front(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'mo.db'}"
    search = ["search", *TINY, "--storage", url, "--seed", "0", "--study-name", "s"]
    two = [*search, "--objectives", "accuracy,params"]
    assert main([*two, "--n-trials", "2"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"\[1/2 complete, 0 pruned\]  trial 0 complete  val_acc=0\.\d{4}, "
                     r"[\d,]+ params  Pareto front: 1 trial\(s\)", out)  # fmt: skip
    assert main([*two, "--n-trials", "3"]) == 0
    out = capsys.readouterr().out
    assert "[3/3 complete, 0 pruned]  trial 2 complete" in out

    study = optuna.load_study(study_name="s", storage=url)
    assert study.directions == [
        optuna.study.StudyDirection.MAXIMIZE,
        optuna.study.StudyDirection.MINIMIZE,
    ]
    assert study.metric_names == ["validation accuracy", "parameters"]
    assert study.user_attrs[SEARCH_CONFIG_ATTR]["objectives"] == ["accuracy", "params"]
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
    for trial in study.trials:
        assert trial.values == [pytest.approx(trial.values[0]), trial.user_attrs["params"]]
    trade_offs = pareto_trade_offs(study)
    assert trade_offs is not None
    # The final summary lists the front from the smallest, each with its genotype.
    assert "Pareto front: " in out and "complete trials: validation accuracy against " in out
    for trial in trade_offs.front:
        line = f"  trial {trial.number}: val_acc={trial.values[0]:.4f}, "
        line += f"{trial.user_attrs['params']:,} params"
        assert line in out
        assert f"    {trial.user_attrs['genotype']}" in out

    # Continuing with other objectives is refused before anything runs.
    assert main([*search, "--n-trials", "4"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "optuna-amoeba search: error: study 's' was searched with --objectives "
        "accuracy,params, not accuracy; continue it with --objectives accuracy,params or use "
        "another --study-name\n"
    )
    assert len(optuna.load_study(study_name="s", storage=url).trials) == 3

    assert (
        main(["show", "--storage", url, "--output-dir", "front", "--formats", "png", "pdf"]) == 0
    )
    out = capsys.readouterr().out
    assert (tmp_path / "front" / "pareto_front.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "front" / "pareto_front.pdf").read_bytes()[:5] == b"%PDF-"
    for trial in trade_offs.front:
        assert f"  trial {trial.number}: val_acc={trial.values[0]:.4f}" in out


def test_continuing_with_other_objectives_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    single = f"sqlite:///{tmp_path / 'single.db'}"
    _fake_search(single, ["accuracy"], [(0.5,)])
    argv = ["search", *TINY, "--study-name", "s", "--n-trials", "2"]
    assert main([*argv, "--storage", single, "--objectives", "accuracy,flops"]) == 2
    assert capsys.readouterr().err == (
        "optuna-amoeba search: error: study 's' was searched with --objectives accuracy, not "
        "accuracy,flops; continue it with --objectives accuracy or use another --study-name\n"
    )
    two = f"sqlite:///{tmp_path / 'two.db'}"
    _fake_search(two, ["accuracy", "params"], [(0.5, 100.0)])
    assert main([*argv, "--storage", two, "--objectives", "accuracy,flops"]) == 2
    assert "was searched with --objectives accuracy,params, not accuracy,flops" in (
        capsys.readouterr().err
    )
    # A two-objective study search did not create (no metric names) is not taken over.
    other = f"sqlite:///{tmp_path / 'other.db'}"
    optuna.create_study(study_name="s", storage=other, directions=["maximize", "minimize"])
    assert main([*argv, "--storage", other, "--objectives", "accuracy,params"]) == 2
    assert (
        "study 's' exists but does not maximise validation accuracy and minimise parameters"
        in capsys.readouterr().err
    )
    for url in (single, two, other):
        assert len(optuna.load_study(study_name="s", storage=url).trials) <= 1


def test_studies_searched_before_objectives_existed_continue(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    _fake_search(url, ["accuracy"], [(0.5,)])
    study = optuna.load_study(study_name="s", storage=url)
    study.set_user_attr(SEARCH_CONFIG_ATTR, TINY_CONFIG)  # as search stored it before
    assert main(["search", *TINY, "--storage", url, "--study-name", "s", "--n-trials", "1"]) == 0
    assert "already has 1 complete trials (--n-trials 1); nothing to run" in (
        capsys.readouterr().out
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--objectives", "accuracy,size"], "--objectives must be one of accuracy, "
         "accuracy,params, accuracy,flops, got 'accuracy,size'"),
        (["--objectives", "params"], "--objectives must be one of"),
        (["--objectives", "accuracy,params", "--pruner", "median"],
         "--pruner median needs a single objective; Optuna does not prune --objectives "
         "accuracy,params"),
    ],
)  # fmt: skip
def test_bad_objectives_are_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    url = f"sqlite:///{tmp_path / 'bad.db'}"
    assert main(["search", *TINY, "--storage", url, *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not (tmp_path / "bad.db").exists()


def test_show_draws_and_names_the_front(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'mo.db'}"
    # Trials 0, 1, 3 and 4 are on the front (2 is dominated by 1); 3 is the knee.
    values = [(0.60, 1_000.0), (0.80, 2_000.0), (0.70, 2_500.0), (0.95, 3_000.0),
              (0.96, 9_000.0)]  # fmt: skip
    _fake_search(url, ["accuracy", "params"], values)
    assert main(["show", "--storage", url, "--output-dir", "out", "--formats", "svg"]) == 0
    out = capsys.readouterr().out
    study = optuna.load_study(study_name="s", storage=url)
    lines = out.splitlines()
    start = lines.index(
        "Pareto front: 4 of 5 complete trials: validation accuracy against parameters, "
        "from the smallest:"
    )
    listed = [line for line in lines[start + 1 :] if line.startswith("  trial ")]
    assert listed == [
        "  trial 0: val_acc=0.6000, 1,000 params  [smallest]",
        "  trial 1: val_acc=0.8000, 2,000 params",
        "  trial 3: val_acc=0.9500, 3,000 params  [knee]",
        "  trial 4: val_acc=0.9600, 9,000 params  [most accurate]",
    ]
    genotype = study.trials[3].user_attrs["genotype"]
    assert f"  trial 3: val_acc=0.9500, 3,000 params  [knee]\n    {genotype}\n" in out
    svg = (tmp_path / "out" / "pareto_front.svg").read_text()
    assert "<svg" in svg
    # The marked trade-offs get their cells and lineage drawn, plus the study's progress.
    expected = {"pareto_front.svg", "progress.svg"} | {
        f"trial_{n}_{kind}.svg" for n in (0, 3, 4) for kind in ("cells", "lineage")
    }
    assert {path.name for path in (tmp_path / "out").iterdir()} == expected
    assert "pictures: 8 files in out" in out


def test_show_lists_flops_in_millions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'flops.db'}"
    _fake_search(url, ["accuracy", "flops"], [(0.60, 1.5e6), (0.80, 12.25e6)])
    assert main(["show", "--storage", url, "--output-dir", "out"]) == 0
    out = capsys.readouterr().out
    assert "validation accuracy against FLOPs, from the smallest:" in out
    assert "  trial 0: val_acc=0.6000, 1.5 MFLOPs  [smallest]" in out
    assert "  trial 1: val_acc=0.8000, 12.2 MFLOPs  [most accurate]" in out


def test_train_from_a_two_objective_study_asks_for_a_genotype(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'mo.db'}"
    _fake_search(url, ["accuracy", "params"], [(0.60, 1_000.0)])
    assert main(["train", *TINY, "--from-study", "--storage", url]) == 2
    assert capsys.readouterr().err == (
        "optuna-amoeba train: error: study 's' has 2 objectives, so no single best trial: "
        "pick one from its Pareto front (optuna-amoeba show) and pass its genotype with "
        "--genotype\n"
    )
