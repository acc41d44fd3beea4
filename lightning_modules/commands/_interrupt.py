"""Ctrl-C (or SIGTERM) in ``optuna-amoeba search``: the trial it interrupts ends ``FAIL`` and
its architecture is queued again with its lineage, so that a rerun of the same command retries
it.

Ctrl-C stops training at once. Outside training (the sampler's proposal, Optuna's writes of a
finished trial, the progress line) it is held back until that step is done, so that no trial is
left ``RUNNING``; a second Ctrl-C there stops at once. SIGTERM (``kill``, a job scheduler, a
container stopping) is handled the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
import contextlib
import logging
import signal
from types import FrameType
from typing import Any

import optuna
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from lightning_modules.objective import draw_genotype
from lightning_modules.objective import GENOTYPE_ATTR
from optuna_amoeba._storage import retry_trial


_OPTUNA_TRIAL_LOG = "optuna.study._optimize"


class _DropInterruptedTrialLog(logging.Filter):
    """Optuna logs an interrupted trial's failure in two warnings, the first with a traceback;
    the CLI says it in one line instead."""

    def __init__(self) -> None:
        super().__init__()
        self.interrupted_prefix: str | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and record.exc_info[0] is KeyboardInterrupt:
            self.interrupted_prefix = message.split(" failed", 1)[0] + " failed"
            return False
        return self.interrupted_prefix is None or not message.startswith(self.interrupted_prefix)


class InterruptGuard:
    """Decides when Ctrl-C stops a search, and remembers the trial it interrupted."""

    def __init__(self) -> None:
        self.requested = False
        self.training = False
        self.trial_number: int | None = None
        self.signal_number: int = signal.SIGINT

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.signal_number = signum
        if self.training or self.requested:
            raise KeyboardInterrupt
        self.requested = True

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """Hold Ctrl-C and SIGTERM back outside the objective while the block runs."""
        previous = {
            number: signal.signal(number, self._on_signal)
            for number in (signal.SIGINT, signal.SIGTERM)
        }
        log_filter = _DropInterruptedTrialLog()
        optuna_log = logging.getLogger(_OPTUNA_TRIAL_LOG)
        optuna_log.addFilter(log_filter)
        try:
            yield
        finally:
            optuna_log.removeFilter(log_filter)
            for number, handler in previous.items():
                signal.signal(number, handler)

    def stop_if_requested(self) -> None:
        """Raise the Ctrl-C held back, if any."""
        if self.requested:
            raise KeyboardInterrupt

    def objective(self, objective: Callable[[optuna.Trial], Any]) -> Callable[[optuna.Trial], Any]:
        """``objective``, interruptible at once once the trial's architecture is drawn and
        recorded (the sampler's proposal and its writes are held back from Ctrl-C)."""

        def interruptible(trial: optuna.Trial) -> Any:
            self.trial_number = trial.number
            self.stop_if_requested()
            draw_genotype(trial)  # the same architecture the objective then trains
            self.stop_if_requested()
            self.training = True
            try:
                return objective(trial)
            finally:
                self.training = False

        return interruptible

    def callback(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """An ``optimize`` callback: stop between trials when Ctrl-C was held back."""
        self.trial_number = None  # stored: nothing of it to clean up
        self.stop_if_requested()


def requeue_interrupted(study: optuna.Study, trial_number: int | None) -> str:
    """End the interrupted trial ``FAIL`` (Optuna usually has) and queue its architecture
    again, keeping its lineage; return what was done, for the user."""
    if trial_number is None:
        return "no trial was running"
    trial = study._storage.get_trial(
        study._storage.get_trial_id_from_study_id_trial_number(study._study_id, trial_number)
    )
    if trial.state == TrialState.RUNNING:
        study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        trial = study._storage.get_trial(trial._trial_id)
    if trial.state != TrialState.FAIL:
        return f"trial {trial_number} had finished ({trial.state.name})"
    if GENOTYPE_ATTR not in trial.user_attrs:
        return f"trial {trial_number} failed before its architecture was drawn"
    retry_trial(study, trial)
    return f"trial {trial_number} failed and its architecture is queued to be trained again"
