"""Faults during real ``optuna-amoeba search`` processes: a worker killed with kill -9, with
and without ``--heartbeat``, and a restart after every worker died."""

from __future__ import annotations

import os
from pathlib import Path
import signal
import subprocess
import sys
import time
import uuid

from cli_support import SLOW_TINY
import optuna
from optuna.trial import TrialState
import pytest

from optuna_amoeba import MUTATION_KEY
from optuna_amoeba import PARENT_KEY


ROOT = Path(__file__).resolve().parents[1]


def _search(url: str, study_name: str, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "lightning_modules.cli",
        "search",
        *SLOW_TINY,
        "--seed",
        "0",
        "--n-trials",
        "3",
        "--storage",
        url,
        "--study-name",
        study_name,
        *extra,
    ]


def _environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def _trials(url: str, study_name: str) -> list[optuna.trial.FrozenTrial]:
    # Polled every 50 ms: each call's connection pool is closed at once, or on PostgreSQL the
    # pools left for the garbage collector can exhaust the server's client slots.
    storage = optuna.storages.RDBStorage(url)
    try:
        return optuna.load_study(study_name=study_name, storage=storage).trials
    except (KeyError, ValueError, optuna.exceptions.StorageInternalError):
        return []
    finally:
        storage.engine.dispose()


def _kill_during_training(command: list[str], url: str, study_name: str, number: int) -> None:
    """Start ``command`` and kill -9 it once trial ``number`` has built its network."""
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_environment()
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and process.poll() is None:
        trials = _trials(url, study_name)
        if len(trials) > number and "params" in trials[number].user_attrs:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    trials = _trials(url, study_name)
    assert trials[number].state == TrialState.RUNNING, "the kill landed outside the trial"


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        command, capture_output=True, text=True, env=_environment(), timeout=600, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    return result


@pytest.mark.slow
def test_restart_after_kill_9_names_the_stale_trial_and_fail_stale_retries_it(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'amoeba.db'}"
    command = _search(url, "s")
    _kill_during_training(command, url, "s", number=1)

    result = _run([*command, "--fail-stale"])
    assert "failed 1 trial(s) left RUNNING (1) and queued their architectures again" in (
        result.stdout
    )
    trials = _trials(url, "s")
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 3
    assert trials[1].state == TrialState.FAIL
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == 1]
    assert [t.state for t in retries] == [TrialState.COMPLETE]
    assert retries[0].params == trials[1].params
    assert not [t for t in trials if t.state == TrialState.RUNNING]


@pytest.mark.slow
def test_kill_9_with_heartbeat_retries_the_trial_with_its_lineage_after_a_restart() -> None:
    url = os.environ.get("AMOEBA_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("AMOEBA_TEST_POSTGRES_URL is not set: no PostgreSQL server to test against")
    study_name = f"cli-kill-{uuid.uuid4().hex[:8]}"
    # Two random trials, then evolved ones: trial 2 has a parent and a mutation.
    evolving = ["--population-size", "2", "--sample-size", "1", "--n-startup-trials", "2"]
    command = _search(url, study_name, *evolving, "--heartbeat", "1")
    try:
        _kill_during_training(command, url, study_name, number=2)
        # Every worker is dead; a restart fails the stale trial (no heartbeat for over 2 s)
        # and trains its architecture again before continuing to --n-trials.
        _run(command)
        trials = _trials(url, study_name)
        killed = trials[2]
        assert killed.state == TrialState.FAIL
        assert killed.system_attrs[MUTATION_KEY] != "random"
        retries = [t for t in trials if t.system_attrs.get("failed_trial") == killed.number]
        assert [t.state for t in retries] == [TrialState.COMPLETE]
        assert retries[0].params == killed.params
        for key in (PARENT_KEY, MUTATION_KEY):
            assert retries[0].system_attrs[key] == killed.system_attrs[key], key
        assert sum(t.state == TrialState.COMPLETE for t in trials) == 3
        assert not [t for t in trials if t.state == TrialState.RUNNING]
    finally:
        optuna.delete_study(study_name=study_name, storage=url)
