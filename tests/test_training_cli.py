"""The training side of the command line: honest evaluation, the paper's search, recipes,
image folders and export."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from cli_support import TINY
import optuna
from optuna.trial import TrialState
import pytest
import torch

from lightning_modules.cli import build_parser
from lightning_modules.cli import main
from lightning_modules.commands import search
from lightning_modules.commands import train
from lightning_modules.commands._common import apply_dataset_defaults
from lightning_modules.recipes import AMOEBANET
from lightning_modules.recipes import NASNET
from lightning_modules.testing import write_image_folder


pytestmark = pytest.mark.usefixtures("isolated_cli")


def _search_args(*argv: str) -> argparse.Namespace:
    args = build_parser().parse_args(["search", *argv])
    search.apply_paper_settings(args)
    apply_dataset_defaults(args, search.SEARCH_DEFAULTS)
    return args


def test_search_refuses_the_test_set_as_fitness(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'refused.db'}"
    assert main(["search", *TINY, "--val-size", "0", "--storage", url]) == 2
    err = capsys.readouterr().err
    assert err == (
        "optuna-amoeba search: error: --val-size must be >= 1, got 0: a trial's value is its "
        "validation accuracy, and the test set never stands in for it\n"
    )
    assert not (tmp_path / "refused.db").exists()


def test_paper_flag_resolves_to_the_papers_search() -> None:
    args = _search_args("--paper")
    sampler = search._make_sampler(args, num_existing_trials=0)
    assert (
        sampler._population_size,
        sampler._sample_size,
        sampler._n_startup_trials,
        sampler._dedup,
        sampler._identity_probability,
        sampler._reevaluation_probability,
        sampler.tpe_probability,
        sampler.mutation_candidates,
    ) == (100, 25, 100, False, 0.05, 0.0, 0.0, 1)
    assert (args.cells, args.filters, args.epochs) == (3, 24, 25)
    config = search._search_config(args)
    assert (config["cells"], config["filters"], config["epochs"]) == (3, 24, 25)

    # Options given explicitly override the flag, the others keep the paper's values.
    args = _search_args("--paper", "--population-size", "200", "--dedup", "--epochs", "5")
    sampler = search._make_sampler(args, num_existing_trials=0)
    assert (sampler._population_size, sampler._sample_size, sampler._dedup) == (200, 25, True)
    assert (args.epochs, args.cells, sampler._reevaluation_probability) == (5, 3, 0.0)

    alone = search._make_sampler(_search_args("--no-dedup"), num_existing_trials=0)
    plain = search._make_sampler(_search_args(), num_existing_trials=0)
    assert not alone._dedup and plain._dedup
    assert alone._population_size == plain._population_size
    tpe = search._make_sampler(_search_args("--tpe-probability", "0.2"), num_existing_trials=0)
    assert (tpe.tpe_probability, plain.tpe_probability) == (0.2, 0.35)
    many = search._make_sampler(_search_args("--mutation-candidates", "8"), num_existing_trials=0)
    assert (many.mutation_candidates, plain.mutation_candidates) == (8, 4)
    assert "any of these given explicitly overrides it" in _help("search")


def _help(command: str) -> str:
    parser = build_parser()
    subparsers = next(
        action for action in parser._actions if isinstance(action, argparse._SubParsersAction)
    )
    return " ".join(subparsers.choices[command].format_help().split())


def test_search_config_records_every_setting_that_changes_a_trials_value() -> None:
    config = search._search_config(_search_args(*TINY, "--cutout", "8", "--val-size", "100"))
    assert {
        "dataset": "digits",
        "val_size": 100,
        "cutout": 8,
        "weight_decay": 5e-4,
        "label_smoothing": 0.0,
    }.items() <= config.items()


def test_train_recipes_fill_unset_options_and_explicit_ones_win() -> None:
    parser = build_parser()
    args = parser.parse_args(["train", "--genotype", "nasnet_a", "--recipe", "nasnet"])
    train._apply_recipe(args)
    assert {name: getattr(args, name) for name in NASNET.as_dict()} == NASNET.as_dict()
    args = parser.parse_args(["train", "--genotype", "amoebanet_a", "--cutout", "0"])
    train._apply_recipe(args)
    assert (args.cutout, args.auxiliary_weight, args.filters) == (
        0,
        AMOEBANET.auxiliary_weight,
        36,
    )
    args = parser.parse_args(["train", "--genotype", "amoebanet_a", "--dataset", "digits"])
    train._apply_recipe(args)
    assert (args.cutout, args.cells, args.drop_path_keep_prob) == (0, 1, 0.7)
    assert "--recipe {amoebanet,nasnet}" in _help("train")


class _Spy:
    """Records what the model-selection callbacks monitor and when the test split is read."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import lightning.pytorch.callbacks as callbacks

        from lightning_modules.data import DigitsDataModule

        self.monitors: list[str | None] = []
        self.test_reads: list[str] = []
        self.val_reads = 0
        self.deterministic: list[bool] = []
        self.compiled: list[str] = []
        real_checkpoint = callbacks.ModelCheckpoint
        real_test = DigitsDataModule.test_dataloader
        real_val = DigitsDataModule.val_dataloader
        spy = self

        class Checkpoint(real_checkpoint):  # type: ignore[misc, valid-type]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                spy.monitors.append(self.monitor)

        def test_dataloader(datamodule: DigitsDataModule) -> Any:
            assert datamodule.trainer is not None
            spy.test_reads.append(datamodule.trainer.state.fn.value)
            spy.deterministic.append(torch.are_deterministic_algorithms_enabled())
            return real_test(datamodule)

        def compile_recorded(module: torch.nn.Module, *args: Any, **kwargs: Any) -> None:
            # Recorded, not compiled: the GPU check's smoke test compiles a training loop.
            spy.compiled.append(type(module).__name__)

        def val_dataloader(datamodule: DigitsDataModule) -> Any:
            spy.val_reads += 1
            return real_val(datamodule)

        monkeypatch.setattr(callbacks, "ModelCheckpoint", Checkpoint)
        monkeypatch.setattr(torch.nn.Module, "compile", compile_recorded)
        monkeypatch.setattr(DigitsDataModule, "test_dataloader", test_dataloader)
        monkeypatch.setattr(DigitsDataModule, "val_dataloader", val_dataloader)


