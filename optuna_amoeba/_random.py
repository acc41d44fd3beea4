"""Uniform draws from Optuna distributions with an explicit ``RandomState``."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution


# RandomState.randint draws below 2**63 only; wider ranges are drawn through a float, as
# Optuna's own samplers draw every range.
_RANDINT_LIMIT = 2**63 - 1


def _index(count: int, rng: np.random.RandomState) -> int:
    """A uniform draw from ``range(count)``."""
    if count <= _RANDINT_LIMIT:
        return int(rng.randint(count))
    return min(int(rng.random_sample() * count), count - 1)


def sample_value(distribution: BaseDistribution, rng: np.random.RandomState) -> Any:
    """A value drawn uniformly (log-uniformly where ``log=True``), in external form."""
    if isinstance(distribution, CategoricalDistribution):
        return distribution.choices[rng.randint(len(distribution.choices))]
    if isinstance(distribution, FloatDistribution):
        return _sample_float(distribution, rng)
    if isinstance(distribution, IntDistribution):
        return _sample_int(distribution, rng)
    raise ValueError(
        f"distribution must be a Categorical, Float or Int distribution, got {distribution!r}"
    )


def _sample_float(distribution: FloatDistribution, rng: np.random.RandomState) -> float:
    low, high = distribution.low, distribution.high
    if low == high:
        return float(low)
    if distribution.log:
        value = math.exp(rng.uniform(math.log(low), math.log(high)))
    elif distribution.step is not None:
        num_steps = round((high - low) / distribution.step)
        value = low + distribution.step * _index(num_steps + 1, rng)
    else:
        value = rng.uniform(low, high)
    return float(min(max(value, low), high))


def _sample_int(distribution: IntDistribution, rng: np.random.RandomState) -> int:
    low, high = distribution.low, distribution.high
    if distribution.log:
        value = round(math.exp(rng.uniform(math.log(low - 0.5), math.log(high + 0.5))))
        return min(max(value, low), high)
    num_steps = (high - low) // distribution.step
    return int(low + distribution.step * _index(num_steps + 1, rng))


def sample_different_value(
    distribution: BaseDistribution, current: Any, rng: np.random.RandomState
) -> Any:
    """A value other than ``current`` (uniform over the others for finite distributions).

    The distribution must hold more than one value. Choices equal to ``current`` (``1`` and
    ``True``) are the same value to Optuna; when every choice is, ``current`` is returned.
    """
    if isinstance(distribution, CategoricalDistribution):
        others = [choice for choice in distribution.choices if choice != current]
        return others[rng.randint(len(others))] if others else current
    if isinstance(distribution, IntDistribution) and not distribution.log:
        # By grid index, so that a range of 10**9 values costs no more than one of ten.
        low, step = distribution.low, distribution.step
        num_steps = (distribution.high - low) // step
        current_step, off_grid = divmod(current - low, step)
        if off_grid or not 0 <= current_step <= num_steps:
            # An enqueued value outside the grid: every grid value differs from it.
            return int(low + step * _index(num_steps + 1, rng))
        index = _index(num_steps, rng)
        index += index >= current_step
        return int(low + step * index)
    if isinstance(distribution, FloatDistribution) and distribution.step is not None:
        num_steps = round((distribution.high - distribution.low) / distribution.step)
        current_step = round((current - distribution.low) / distribution.step)
        step = _index(num_steps, rng)
        step += step >= current_step
        value = distribution.low + distribution.step * step
        return float(min(value, distribution.high))
    # Continuous or log-scaled: a fresh draw differs almost surely; a log-int range is finite,
    # so fall back to the nearest other grid value after a few equal draws.
    for _ in range(16):
        value = sample_value(distribution, rng)
        if value != current:
            return value
    assert isinstance(distribution, IntDistribution)
    return int(current + 1 if current < distribution.high else current - 1)
