"""Re-evaluation under noise: which population member to evaluate again."""

from __future__ import annotations

from collections.abc import Hashable
import math

from optuna.study import StudyDirection

from optuna_amoeba._population import Member
from optuna_amoeba._population import PopulationTracker


def reevaluation_target(
    tracker: PopulationTracker,
    direction: StudyDirection,
    busy: set[Hashable],
    *,
    width: float = 1.0,
) -> Member | None:
    """The population's most promising parameters, by an upper confidence bound.

    Each distinct parameter set in the population scores its mean value plus ``width`` pooled
    noise standard deviations over the square root of its evaluation count (signs follow
    ``direction``; the sampler uses ``width=1``): a set seen once with a high value is checked
    before a well-measured one of equal mean, and the best-measured one keeps collecting
    evaluations while it stays ahead and in the population. Re-evaluations take no population
    slot, so a set leaves the population ``population_size`` members after its first
    evaluation, which bounds its repeats. Sets in ``busy`` (being evaluated now) and sets with
    an infinite value (see :class:`~optuna_amoeba._population.Observations`) are skipped. Of
    the members sharing the winning parameters, the one returned (for lineage) is the last in
    population order: the newest under aging.
    """
    sign = 1.0 if direction == StudyDirection.MAXIMIZE else -1.0
    noise = tracker.noise_std
    newest: dict[Hashable, Member] = {}
    for member in tracker.members:
        observations = tracker.observations[member.identity]
        if member.identity not in busy and math.isfinite(observations.estimate):
            newest[member.identity] = member
    best: Member | None = None
    best_score = -math.inf
    for key, member in newest.items():
        observations = tracker.observations[key]
        score = sign * observations.mean + width * noise / math.sqrt(observations.count)
        if score > best_score:
            best, best_score = member, score
    return best