@pytest.mark.slow
def test_train_never_monitors_or_checkpoints_on_the_test_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = _Spy(monkeypatch)
    argv = ["train", "--genotype", "amoebanet_a", *TINY, "--accelerator", "cpu"]
    assert main([*argv, "--epochs", "2", "--checkpoint-dir", "with_val"]) == 0
    out = capsys.readouterr().out
    assert spy.monitors == ["val_acc", None]  # the best checkpoint's, then last.ckpt's
    assert spy.test_reads == ["test"]  # once, after training
    assert spy.val_reads >= 1
    assert spy.deterministic == [False] and spy.compiled == []
    assert "epoch 1/2  train_loss=" in out and "epoch 2/2  train_loss=" in out
    assert "val_acc=" in out.splitlines()[2]
    [best] = (tmp_path / "with_val").glob("best-*.ckpt")
    summary = next(line for line in out.splitlines() if line.startswith("after 2 epochs"))
    assert f"selected checkpoint: {best}" in summary
    assert "val_acc=" in summary and "test_acc=" in summary
    assert "GPU available" not in out and "Tip" not in out

    spy.monitors.clear()
    spy.test_reads.clear()
    reads = spy.val_reads
    spy.deterministic.clear()
    no_val = [*argv, "--val-size", "0", "--checkpoint-dir", "no_val"]
    assert main([*no_val, "--compile", "--deterministic"]) == 0
    out = capsys.readouterr().out
    assert spy.monitors == [None]
    assert spy.test_reads == ["test"]
    assert spy.deterministic == [True] and spy.compiled == ["NASNetwork"]
    assert spy.val_reads == reads  # no validation loop at all
    assert "(last epoch; no validation split)" in out and "test_acc=" in out
    assert [path.name for path in (tmp_path / "no_val").glob("*.ckpt")] == ["last.ckpt"]


