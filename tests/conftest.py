"""Fixtures shared by several test modules (opted into by name)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
import signal
import warnings

import optuna
import pytest


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    # Tiny convolutions gain nothing from threads, and on a shared 2-core machine the
    # spinning of oversubscribed threads slows them down by an order of magnitude.
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def isolated_cli(
    one_torch_thread: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[None]:
    """Run in ``tmp_path`` on one torch thread, and undo what the commands change for the whole
    process: optuna's verbosity, torch's deterministic algorithms and the Ctrl-C handler."""
    import torch

    monkeypatch.chdir(tmp_path)
    verbosity = optuna.logging.get_verbosity()
    deterministic = torch.are_deterministic_algorithms_enabled()
    yield
    optuna.logging.set_verbosity(verbosity)
    torch.use_deterministic_algorithms(deterministic)
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def quiet_optuna() -> Iterator[None]:
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield
    optuna.logging.set_verbosity(verbosity)
