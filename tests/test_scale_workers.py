"""Many worker processes on one study: PostgreSQL, Journal file and Redis storages.

Each worker is a separate process (``tests/scale_worker.py``) with its own seed, as on separate
machines. The tests check the study's trials in the storage against the workers' own logs.
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Sequence
import datetime
import json
import os
from pathlib import Path
import signal
import subprocess
import sys
import time
from typing import Any
import uuid

import optuna
from optuna.trial import FrozenTrial
from optuna.trial import TrialState
import pytest

from optuna_amoeba import MUTATION_KEY
from optuna_amoeba import open_storage
from optuna_amoeba import PARENT_KEY


pytestmark = [pytest.mark.usefixtures("quiet_optuna"), pytest.mark.slow]


REPO_ROOT = Path(__file__).resolve().parent.parent
WORKER = REPO_ROOT / "tests" / "scale_worker.py"
POSTGRES_ENV = "AMOEBA_TEST_POSTGRES_URL"
REDIS_ENV = "AMOEBA_TEST_REDIS_URL"
RETRIED_FROM = "failed_trial"  # the system attr Optuna's stale-trial retry callback sets


def env_url(name: str, service: str) -> str:
    url = os.environ.get(name)
    if not url:
        pytest.skip(f"{name} is not set: no {service} server to test against (.ci/run sets it)")
    return url


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def start_worker(
    storage: str, study: str, log_dir: Path, seed: int, **options: Any
) -> subprocess.Popen[bytes]:
    command = [sys.executable, str(WORKER), "--storage", storage, "--study", study]
    command += ["--log", str(log_dir / f"worker-{seed}.jsonl"), "--seed", str(seed)]
    for name, value in options.items():
        command += [f"--{name.replace('_', '-')}", str(value)]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    with open(log_dir / f"worker-{seed}.stderr", "wb") as stderr:
        return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr)


def wait_all(workers: Sequence[subprocess.Popen[bytes]], log_dir: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    try:
        for worker in workers:
            worker.wait(timeout=max(deadline - time.monotonic(), 0.1))
    except subprocess.TimeoutExpired:
        pytest.fail(f"workers still running after {timeout} s:\n{worker_errors(log_dir)}")
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    for worker in workers:
        if worker.returncode != 0:
            pytest.fail(f"a worker exited with {worker.returncode}:\n{worker_errors(log_dir)}")


def worker_errors(log_dir: Path) -> str:
    return "\n".join(path.read_text()[-2000:] for path in sorted(log_dir.glob("*.stderr")))


def read_events(log_dir: Path) -> list[dict[str, Any]]:
    events = []
    for path in sorted(log_dir.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            event = json.loads(line)
            event["time"] = datetime.datetime.fromisoformat(event["time"])
            events.append(event)
    return events


def event_times(events: Sequence[dict[str, Any]], kind: str) -> dict[int, datetime.datetime]:
    times: dict[int, datetime.datetime] = {}
    for event in events:
        if event["event"] == kind:
            assert event["number"] not in times, f"trial {event['number']} {kind} twice"
            times[event["number"]] = event["time"]
    return times


def completion_key(trial: FrozenTrial) -> tuple[datetime.datetime, int]:
    """The sampler's age order: completion time, then number."""
    assert trial.datetime_complete is not None
    return (trial.datetime_complete, trial.number)


def last_completed(trials: Sequence[FrozenTrial], count: int) -> set[int]:
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    return {t.number for t in sorted(complete, key=completion_key)[-count:]}


