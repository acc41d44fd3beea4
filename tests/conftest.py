"""Fixtures shared by several test modules (opted into by name), and the grouping of tests
that pytest-xdist must not run side by side."""

from __future__ import annotations

from collections.abc import Iterator
import os
from pathlib import Path
import signal
import warnings

import optuna
import pytest


if "PYTEST_XDIST_WORKER" in os.environ:
    # pytest-xdist runs one worker per core: one torch thread each, in the processes the
    # tests start as well (oversubscribed threads spin, see one_torch_thread).
    os.environ.setdefault("OMP_NUM_THREADS", "1")

# Modules whose tests time other processes (heartbeats, kills, signals, simultaneous starts)
# or start a Ray cluster: under pytest-xdist they run one after another on one worker.
_ONE_AT_A_TIME = {
    "test_cli_faults",
    "test_cli_interrupt",
    "test_cli_reliability",
    "test_integration_ray",
    "test_scale_storage",
    "test_scale_workers",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.stem in _ONE_AT_A_TIME:
            item.add_marker(pytest.mark.xdist_group("processes"))


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
    # Python's Ctrl-C handler before as well: a Ray Tune run earlier in this xdist worker
    # leaves its own installed, which swallows the SIGINT of the Ctrl-C tests.
    signal.signal(signal.SIGINT, signal.default_int_handler)
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


@pytest.fixture
def lucky_trial_study() -> optuna.Study:
    """A maximised study whose best trial (2, x=0.7, one lucky 0.95) is not the set
    ``recommend_by_mean`` keeps: x=0.2, mean 0.9 over trials 0, 3 and 5. The pooled spread of
    the repeats (0.1635, mostly x=0.5's) puts 0.7's pessimistic mean at 0.7865, below 0.2's
    0.9 - 0.1635 / sqrt(3) = 0.8056."""
    study = optuna.create_study(direction="maximize")
    x = optuna.distributions.FloatDistribution(0, 1)
    evaluations = ((0.2, 0.89), (0.5, 0.3), (0.7, 0.95), (0.2, 0.91), (0.5, 0.7), (0.2, 0.9))
    for params, value in evaluations:
        study.add_trial(
            optuna.trial.create_trial(params={"x": params}, distributions={"x": x}, value=value)
        )
    return study
