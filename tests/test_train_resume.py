"""``optuna-amoeba train`` resumed: ``last.ckpt`` is the last finished epoch, a finished
training is not trained again, a training resumed to more epochs follows the longer one's
learning-rate schedule, and other optimisation settings than the checkpoint's are refused."""

from __future__ import annotations

import os
from pathlib import Path
import signal
from typing import Any

from cli_support import TINY
import pytest
import torch

from lightning_modules.cli import main
from lightning_modules.commands import train
from lightning_modules.export import read_training_state
from lightning_modules.module import NASNetModule


pytestmark = pytest.mark.usefixtures("isolated_cli")

TRAIN = ["train", "--genotype", "amoebanet_a", *TINY, "--checkpoint-dir", "ck"]
LAST = Path("ck") / "last.ckpt"


@pytest.fixture
def falling_val_acc(monkeypatch: pytest.MonkeyPatch) -> None:
    """A validation accuracy that falls every epoch: only the first is ever the best."""
    evaluate = NASNetModule._shared_eval_step

    def falling(module: NASNetModule, batch: Any, stage: str) -> None:
        if stage == "val":
            module.log("val_acc", 1 / (1 + module.current_epoch))
        else:
            evaluate(module, batch, stage)

    monkeypatch.setattr(NASNetModule, "_shared_eval_step", falling)


def _epoch_lines(out: str) -> list[str]:
    return [line.split("  ")[0] for line in out.splitlines() if line.startswith("epoch ")]


def _summary(out: str) -> str:
    return next(line for line in out.splitlines() if line.startswith("after "))