@pytest.mark.slow
def test_image_folder_end_to_end_search_train_and_export(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from lightning_modules.export import load_exported
    from lightning_modules.export import load_network
    from lightning_modules.export import read_hyperparameters

    folder = write_image_folder(tmp_path / "pictures", per_class=10)
    data = ["--dataset", f"imagefolder:{folder}", "--image-size", "12", "--cpu-threads", "1"]
    sizes = ["--epochs", "1", "--cells", "1", "--filters", "4", "--batch-size", "4"]
    url = f"sqlite:///{tmp_path / 'own.db'}"
    searched = [
        "search",
        *data,
        *sizes,
        "--limit-train-batches",
        "2",
        "--n-trials",
        "2",
        "--storage",
        url,
        "--artifact-dir",
        "",
        "--seed",
        "0",
        "--accelerator",
        "cpu",
    ]
    assert main(searched) == 0
    out = capsys.readouterr().out
    assert "searching 'amoeba-pictures'" in out and "[2/2 complete, 0 pruned]" in out
    study = optuna.load_study(study_name="amoeba-pictures", storage=url)
    assert [trial.state for trial in study.trials] == [TrialState.COMPLETE] * 2
    stored = study.user_attrs[search.SEARCH_CONFIG_ATTR]
    assert stored["dataset"] == f"imagefolder:{folder.resolve()}"
    assert stored["image_size"] == 12

    trained = [
        "train",
        "--from-study",
        "--storage",
        url,
        *data,
        *sizes,
        "--accelerator",
        "cpu",
        "--checkpoint-dir",
        "own",
        "--export",
        "torchscript",
        "--export",
        "torch-export",
    ]
    assert main(trained) == 0
    out = capsys.readouterr().out
    assert "images: 16 train, 2 val, 2 test" in out
    summary = next(line for line in out.splitlines() if line.startswith("after 1 epochs"))
    assert "val_acc=" in summary and "test_acc=" in summary
    selected = Path(summary.split("selected checkpoint: ")[1].split()[0])

    hparams = read_hyperparameters(selected)
    assert hparams["class_names"] == ["blue", "red"] and len(hparams["input_mean"]) == 3
    network = load_network(selected)
    assert isinstance(network, torch.nn.Module) and not network.training
    torch.manual_seed(0)
    images = torch.randn(3, 3, 12, 12)
    with torch.no_grad():
        expected = network(images)
        for name in ("model.torchscript.pt", "model.pt2"):
            assert f"exported {'torchscript' if 'script' in name else 'torch-export'}" in out
            exported = load_exported(tmp_path / "own" / name)
            assert torch.allclose(exported(images), expected, atol=1e-5), name
            assert exported(images[:1]).shape == (1, 2)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["search", "--dataset", "imagefolder:missing", "--n-trials", "1"],
            "cannot load imagefolder:missing: FileNotFoundError: no folder missing",
        ),
        (
            ["search", "--dataset", "cifar10", "--image-size", "64"],
            "--image-size applies to --dataset imagefolder:PATH only, got cifar10",
        ),
        (
            ["train", "--genotype", "amoebanet_a", "--dataset", "digits", "--cutout", "16"],
            "cutout must be 0 for digits (8x8 images, no augmentation), got 16",
        ),
        (
            ["train", "--genotype", "amoebanet_a", "--dropout", "1"],
            "--momentum and --dropout must be in [0, 1), got 0.9 and 1.0",
        ),
        (
            ["train", "--genotype", "amoebanet_a", "--momentum", "1.5"],
            "--momentum and --dropout must be in [0, 1), got 1.5 and 0.0",
        ),
    ],
)
def test_bad_training_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    url = f"sqlite:///{tmp_path / 'bad.db'}"
    extra = ["--storage", url] if argv[0] == "search" else []
    assert main([*argv, *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    if (tmp_path / "bad.db").exists():
        assert optuna.get_all_study_summaries(url) == []


@pytest.mark.parametrize("command", [["search", *TINY], ["train", "--genotype", "nasnet_a"]])
def test_cpu_threads_are_refused_beyond_the_machines_cpus(
    command: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import os

    from lightning_modules.commands._common import check_cpu_threads

    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    assert main([*command, "--cpu-threads", "100000"]) == 2
    assert capsys.readouterr().err == (
        f"optuna-amoeba {command[0]}: error: --cpu-threads must be an int in [1, 4], "
        "got 100000 (this machine has 4 CPUs)\n"
    )
    assert not Path("amoeba.db").exists() and not Path("checkpoints").exists()
    check_cpu_threads(argparse.Namespace(cpu_threads=4))
