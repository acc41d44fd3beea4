"""Re-evaluation under noise: which population member to evaluate again."""

from __future__ import annotations

from collections.abc import Collection
from collections.abc import Hashable
from collections.abc import Iterator
from collections.abc import Mapping
import math

from optuna.study import StudyDirection

from optuna_amoeba._population import Member
from optuna_amoeba._population import PopulationTracker


# A leader resting on one evaluation may be a lucky draw: it is evaluated once more first.
CONFIRMED_AFTER = 2
# With many workers, the best-bounded set is often being evaluated already; passing it over
# at once sends the concurrent re-evaluations to ever less promising sets, and never passing
# it over takes too many trials from the search while it is short (docs/choosing-settings.md,
# "Re-evaluation with many workers").
MAX_RUNNING_EVALUATIONS = 2


def reevaluation_target(
    tracker: PopulationTracker,
    direction: StudyDirection,
    running: Mapping[Hashable, int],
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
    evaluation, which bounds its repeats. Skipped: sets with :data:`MAX_RUNNING_EVALUATIONS`
    or more evaluations running now (``running``: running trials per parameter key), sets a
    re-evaluation could not repeat (``tracker.unrepeatable``: the objective suggested other
    parameters) and sets with an infinite value (see
    :class:`~optuna_amoeba._population.Observations`). Of the members sharing the winning
    parameters, the one returned (for lineage) is the last in population order: the newest
    under aging.
    """
    saturated = {key for key, count in running.items() if count >= MAX_RUNNING_EVALUATIONS}
    bounds = _bounds(tracker, direction, saturated, width)
    eligible = (item for item in bounds if item[1].identity not in tracker.unrepeatable)
    best = max(eligible, key=lambda item: item[0], default=None)
    return None if best is None else best[1]


def unconfirmed_leader(
    tracker: PopulationTracker, direction: StudyDirection, running: Collection[Hashable]
) -> Member | None:
    """The population's leader while it rests on fewer than :data:`CONFIRMED_AFTER`
    evaluations, else ``None``.

    The leader is the parameter set with the best lower bound, its mean moved one pooled noise
    standard deviation over the square root of its count towards worse: the rule of
    :func:`optuna_amoeba.recommend_by_mean`, over the population. A set that takes the lead on
    one evaluation is often a lucky draw, and until it is evaluated again it would be the
    study's recommendation; the sampler re-evaluates it at the next ask. ``None`` as well when
    the leader is in ``running`` (being evaluated now) or could not be repeated
    (``tracker.unrepeatable``). Sets with an infinite value are skipped.
    """
    best = max(_bounds(tracker, direction, set(), -1.0), key=lambda item: item[0], default=None)
    if best is None:
        return None
    leader = best[1]
    if (
        leader.identity in running
        or leader.identity in tracker.unrepeatable
        or tracker.observations[leader.identity].count >= CONFIRMED_AFTER
    ):
        return None
    return leader


def _bounds(
    tracker: PopulationTracker, direction: StudyDirection, skipped: set[Hashable], width: float
) -> Iterator[tuple[float, Member]]:
    """``(bound, newest member)`` for each finite parameter set of the population not in
    ``skipped``: the mean plus ``width`` pooled standard errors, signed so that higher is
    better."""
    sign = 1.0 if direction == StudyDirection.MAXIMIZE else -1.0
    noise = tracker.noise_std
    newest: dict[Hashable, Member] = {}
    for member in tracker.members:
        observations = tracker.observations[member.identity]
        if member.identity not in skipped and math.isfinite(observations.estimate):
            newest[member.identity] = member
    for key, member in newest.items():
        observations = tracker.observations[key]
        yield sign * observations.mean + width * noise / math.sqrt(observations.count), member