def check_parents_were_in_population(
    trials: Sequence[FrozenTrial], events: Sequence[dict[str, Any]], population_size: int
) -> int:
    """Every evolved trial's parent was among the P most recently completed when proposed.

    Optuna samples at the trial's first suggest call: the sampler reads the storage after the
    worker logged ``start`` and before it logged ``sampled``, and sees the trials committed by
    then. Completion times alone cannot tell whether a trial finishing concurrently, during
    the child's sampling, was committed before that read, so the check uses only what is
    certain:

    * the parent's completion was committed before the read, so its ``datetime_complete``
      (taken just before the commit) precedes the child's ``sampled``;
    * a trial whose worker logged ``told`` (after its commit) before the child's ``start`` was
      visible to the read. If the parent was in the population (the last P by completion
      time, then number), at most P - 1 such trials rank after it.

    Trials committed while the child was being sampled are the race window; they are neither
    required nor forbidden, and nothing else is relaxed. Returns the number of children checked.
    """
    by_number = {t.number: t for t in trials}
    started = event_times(events, "start")
    sampled = event_times(events, "sampled")
    told = event_times(events, "told")
    # Re-evaluations take no population slot: they do not age the parent out.
    complete = [
        t
        for t in trials
        if t.state == TrialState.COMPLETE and t.system_attrs.get(MUTATION_KEY) != "reevaluation"
    ]
    checked = 0
    for child in trials:
        parent_number = child.system_attrs.get(PARENT_KEY)
        if parent_number is None or RETRIED_FROM in child.system_attrs:
            continue  # a random or TPE trial, or a retry keeping the proposal of the one it reruns
        parent = by_number[parent_number]
        assert parent.state == TrialState.COMPLETE, (child.number, parent.number, parent.state)
        assert parent.datetime_complete is not None
        assert parent.datetime_complete <= sampled[child.number], (
            f"trial {child.number}'s parent {parent.number} completed after the child's sampling"
        )
        newer_and_visible = [
            t.number
            for t in complete
            if t.number in told
            and told[t.number] < started[child.number]
            and completion_key(t) > completion_key(parent)
        ]
        assert len(newer_and_visible) < population_size, (
            f"trial {child.number}'s parent {parent.number} had aged out of the population: "
            f"{len(newer_and_visible)} trials completed after it were visible"
        )
        checked += 1
    return checked


def check_no_trial_lost(
    trials: Sequence[FrozenTrial], events: Sequence[dict[str, Any]], expected_complete: int
) -> None:
    numbers = [t.number for t in trials]
    assert sorted(numbers) == list(range(len(trials))), "trial numbers are not 0..n-1, unique"
    complete = {t.number for t in trials if t.state == TrialState.COMPLETE}
    assert len(complete) == expected_complete
    assert {t.state for t in trials} == {TrialState.COMPLETE}
    told = event_times(events, "told")
    assert set(told) == complete, "a worker's told trials differ from the storage's"
    assert set(event_times(events, "start")) == complete
    assert set(event_times(events, "sampled")) == complete
    for trial in trials:
        assert trial.system_attrs.get(MUTATION_KEY) is not None, trial.number


POPULATION_SIZE = 10
SAMPLE_SIZE = 3
WORKER_TIMEOUT = 150.0


def create_study(url: str, name: str) -> optuna.Study:
    return optuna.create_study(storage=open_storage(url), study_name=name, direction="maximize")


def load_trials(url: str, name: str) -> list[FrozenTrial]:
    return optuna.load_study(study_name=name, storage=open_storage(url)).get_trials()


def with_redis_prefix(url: str, prefix: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}prefix={prefix}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    url = env_url(POSTGRES_ENV, "PostgreSQL")
    yield url


@pytest.fixture
def redis_url() -> Iterator[str]:
    import redis

    base = env_url(REDIS_ENV, "Redis")
    prefix = unique_name("amoeba-test")
    yield with_redis_prefix(base, prefix)
    client = redis.Redis.from_url(base)
    # Only this test's keys: the server may be shared.
    keys = list(client.scan_iter(match=f"{prefix}:*"))
    if keys:
        client.delete(*keys)


@pytest.fixture(params=["postgresql", "journal-file", "redis"])
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        return str(request.getfixturevalue("postgres_url"))
    if request.param == "redis":
        return str(request.getfixturevalue("redis_url"))
    return f"journal://{tmp_path / 'study.log'}"


def test_eight_workers_evolve_one_population(storage_url: str, tmp_path: Path) -> None:
    study_name = unique_name("scale-8x50")
    create_study(storage_url, study_name)
    workers = [
        start_worker(
            storage_url,
            study_name,
            tmp_path,
            seed,
            n_trials=50,
            population_size=POPULATION_SIZE,
            sample_size=SAMPLE_SIZE,
        )
        for seed in range(8)
    ]
    wait_all(workers, tmp_path, WORKER_TIMEOUT)

    trials = load_trials(storage_url, study_name)
    events = read_events(tmp_path)
    check_no_trial_lost(trials, events, expected_complete=400)
    checked = check_parents_were_in_population(trials, events, POPULATION_SIZE)
    # Only the first trials, proposed before 2P had completed, are random or TPE's.
    assert checked >= 400 - 2 * POPULATION_SIZE - 8 * 3, checked


