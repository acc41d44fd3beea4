"""Benchmark problems: what a trial evaluates, its observed and true value (maximised).

A :class:`ProblemSpec` is plain data (it crosses process boundaries and is written to every
run file); :func:`build_problem` turns it into a :class:`Problem` inside the worker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from dataclasses import dataclass
import functools
import math
from typing import Any

import numpy as np
import optuna

from benchmarks.nats import NatsTable
from benchmarks.nats import suggest_nats_arch


PROBLEMS = ("nats", "nats-noisy", "nats-size", "nasnet-synthetic", "digits", "cifar10")
TRAINING_PROBLEMS = ("digits", "cifar10")
# Two objectives (accuracy, size): run and reported by benchmarks.multi_objective.
MULTI_OBJECTIVE_PROBLEMS = ("nats-size",)
# Offset mixed into the noise seed so that the noise stream of seed r differs from any
# sampler's stream of seed r, while every sampler run with seed r sees the same noise.
NOISE_STREAM_OFFSET = 0x4E4F4953

_RELEVANT_SETTINGS = {
    "nats": ("data",),
    "nats-noisy": ("data", "noise_sigma"),
    "nats-size": ("data",),
    "nasnet-synthetic": ("landscape_seed",),
    "digits": ("epochs", "training"),
    "cifar10": ("data", "epochs", "training"),
}

Evaluation = Callable[[optuna.Trial], tuple[float, float]]
"""``evaluate(trial) -> (observed value, true value)``."""


@dataclass(frozen=True)
class ProblemSpec:
    """Everything that defines a problem; equal specs give equal results for equal seeds."""

    name: str
    data: str | None = None
    noise_sigma: float = 0.0
    landscape_seed: int = 0
    epochs: int = 1
    training: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if self.name not in PROBLEMS:
            raise ValueError(f"problem must be one of {', '.join(PROBLEMS)}, got {self.name!r}")
        if self.name in ("nats", "nats-noisy", "nats-size") and not self.data:
            raise ValueError(f"problem {self.name!r} needs --data PATH (the NATS-Bench CSV)")
        if self.name == "cifar10" and not self.data:
            raise ValueError("problem 'cifar10' needs --data DIR (the CIFAR-10 dataset folder)")
        if not (math.isfinite(self.noise_sigma) and self.noise_sigma >= 0):
            raise ValueError(f"noise_sigma must be a finite float >= 0, got {self.noise_sigma}")
        if self.name == "nats-noisy" and self.noise_sigma == 0:
            raise ValueError("problem 'nats-noisy' needs noise_sigma > 0 (default 0.3)")
        if self.name != "nats-noisy" and self.noise_sigma != 0:
            raise ValueError(f"noise_sigma applies to 'nats-noisy' only, not {self.name!r}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be an int >= 1, got {self.epochs}")

    def describe(self) -> dict[str, Any]:
        """The settings that matter for this problem, for reports."""
        relevant = _RELEVANT_SETTINGS[self.name]
        data = self.to_json()
        return {key: data[key] for key in relevant if data[key] not in (None, {})}

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["training"] = dict(self.training)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProblemSpec:
        fields = dict(data)
        fields["training"] = tuple(sorted(fields.get("training", {}).items()))
        return cls(**fields)


@dataclass(frozen=True)
class Problem:
    """A built problem.

    Attributes:
        evaluation: Builds the evaluation for one run's seed (the seed drives evaluation
            noise only; the sampler gets its own).
        optimum: The best true value in the space when known; otherwise regret is measured
            against the best true value any run of the comparison reached.
        regret_floor: Plots draw regret below this (zero included) at this value (log axis).
        unit: What values are measured in, for tables and plots.
    """

    evaluation: Callable[[int], Evaluation]
    optimum: float | None
    regret_floor: float
    unit: str


@functools.lru_cache(maxsize=4)
def _nats_table(path: str) -> NatsTable:
    return NatsTable.from_csv(path)


def _nats_evaluation(table: NatsTable, sigma: float, seed: int) -> Evaluation:
    noise = np.random.default_rng([seed, NOISE_STREAM_OFFSET])

    def evaluate(trial: optuna.Trial) -> tuple[float, float]:
        true = table.lookup(suggest_nats_arch(trial))
        observed = true + float(noise.normal(0.0, sigma)) if sigma > 0 else true
        return observed, true

    return evaluate


def _synthetic_evaluation(landscape_seed: int, seed: int) -> Evaluation:
    from benchmarks.synthetic import SyntheticNASNetObjective

    objective = SyntheticNASNetObjective(seed=landscape_seed)

    def evaluate(trial: optuna.Trial) -> tuple[float, float]:
        value = objective(trial)
        return value, value

    return evaluate


def build_problem(spec: ProblemSpec) -> Problem:
    """Load what ``spec`` needs (a table, a dataset) and return the problem."""
    if spec.name in MULTI_OBJECTIVE_PROBLEMS:
        raise ValueError(
            f"problem {spec.name!r} has two objectives; benchmarks.multi_objective runs it"
        )
    if spec.name in ("nats", "nats-noisy"):
        assert spec.data is not None
        table = _nats_table(spec.data)
        return Problem(
            evaluation=functools.partial(_nats_evaluation, table, spec.noise_sigma),
            optimum=table.best,
            regret_floor=1e-3,
            unit="test accuracy (%)",
        )
    if spec.name == "nasnet-synthetic":
        return Problem(
            evaluation=functools.partial(_synthetic_evaluation, spec.landscape_seed),
            optimum=None,
            regret_floor=1e-3,
            unit="synthetic score",
        )
    from benchmarks.training import build_training_problem

    return build_training_problem(spec)
