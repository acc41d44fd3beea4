"""K asynchronous workers sharing one Optuna study, in simulated time.

Each free worker asks the study for a trial (``study.ask()``), evaluates it at once, and
holds it RUNNING for its simulated training time; the trial is told at its completion time,
and the worker asks again. Events are processed in time order from a priority queue: the
earliest completion first, ties by start order (the trial started first completes first).
Nothing sleeps, so a run of thousands of trials on 128 workers takes as long as its asks.
The samplers see what they would see on a cluster: up to K trials RUNNING at every ask.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
import heapq
import math
from pathlib import Path
import time
from typing import Any
import warnings

import numpy as np
import optuna
from optuna.study import StudyDirection

from benchmarks import meta
from benchmarks.nats import EDGE_PARAMS
from benchmarks.nats import NATS_OPERATIONS
from benchmarks.nats_cost import TrainingCostModel
from benchmarks.problems import build_problem
from benchmarks.problems import Evaluation
from benchmarks.problems import ProblemSpec
from benchmarks.runner import incumbent_indices_by_mean
from benchmarks.runner import sampler_dir_name
from benchmarks.samplers import SamplerClock
from benchmarks.samplers import SamplerSpec
import optuna_amoeba


RUN_FORMAT = 2
META_FILE = "meta.json"
RUNS_DIR = "runs"
FIRST_WAVE_STREAM_OFFSET = 0x46495253
FIRST_WAVE_MODES = ("own", "shared")

Duration = Callable[[dict[str, Any]], float]
"""``duration(params) -> simulated training time`` of a just-evaluated trial."""


@dataclass(frozen=True)
class Completion:
    """One trial as it happened: who ran it, when, and what it measured."""

    number: int
    worker: int
    start: float
    finish: float
    observed: float
    true: float
    params: dict[str, Any]


def simulate(
    study: optuna.Study,
    evaluate: Evaluation,
    duration: Duration,
    *,
    workers: int,
    horizon: float = math.inf,
    max_trials: int | None = None,
) -> list[Completion]:
    """Run ``workers`` simulated workers on ``study`` and return its trials in completion
    order.

    A worker starts a trial while the simulated time is before ``horizon`` and fewer than
    ``max_trials`` trials have started; trials running at the horizon still complete (and
    are told), so the study ends with every trial finished.

    Raises:
        ValueError: ``workers < 1``, ``horizon <= 0``, ``max_trials < 1``, or a duration
            that is not a finite positive number.
    """
    if workers < 1:
        raise ValueError(f"workers must be an int >= 1, got {workers}")
    if not horizon > 0:
        raise ValueError(f"horizon must be > 0, got {horizon}")
    if max_trials is not None and max_trials < 1:
        raise ValueError(f"max_trials must be an int >= 1 or None, got {max_trials}")

    # (finish time, start order, worker): the start order breaks ties deterministically.
    queue: list[tuple[float, int, int]] = []
    running: dict[int, tuple[optuna.Trial, float, float, float]] = {}
    completions: list[Completion] = []
    started = 0

    def may_start(now: float) -> bool:
        return now < horizon and (max_trials is None or started < max_trials)

    def start(worker: int, now: float) -> None:
        nonlocal started
        trial = study.ask()
        observed, true = evaluate(trial)
        seconds = duration(trial.params)
        if not (math.isfinite(seconds) and seconds > 0):
            raise ValueError(
                f"trial {trial.number}: duration must be finite and > 0, got {seconds}"
            )
        heapq.heappush(queue, (now + seconds, started, worker))
        running[worker] = (trial, now, observed, true)
        started += 1

    for worker in range(workers):
        if may_start(0.0):
            start(worker, 0.0)
    while queue:
        finish, _, worker = heapq.heappop(queue)
        trial, begun, observed, true = running.pop(worker)
        study.tell(trial, observed)
        completions.append(
            Completion(
                number=trial.number,
                worker=worker,
                start=begun,
                finish=finish,
                observed=observed,
                true=true,
                params=dict(trial.params),
            )
        )
        if may_start(finish):
            start(worker, finish)
    return completions


@dataclass(frozen=True)
class AsyncTask:
    """One simulated run: a sampler on a NATS problem, ``workers`` workers, until
    ``horizon`` (simulated time; one unit is one average training)."""

    problem: ProblemSpec
    sampler: SamplerSpec
    workers: int
    seed: int
    horizon: float
    cost: TrainingCostModel
    first_wave: str = "own"

    def config(self) -> dict[str, Any]:
        """What a saved run must match to be reused."""
        return {
            "problem": self.problem.to_json(),
            "sampler": self.sampler.to_json(),
            "sampler_settings": self.sampler.settings(),
            "workers": self.workers,
            "seed": self.seed,
            "horizon": self.horizon,
            "cost": {"overhead": self.cost.overhead, "jitter_sigma": self.cost.jitter_sigma},
            "first_wave": self.first_wave,
            "libraries": meta.run_libraries(),
        }


def run_path(out: Path, label: str, workers: int, seed: int) -> Path:
    """Where the run of ``label`` with ``workers`` workers and ``seed`` is saved."""
    return out / RUNS_DIR / sampler_dir_name(label) / f"K{workers:04d}" / f"seed_{seed:05d}.json"


def shared_first_wave(seed: int, workers: int) -> list[dict[str, str]]:
    """The ``workers`` cells every sampler's run with ``seed`` starts at time 0 when the first
    wave is shared: uniform random draws, as each sampler's own first wave would be, from a
    stream of their own (common random numbers: the samplers then differ only in what they
    do with results)."""
    rng = np.random.default_rng([seed, FIRST_WAVE_STREAM_OFFSET])
    return [
        {name: NATS_OPERATIONS[int(rng.integers(len(NATS_OPERATIONS)))] for name in EDGE_PARAMS}
        for _ in range(workers)
    ]


def enqueue_shared_first_wave(study: optuna.Study, seed: int, workers: int) -> None:
    """Queue :func:`shared_first_wave` on ``study``: its first ``workers`` asks get them."""
    for cell in shared_first_wave(seed, workers):
        study.enqueue_trial(cell)


def nats_duration(cost: TrainingCostModel, seed: int) -> Duration:
    """Training times of NATS trials drawn from ``cost``, jitter seeded by ``seed``."""
    jitter = cost.jitter(seed)

    def duration(params: dict[str, Any]) -> float:
        return cost.duration(tuple(params[name] for name in EDGE_PARAMS), jitter)

    return duration


def _round(values: list[float], digits: int = 6) -> list[float]:
    return [round(v, digits) for v in values]


def execute_async(task: AsyncTask) -> dict[str, Any]:
    """Simulate ``task`` and return its record: per completed trial (in completion order)
    its finish time and the regret of the incumbent after it, by best observed value and
    by the parameter set ``optuna_amoeba.recommend_by_mean`` would put first, and whether
    that incumbent was first evaluated by the first wave (a trial started at time 0, before
    any result: a random draw for every sampler compared here). With ``first_wave="shared"``
    the first wave is :func:`shared_first_wave`, enqueued before the workers start."""
    if task.problem.name not in ("nats", "nats-noisy"):
        raise ValueError(f"problem must be nats or nats-noisy, got {task.problem.name!r}")
    if task.first_wave not in FIRST_WAVE_MODES:
        raise ValueError(
            f"first_wave must be one of {', '.join(FIRST_WAVE_MODES)}, got {task.first_wave!r}"
        )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    problem = build_problem(task.problem)
    assert problem.optimum is not None
    sampler = task.sampler.build(task.seed)
    clock = SamplerClock.attach(sampler)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    if task.first_wave == "shared":
        enqueue_shared_first_wave(study, task.seed, task.workers)
    started = time.perf_counter()
    completions = simulate(
        study,
        problem.evaluation(task.seed),
        nats_duration(task.cost, task.seed),
        workers=task.workers,
        horizon=task.horizon,
    )
    wall = time.perf_counter() - started

    observed = [c.observed for c in completions]
    true = [c.true for c in completions]
    best_indices: list[int] = []
    for index, value in enumerate(observed):
        if not best_indices or value > observed[best_indices[-1]]:
            best_indices.append(index)
        else:
            best_indices.append(best_indices[-1])
    params = [c.params for c in completions]
    mean_indices = incumbent_indices_by_mean(params, observed)
    first_wave = [c.start == 0.0 for c in completions]
    evaluations = [(c.number, c.params, c.observed) for c in completions]
    return {
        "format": RUN_FORMAT,
        **task.config(),
        "optimum": problem.optimum,
        "trials": len(completions),
        "finish": _round([c.finish for c in completions]),
        "duration": _round([c.finish - c.start for c in completions]),
        "regret_best_observed": _round([problem.optimum - true[i] for i in best_indices]),
        "regret_by_mean": _round([problem.optimum - true[i] for i in mean_indices]),
        "first_wave_best_observed": [int(first_wave[i]) for i in best_indices],
        "first_wave_by_mean": [int(first_wave[i]) for i in mean_indices],
        "distinct_architectures": len(
            optuna_amoeba.estimate_by_params(evaluations, StudyDirection.MAXIMIZE)
        ),
        "wall_seconds": round(wall, 4),
        "sampler_seconds": round(clock.seconds, 4),
    }
