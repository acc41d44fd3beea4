"""Fixtures shared by several test modules (opted into by name)."""

from __future__ import annotations

from collections.abc import Iterator
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
def quiet_optuna() -> Iterator[None]:
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield
    optuna.logging.set_verbosity(verbosity)
