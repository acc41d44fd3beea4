"""Ctrl-C during ``optuna-amoeba search`` and ``train``: one line, exit 130, no trial left
RUNNING, the interrupted architecture queued again with its lineage, a rerun continues."""

from __future__ import annotations

import os
from pathlib import Path
import signal
import subprocess
import sys
import time
from typing import Any

from cli_support import BARE_TINY
from cli_support import SLOW_TINY
from cli_support import TINY
import lightning.pytorch as pl
import optuna
from optuna.trial import TrialState
import pytest
import torch

from lightning_modules.cli import main
from lightning_modules.commands._interrupt import InterruptGuard
from lightning_modules.commands._interrupt import requeue_interrupted
from lightning_modules.module import NASNetModule
from lightning_modules.objective import keyboard_interrupts
from optuna_amoeba import AgingEvolutionSampler
from optuna_amoeba import MUTATION_KEY
from optuna_amoeba import PARENT_KEY


pytestmark = pytest.mark.usefixtures("isolated_cli")


# Two random trials, then evolved ones: the third trial has a parent and a mutation.
EVOLVING = ["--population-size", "2", "--sample-size", "1", "--n-startup-trials", "2"]
# A search of four trials stopped in the third: failed, and its architecture queued again.
THIRD_TRIAL_INTERRUPTED = [
    TrialState.COMPLETE,
    TrialState.COMPLETE,
    TrialState.FAIL,
    TrialState.WAITING,
]


def _ctrl_c_at_training_start(monkeypatch: pytest.MonkeyPatch, fit_number: int) -> None:
    """Send this process SIGINT when the ``fit_number``-th training (from 1) starts."""
    fits = []

    def on_train_start(module: NASNetModule) -> None:
        fits.append(None)
        if len(fits) == fit_number:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(NASNetModule, "on_train_start", on_train_start, raising=False)


def test_ctrl_c_in_training_fails_the_trial_requeues_it_and_a_rerun_continues(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'amoeba.db'}"
    search = [
        "search",
        *BARE_TINY,
        *EVOLVING,
        "--storage",
        url,
        "--study-name",
        "s",
        "--seed",
        "0",
    ]
    _ctrl_c_at_training_start(monkeypatch, fit_number=3)
    assert main([*search, "--n-trials", "4"]) == 130
    err = capsys.readouterr().err
    assert err == (
        "optuna-amoeba search: interrupted; trial 2 failed and its architecture is queued to "
        "be trained again; run the same command to continue the study\n"
    )
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    trials = optuna.load_study(study_name="s", storage=url).trials
    assert [t.state for t in trials] == THIRD_TRIAL_INTERRUPTED
    interrupted, queued = trials[2], trials[3]
    assert interrupted.system_attrs[MUTATION_KEY] not in (None, "random")
    assert queued.params == interrupted.params
    assert queued.system_attrs["failed_trial"] == 2

    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    assert main([*search, "--n-trials", "4"]) == 0
    trials = optuna.load_study(study_name="s", storage=url).trials
    retried = trials[3]
    assert retried.state == TrialState.COMPLETE
    assert retried.params == interrupted.params
    for key in (PARENT_KEY, MUTATION_KEY):
        assert retried.system_attrs[key] == interrupted.system_attrs[key], key
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 4


