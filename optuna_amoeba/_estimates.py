"""Reading a noisy study: parameter sets, the mean of their evaluations, and the incumbent."""

from __future__ import annotations

from collections.abc import Hashable
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
import math
from typing import Any

from optuna.study import Study
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_amoeba._checks import check_direction
from optuna_amoeba._checks import check_int
from optuna_amoeba._population import Observations
from optuna_amoeba._population import params_key


@dataclass(frozen=True)
class MeanEstimate:
    """Every completed evaluation of one parameter set.

    Attributes:
        params: The parameters.
        mean: The mean of their values (``±inf`` when some value was infinite, NaN when both
            ``+inf`` and ``-inf`` were seen).
        count: How many completed trials evaluated them.
        std_error: Standard error of ``mean`` from this set's own values (NaN with fewer than
            two finite evaluations or with an infinite one).
        trial_numbers: Those trials' numbers, in order.
        pessimistic_mean: ``mean`` moved one pooled standard error towards worse: by the
            standard deviation of repeated evaluations pooled over every parameter set of the
            study, divided by ``sqrt(count)`` (equal to ``mean`` until the study has repeats).
    """

    params: dict[str, Any]
    mean: float
    count: int
    std_error: float
    trial_numbers: tuple[int, ...]
    pessimistic_mean: float


def estimate_by_params(
    evaluations: Iterable[tuple[int, Mapping[str, Any], float]],
    direction: StudyDirection | str,
) -> list[MeanEstimate]:
    """``(trial number, params, value)`` evaluations grouped by params, in order of first
    evaluation.

    The one grouping of evaluations by parameters that :func:`rank_by_mean`,
    :func:`recommend_by_mean` and the benchmarks use; ``direction`` (a ``StudyDirection``,
    or ``"minimize"`` / ``"maximize"``) decides which way ``pessimistic_mean`` moves. Only
    finite values enter means and the pooled noise: an infinite value makes its set's mean
    that infinity.
    """
    towards_worse = (
        -1.0 if check_direction("direction", direction) == StudyDirection.MAXIMIZE else 1.0
    )
    groups: dict[Hashable, tuple[Mapping[str, Any], Observations, list[float], list[int]]] = {}
    for number, params, value in evaluations:
        _, observations, values, numbers = groups.setdefault(
            params_key(dict(params)), (params, Observations(), [], [])
        )
        observations.add(value)
        values.append(value)
        numbers.append(number)
    squares = math.fsum(observations.squares for _, observations, _, _ in groups.values())
    degrees = sum(max(0, obs.finite_count - 1) for _, obs, _, _ in groups.values())
    noise = math.sqrt(squares / degrees) if degrees else 0.0
    estimates = []
    for params, observations, values, numbers in groups.values():
        count = len(values)
        mean = observations.estimate
        if observations.finite_count == count > 1:
            std_error = math.sqrt(observations.squares / (count - 1) / count)
        else:
            std_error = math.nan
        pessimistic = mean + towards_worse * noise / math.sqrt(count)
        estimates.append(
            MeanEstimate(dict(params), mean, count, std_error, tuple(numbers), pessimistic)
        )
    return estimates


def _ranked(study: Study, min_evaluations: int, by: str, function: str) -> list[MeanEstimate]:
    if not isinstance(study, Study):
        raise ValueError(f"{function} needs an optuna.Study, got {study!r}")
    if len(study.directions) != 1:
        raise ValueError(
            f"{function} needs a single-objective study; study {study.study_name!r} has "
            f"{len(study.directions)} objectives"
        )
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return rank_trials(trials, study.direction, by=by, min_evaluations=min_evaluations)


def rank_trials(
    trials: Iterable[FrozenTrial],
    direction: StudyDirection | str,
    *,
    by: str = "pessimistic",
    min_evaluations: int = 1,
) -> list[MeanEstimate]:
    """:func:`recommend_by_mean`'s ranking (``by="mean"``: :func:`rank_by_mean`'s) of these
    complete single-objective trials, for a caller that has read them already: reading the
    study again could see trials the first read did not. ``direction`` is a
    ``StudyDirection`` or ``"minimize"`` / ``"maximize"``; ``min_evaluations`` (an int
    ``>= 1``) keeps only sets evaluated at least that many times."""
    minimum = check_int("min_evaluations", min_evaluations, 1)
    estimates = estimate_by_params(
        ((trial.number, trial.params, trial.values[0]) for trial in trials), direction
    )
    kept = [estimate for estimate in estimates if estimate.count >= minimum]
    return rank_estimates(kept, direction, by=by)


def rank_estimates(
    estimates: Iterable[MeanEstimate],
    direction: StudyDirection | str,
    *,
    by: str = "pessimistic",
) -> list[MeanEstimate]:
    """``estimates`` best first by ``pessimistic_mean`` (``by="pessimistic"``) or ``mean``
    (``by="mean"``); ties keep their order, NaN comes last."""
    if by not in ("pessimistic", "mean"):
        raise ValueError(f"by must be 'pessimistic' or 'mean', got {by!r}")
    sign = -1.0 if check_direction("direction", direction) == StudyDirection.MAXIMIZE else 1.0

    def loss(estimate: MeanEstimate) -> tuple[bool, float]:
        value = estimate.pessimistic_mean if by == "pessimistic" else estimate.mean
        return (math.isnan(value), sign * value if not math.isnan(value) else 0.0)

    return sorted(estimates, key=loss)


def rank_by_mean(study: Study, *, min_evaluations: int = 1) -> list[MeanEstimate]:
    """The study's parameter sets, best mean first (by the study's direction).

    Under evaluation noise the single best trial is often a lucky draw; with
    ``AgingEvolutionSampler``'s re-evaluation, the best-measured architectures have several
    evaluations, and their mean is the better estimate. ``min_evaluations`` keeps only sets
    evaluated at least that many times. To choose the one set to keep, use
    :func:`recommend_by_mean`.
    """
    return _ranked(study, min_evaluations, "mean", "rank_by_mean")


def recommend_by_mean(study: Study, *, min_evaluations: int = 1) -> list[MeanEstimate]:
    """The study's parameter sets, the one to keep first: best ``pessimistic_mean``.

    The recommended incumbent under noise (docs/algorithm.md, "Reading a noisy study"): a
    set's mean, moved one pooled standard error towards worse, so that one lucky evaluation
    does not outrank a set measured several times. Without repeats in the study it ranks as
    :func:`rank_by_mean`. The benchmarks' "by mean" column applies this rule to every sampler.
    """
    return _ranked(study, min_evaluations, "pessimistic", "recommend_by_mean")
