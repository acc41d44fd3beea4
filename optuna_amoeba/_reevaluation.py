"""Re-evaluation under noise: which population member to evaluate again."""

from __future__ import annotations

from collections.abc import Hashable
import math

from optuna.study import StudyDirection

from optuna_amoeba._population import Member
from optuna_amoeba._population import PopulationTracker


# A parameter set is evaluated at most this many times: past it, a further repeat narrows
# its mean less than a new child explores.
MAX_EVALUATIONS = 5
# The leader is not repeated once its mean minus SEPARATION standard errors exceeds every
# rival's mean plus SEPARATION standard errors.
SEPARATION = 2.0


def reevaluation_target(
    tracker: PopulationTracker, direction: StudyDirection, busy: set[Hashable]
) -> Member | None:
    """The population's most promising parameters, by an upper confidence bound, or ``None``.

    Each distinct parameter set in the population with finite values and fewer than
    ``MAX_EVALUATIONS`` evaluations scores its mean plus one pooled noise standard deviation
    over the square root of its evaluation count (signs follow ``direction``): a set seen
    once with a high value is checked before a well-measured one of equal mean. Nothing is
    returned once the leader (best mean) is separated from every rival: its mean minus
    ``SEPARATION`` standard errors beats their means plus ``SEPARATION`` standard errors.
    (Before repeats have measured the noise, nothing counts as separated.) Sets in ``busy``
    (being evaluated now) are skipped. Of the members sharing the winning parameters, the one returned (for lineage)
    is the last in population order: the newest under aging.
    """
    sign = 1.0 if direction == StudyDirection.MAXIMIZE else -1.0
    noise = tracker.noise_std
    newest: dict[Hashable, Member] = {}
    for member in tracker.members:
        if math.isfinite(tracker.observations[member.identity].estimate):
            newest[member.identity] = member
    if not newest:
        return None
    means = {key: sign * tracker.observations[key].mean for key in newest}
    errors = {key: noise / math.sqrt(tracker.observations[key].count) for key in newest}
    leader = max(newest, key=means.__getitem__)
    rivals = [means[key] + SEPARATION * errors[key] for key in newest if key != leader]
    if noise > 0 and rivals and means[leader] - SEPARATION * errors[leader] > max(rivals):
        return None
    best: Member | None = None
    best_score = -math.inf
    for key, member in newest.items():
        if key in busy or tracker.observations[key].count >= MAX_EVALUATIONS:
            continue
        score = means[key] + errors[key]
        if score > best_score:
            best, best_score = member, score
    return best