@pytest.mark.parametrize("backend", ["sqlite", "journal-file"])
def test_four_processes_on_a_local_file_storage(backend: str, tmp_path: Path) -> None:
    """No server at all: 4 processes on one SQLite database or one journal file."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'study.db'}"
    else:
        url = f"journal://{tmp_path / 'study.log'}"
    study_name = unique_name("local-4x30")
    create_study(url, study_name)
    workers = [
        start_worker(
            url,
            study_name,
            tmp_path,
            seed,
            n_trials=30,
            population_size=POPULATION_SIZE,
            sample_size=SAMPLE_SIZE,
        )
        for seed in range(4)
    ]
    wait_all(workers, tmp_path, WORKER_TIMEOUT)

    trials = load_trials(url, study_name)
    events = read_events(tmp_path)
    check_no_trial_lost(trials, events, expected_complete=120)
    checked = check_parents_were_in_population(trials, events, POPULATION_SIZE)
    assert checked >= 120 - 2 * POPULATION_SIZE - 4 * 3, checked


def wait_for_event(log: Path, kind: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists():
            for line in log.read_text().splitlines():
                event = json.loads(line)
                if event["event"] == kind:
                    return dict(event)
        time.sleep(0.05)
    pytest.fail(f"no {kind!r} event in {log} within {timeout} s")


def test_killed_worker_trial_fails_and_is_retried(postgres_url: str, tmp_path: Path) -> None:
    # Survivors sleep 0.25 s per trial, so the ~40 trials still needed after the hang take
    # over 4 s: longer than the grace period plus a heartbeat, on any machine.
    heartbeat, grace, target = 1, 2, 50
    study_name = unique_name("scale-kill")
    create_study(postgres_url, study_name)
    common = {
        "population_size": POPULATION_SIZE,
        "sample_size": SAMPLE_SIZE,
        "heartbeat": heartbeat,
        "grace": grace,
        "target_complete": target,
        "trial_sleep": 0.25,
    }
    victim = start_worker(
        postgres_url, study_name, tmp_path, 0, hang_after_complete=POPULATION_SIZE, **common
    )
    survivors = [start_worker(postgres_url, study_name, tmp_path, s, **common) for s in (1, 2)]
    hang = wait_for_event(tmp_path / "worker-0.jsonl", "hang", timeout=60)
    killed_at = datetime.datetime.now()
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    wait_all(survivors, tmp_path, WORKER_TIMEOUT)

    trials = load_trials(postgres_url, study_name)
    killed = trials[hang["number"]]
    assert killed.state == TrialState.FAIL
    assert [t.number for t in trials if t.state == TrialState.FAIL] == [killed.number]
    assert killed.datetime_complete is not None
    # Not failed while its worker lived; failed by the first ask of a live worker once `grace`
    # seconds passed since the last heartbeat (at most `heartbeat` s before the kill). The
    # upper slack covers that next ask on a loaded 2-core machine.
    stale_after = (killed.datetime_complete - killed_at).total_seconds()
    assert 0 <= stale_after <= grace + 3.0, stale_after

    retries = [t for t in trials if t.system_attrs.get(RETRIED_FROM) == killed.number]
    assert len(retries) == 1
    retry = retries[0]
    assert retry.state == TrialState.COMPLETE
    assert retry.params == killed.params
    for key in (PARENT_KEY, MUTATION_KEY):
        assert retry.system_attrs.get(key) == killed.system_attrs.get(key), key

    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    # The failed trial does not count; a survivor finishing its last trial after the other
    # reached the target adds at most one.
    assert target <= len(complete) <= target + len(survivors) - 1, len(complete)
    assert {t.state for t in trials} == {TrialState.COMPLETE, TrialState.FAIL}
    assert sorted(t.number for t in trials) == list(range(len(trials)))
    check_parents_were_in_population(trials, read_events(tmp_path), POPULATION_SIZE)


def test_new_workers_continue_the_evolution(postgres_url: str, tmp_path: Path) -> None:
    study_name = unique_name("scale-restart")
    create_study(postgres_url, study_name)
    options = {"population_size": POPULATION_SIZE, "sample_size": SAMPLE_SIZE}
    first_run = [
        start_worker(postgres_url, study_name, tmp_path, s, target_complete=30, **options)
        for s in range(3)
    ]
    wait_all(first_run, tmp_path, WORKER_TIMEOUT)
    before = load_trials(postgres_url, study_name)
    assert {t.state for t in before} == {TrialState.COMPLETE}
    population = last_completed(before, POPULATION_SIZE)

    second_run = [
        start_worker(postgres_url, study_name, tmp_path, s, target_complete=45, **options)
        for s in (10, 11)
    ]
    wait_all(second_run, tmp_path, WORKER_TIMEOUT)
    after = load_trials(postgres_url, study_name)
    first_new = after[len(before)]
    assert first_new.system_attrs[MUTATION_KEY] != "random"
    assert first_new.system_attrs[PARENT_KEY] in population
    assert 45 <= sum(t.state == TrialState.COMPLETE for t in after) <= 46
    check_parents_were_in_population(after, read_events(tmp_path), POPULATION_SIZE)