def test_ctrl_c_during_the_proposal_waits_for_it_then_requeues_the_architecture(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    proposals = []
    propose = AgingEvolutionSampler.sample_relative

    def interrupted_proposal(self: AgingEvolutionSampler, *args: Any) -> dict[str, Any]:
        proposals.append(None)
        if len(proposals) == 3:
            os.kill(os.getpid(), signal.SIGTERM)  # arrives while the sampler proposes
        return propose(self, *args)

    monkeypatch.setattr(AgingEvolutionSampler, "sample_relative", interrupted_proposal)
    url = f"sqlite:///{tmp_path / 'amoeba.db'}"
    search = ["search", *BARE_TINY, *EVOLVING, "--storage", url, "--study-name", "s"]
    assert main([*search, "--n-trials", "4"]) == 128 + signal.SIGTERM
    assert capsys.readouterr().err == (
        "optuna-amoeba search: stopped by SIGTERM; trial 2 failed and its architecture is "
        "queued to be trained again; run the same command to continue the study\n"
    )
    trials = optuna.load_study(study_name="s", storage=url).trials
    assert [t.state for t in trials] == THIRD_TRIAL_INTERRUPTED
    assert len(trials[2].params) == len(trials[0].params)
    assert trials[3].params == trials[2].params


def test_ctrl_c_outside_training_waits_for_the_trial_to_be_stored() -> None:
    guard = InterruptGuard()
    study = optuna.create_study()
    with guard.installed():
        guard.objective(lambda trial: 1.0)(study.ask())
        os.kill(os.getpid(), signal.SIGINT)  # held back: no KeyboardInterrupt here
        assert guard.requested
        with pytest.raises(KeyboardInterrupt):
            guard.callback(study, optuna.trial.create_trial(value=1.0))
        assert guard.trial_number is None, "the finished trial is not the interrupted one"
        assert requeue_interrupted(study, guard.trial_number) == "no trial was running"
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)  # a second Ctrl-C stops at once
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_inside_lightning_fit_raises_keyboard_interrupt() -> None:
    class Interrupted(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(1, 1)

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            raise KeyboardInterrupt  # what Ctrl-C raises in the middle of a step

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=0.1)

        def train_dataloader(self) -> Any:
            return torch.utils.data.DataLoader(torch.zeros(4, 1), batch_size=2)

    trainer = pl.Trainer(
        max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False
    )
    # Lightning alone exits with SystemExit(1) and leaves SIGINT ignored.
    with pytest.raises(KeyboardInterrupt), keyboard_interrupts(trainer):
        trainer.fit(Interrupted())
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_in_train_exits_130_naming_the_checkpoint_to_resume_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _ctrl_c_at_training_start(monkeypatch, fit_number=1)
    train = ["train", "--genotype", "nasnet_a", *TINY, "--checkpoint-dir", "ckpt"]
    assert main(train) == 130
    err = capsys.readouterr().err
    assert err == (
        "optuna-amoeba train: interrupted; run the same command to resume from "
        "ckpt/last.ckpt (saved after each finished epoch)\n"
    )


@pytest.mark.slow
def test_sigint_to_a_search_process_mid_trial(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'amoeba.db'}"
    # Trials of about a second each or more: the signal lands inside the second's training.
    command = [
        sys.executable,
        "-m",
        "lightning_modules.cli",
        "search",
        *SLOW_TINY,
        "--storage",
        url,
        "--study-name",
        "s",
        "--n-trials",
        "3",
    ]
    environment = {**os.environ, "PYTHONPATH": os.getcwd() + os.pathsep + str(_ROOT)}
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if _training(url, number=1):
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert err.count("\n") == 1, err
    assert err.startswith("optuna-amoeba search: interrupted; trial 1 failed"), err
    assert "Traceback" not in out + err
    trials = optuna.load_study(study_name="s", storage=url).trials
    assert [t.state for t in trials] == [
        TrialState.COMPLETE,
        TrialState.FAIL,
        TrialState.WAITING,
    ]
    rerun = subprocess.run(
        command, capture_output=True, text=True, env=environment, timeout=300, check=False
    )
    assert rerun.returncode == 0, rerun.stderr
    trials = optuna.load_study(study_name="s", storage=url).trials
    assert [t.state for t in trials].count(TrialState.COMPLETE) == 3
    assert trials[2].params == trials[1].params


_ROOT = Path(__file__).resolve().parents[1]


def _training(url: str, number: int) -> bool:
    """Whether trial ``number`` has built its network (its ``params`` user attr is set)."""
    try:
        trials = optuna.load_study(study_name="s", storage=url).trials
    except (KeyError, ValueError, optuna.exceptions.StorageInternalError):
        return False
    return len(trials) > number and "params" in trials[number].user_attrs


def test_ctrl_c_before_the_search_starts_is_one_line_and_creates_no_study(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from lightning_modules.commands import search

    def interrupted_download(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(search, "prepare_data", interrupted_download)
    url = f"sqlite:///{tmp_path / 'amoeba.db'}"
    assert main(["search", *BARE_TINY, "--storage", url]) == 130
    assert capsys.readouterr().err == "optuna-amoeba search: interrupted\n"
    assert optuna.get_all_study_summaries(url) == []


def test_sigterm_in_training_is_handled_as_ctrl_c_with_exit_143(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A job scheduler or `docker stop` sends SIGTERM: Lightning turned it into a SystemExit
    # that left the trial RUNNING (and outside training Python died on the spot).
    fits = []

    def on_train_start(module: NASNetModule) -> None:
        fits.append(None)
        if len(fits) == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(NASNetModule, "on_train_start", on_train_start, raising=False)
    url = f"sqlite:///{tmp_path / 'amoeba.db'}"
    search = ["search", *BARE_TINY, "--storage", url, "--study-name", "s", "--n-trials", "3"]
    assert main(search) == 143
    assert capsys.readouterr().err == (
        "optuna-amoeba search: stopped by SIGTERM; trial 1 failed and its architecture is "
        "queued to be trained again; run the same command to continue the study\n"
    )
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    states = [t.state for t in optuna.load_study(study_name="s", storage=url).trials]
    assert states == [TrialState.COMPLETE, TrialState.FAIL, TrialState.WAITING]
