"""Real training as a benchmark problem: ``lightning_modules.objective`` on digits or CIFAR-10.

Each trial suggests a NASNet genotype, trains its network for ``epochs`` and returns the
validation accuracy, here in percent. The run's seed seeds the data split and each trial's
training (seed + trial number), so every sampler with seed ``r`` trains under the same seeds.
There is no known optimum: regret is measured against the best accuracy any run reached.
Needs the ``nas`` extra (torch, Lightning).
"""

from __future__ import annotations

from collections.abc import Sequence
import inspect
from typing import Any

import optuna

from benchmarks.problems import Evaluation
from benchmarks.problems import Problem
from benchmarks.problems import ProblemSpec
from benchmarks.samplers import parse_value


# Set by the benchmark itself (per problem or per run), so not a --train-option.
_FIXED = ("dataset", "data_dir", "epochs", "seed", "artifact_store", "pruning", "quiet")


def _make_objective_parameters() -> list[str]:
    try:
        from lightning_modules.objective import make_objective
    except ImportError as error:
        raise ValueError(
            f"the training problems need torch and Lightning (the 'nas' extra): {error}"
        ) from None
    return list(inspect.signature(make_objective).parameters)


def parse_training_options(items: Sequence[str]) -> tuple[tuple[str, Any], ...]:
    """``["num_cells=1", ...]`` as sorted ``(key, value)`` pairs of ``make_objective``."""
    allowed = [name for name in _make_objective_parameters() if name not in _FIXED]
    options: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"--train-option must be KEY=VALUE, got {item!r}")
        if key not in allowed:
            raise ValueError(
                f"--train-option {key!r} is not one of {', '.join(allowed)} "
                "(epochs has its own flag; seed comes from --seeds)"
            )
        if key in options:
            raise ValueError(f"--train-option {key} given twice")
        options[key] = parse_value(value)
    return tuple(sorted(options.items()))


def _evaluation(spec: ProblemSpec, seed: int) -> Evaluation:
    from lightning_modules.objective import make_objective

    options = dict(spec.training)
    if spec.name == "digits":
        options.setdefault("accelerator", "cpu")
    objective = make_objective(
        dataset=spec.name,
        data_dir=spec.data,
        epochs=spec.epochs,
        seed=seed,
        pruning=False,
        quiet=True,
        **options,
    )

    def evaluate(trial: optuna.Trial) -> tuple[float, float]:
        accuracy = 100.0 * objective(trial)
        return accuracy, accuracy

    return evaluate


def build_training_problem(spec: ProblemSpec) -> Problem:
    """The problem of ``spec`` (``digits`` or ``cifar10``); checks its options."""
    try:
        _evaluation(spec, seed=0)  # builds the data module: refuses bad options early
    except TypeError as error:
        raise ValueError(f"--train-option: {error}") from None
    return Problem(
        evaluation=lambda seed: _evaluation(spec, seed),
        optimum=None,
        regret_floor=1e-2,
        unit="validation accuracy (%)",
    )