def test_last_checkpoint_is_the_last_epoch_and_a_finished_run_is_not_trained_again(
    falling_val_acc: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # Lightning's save_last wrote last.ckpt only with a new best checkpoint: here epoch 1's.
    assert main([*TRAIN, "--epochs", "3"]) == 0
    out = capsys.readouterr().out
    assert _epoch_lines(out) == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert [path.name[:13] for path in Path("ck").glob("best-*.ckpt")] == ["best-epoch=0-"]
    assert read_training_state(LAST)[1] == 3
    assert torch.load(LAST, weights_only=True)["global_step"] == 6

    assert main([*TRAIN, "--epochs", "3"]) == 0
    again = capsys.readouterr().out
    assert f"{LAST} has trained all 3 epochs: nothing left to train" in again
    assert _epoch_lines(again) == []
    assert _summary(again) == _summary(out)
    assert "best-epoch=0-" in _summary(again) and "test_acc=" in _summary(again)
    assert torch.load(LAST, weights_only=True)["global_step"] == 6


@pytest.mark.parametrize("validation", [[], ["--val-size", "0"]], ids=["val", "no-val"])
def test_ctrl_c_resumes_after_the_last_finished_epoch(
    validation: list[str],
    falling_val_acc: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    interrupted: list[None] = []

    def ctrl_c_once_in_the_third_epoch(module: NASNetModule) -> None:
        if module.current_epoch == 2 and not interrupted:
            interrupted.append(None)
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(
        NASNetModule, "on_train_epoch_start", ctrl_c_once_in_the_third_epoch, raising=False
    )
    trained = [*TRAIN, *validation, "--epochs", "3"]
    assert main(trained) == 130
    assert _epoch_lines(capsys.readouterr().out) == ["epoch 1/3", "epoch 2/3"]
    # Without validation there was no last.ckpt until training ended; with it, epoch 1's.
    assert read_training_state(LAST)[1] == 2

    assert main(trained) == 0
    out = capsys.readouterr().out
    assert f"resuming from {LAST}" in out
    assert _epoch_lines(out) == ["epoch 3/3"]
    assert torch.load(LAST, weights_only=True)["global_step"] == 6


def test_resumed_to_more_epochs_the_schedule_is_the_longer_trainings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The restored scheduler kept the first run's period: its learning rate reached 0 at the
    # end of epoch 1 and rose again, while drop-path followed the new total.
    rates: list[float] = []
    progress: list[float] = []
    step = NASNetModule.training_step

    def recorded(module: NASNetModule, batch: Any, batch_idx: int) -> Any:
        rates.append(module.trainer.optimizers[0].param_groups[0]["lr"])
        loss = step(module, batch, batch_idx)
        progress.append(module.network.drop_path_progress)
        return loss

    monkeypatch.setattr(NASNetModule, "training_step", recorded)
    assert main([*TRAIN, "--epochs", "3", "--checkpoint-dir", "whole"]) == 0
    whole = (rates[:], progress[:])
    assert len(rates) == 6 and rates[0] == 0.1 and rates[3] == pytest.approx(0.05)
    assert main([*TRAIN, "--epochs", "1"]) == 0
    rates.clear()
    progress.clear()
    assert main([*TRAIN, "--epochs", "3"]) == 0
    # Epochs 2 and 3, step for step.
    assert rates == pytest.approx(whole[0][2:])
    assert progress == pytest.approx(whole[1][2:])


def test_resuming_with_other_optimisation_settings_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(TRAIN) == 0
    capsys.readouterr()
    for option, kept, given in (
        ("--learning-rate", "--learning-rate 0.1", "0.2"),
        ("--momentum", "--momentum 0.9", "0.5"),
        ("--weight-decay", "--weight-decay 0.0005", "0.001"),
        ("--batch-size", "--batch-size 32", "16"),
        ("--label-smoothing", "--label-smoothing 0.0", "0.1"),
        ("--val-size", "no --val-size", "20"),  # the dataset's default split
        ("--limit-train-batches", "--limit-train-batches 2", "1"),
    ):
        assert main([*TRAIN, "--epochs", "2", option, given]) == 2
        assert capsys.readouterr().err == (
            f"optuna-amoeba train: error: checkpoint {LAST} was trained with {kept}, "
            f"not {option} {given}; continue it with {kept}, or use --restart\n"
        )
    assert torch.load(LAST, weights_only=True)["global_step"] == 2

    # The device count scales the learning rate: another one is refused too.
    checkpoint = torch.load(LAST, weights_only=True)
    checkpoint["callbacks"][train._SETTINGS_KEY]["devices"] = 2
    torch.save(checkpoint, LAST)
    assert main([*TRAIN, "--epochs", "2", "--momentum", "0.5"]) == 2
    assert capsys.readouterr().err == (
        f"optuna-amoeba train: error: checkpoint {LAST} was trained with --momentum 0.9, "
        "--devices 2, not --momentum 0.5, --devices 1; continue it with --momentum 0.9, "
        "--devices 2, or use --restart\n"
    )

    # A checkpoint that recorded no settings is checked on its model only.
    del checkpoint["callbacks"][train._SETTINGS_KEY]
    torch.save(checkpoint, LAST)
    assert main([*TRAIN, "--epochs", "2", "--learning-rate", "0.2"]) == 0
    assert f"resuming from {LAST}" in capsys.readouterr().out
    assert torch.load(LAST, weights_only=True)["global_step"] == 4


def test_an_end_of_training_checkpoint_counts_the_epochs_it_finished(tmp_path: Path) -> None:
    # Lightning's checkpoint at the end of training (what earlier releases left as last.ckpt
    # with --val-size 0) records the last epoch's index plus one as "epoch"; its loop state
    # says how many epochs finished.
    path = tmp_path / "end.ckpt"
    loops = {"fit_loop": {"epoch_progress": {"current": {"processed": 2}}}}
    torch.save({"epoch": 2, "hyper_parameters": {}, "loops": loops}, path)
    assert read_training_state(path)[1] == 2
    torch.save({"epoch": 2, "hyper_parameters": {}}, path)
    assert read_training_state(path)[1] == 3
