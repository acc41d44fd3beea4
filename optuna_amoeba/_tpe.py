"""Proposals of Optuna's TPE for the sampler's early trials (``tpe_probability``)."""

from __future__ import annotations

from typing import Any
from typing import TYPE_CHECKING

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.samplers import TPESampler
from optuna.trial import FrozenTrial

from optuna_amoeba._random import sample_value


if TYPE_CHECKING:
    from optuna.study import Study


# The TPE phase lasts while fewer than this many populations' worth of trials have completed:
# 100 trials for the default P=50, the budget it was chosen for (docs/choosing-settings.md).
TPE_PHASE_POPULATIONS = 2


def tpe_sampler(seed: int | None) -> TPESampler:
    """Optuna's TPE with its defaults (multivariate, constant liar), seeded ``seed + 1``
    (wrapping at 2**32) so that it draws apart from the evolution's generator."""
    return TPESampler(seed=None if seed is None else (seed + 1) % 2**32)


def tpe_proposal(
    tpe: TPESampler,
    study: Study,
    trial: FrozenTrial,
    search_space: dict[str, BaseDistribution],
    rng: np.random.RandomState,
) -> dict[str, Any]:
    """TPE's joint (multivariate) proposal for the parameters of ``search_space``, in its order.

    TPE models the parameters of ``search_space`` (the population's common space) that have
    more than one value, taken in name order as TPE orders its own space; the single-valued
    ones are drawn from ``rng``, as is everything while TPE is in its own random start (fewer
    than 10 finished trials). The space is passed in rather than inferred by TPE, whose
    inference is cached for one study and refuses a second.
    """
    joint_space = {
        name: search_space[name]
        for name in sorted(search_space)
        if not search_space[name].single()
    }
    joint = tpe.sample_relative(study, trial, joint_space) if joint_space else {}
    return {
        name: joint[name] if name in joint else sample_value(distribution, rng)
        for name, distribution in search_space.items()
    }
