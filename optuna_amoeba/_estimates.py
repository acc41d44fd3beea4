"""Reading a noisy study: parameter sets ranked by the mean of their evaluations."""

from __future__ import annotations

from dataclasses import dataclass
import math
from typing import Any
from typing import TYPE_CHECKING

from optuna.study import StudyDirection
from optuna.trial import TrialState

from optuna_amoeba._checks import check_int
from optuna_amoeba._population import params_key


if TYPE_CHECKING:
    from optuna.study import Study


@dataclass(frozen=True)
class MeanEstimate:
    """Every completed evaluation of one parameter set.

    Attributes:
        params: The parameters.
        mean: The mean of their values.
        count: How many completed trials evaluated them.
        std_error: Standard error of ``mean`` (NaN with one evaluation).
        trial_numbers: Those trials' numbers, in order.
    """

    params: dict[str, Any]
    mean: float
    count: int
    std_error: float
    trial_numbers: tuple[int, ...]


def rank_by_mean(study: Study, *, min_evaluations: int = 1) -> list[MeanEstimate]:
    """The study's parameter sets, best mean first (by the study's direction).

    Under evaluation noise the single best trial is often a lucky draw; with
    ``AgingEvolutionSampler``'s re-evaluation, the best-measured architectures have several
    evaluations, and their mean is the better estimate. ``min_evaluations`` keeps only sets
    evaluated at least that many times.
    """
    if len(study.directions) != 1:
        raise ValueError(
            f"rank_by_mean needs a single-objective study; study {study.study_name!r} has "
            f"{len(study.directions)} objectives"
        )
    min_evaluations = check_int("min_evaluations", min_evaluations, 1)
    groups: dict[Any, tuple[dict[str, Any], list[float], list[int]]] = {}
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        assert trial.value is not None
        params, values, numbers = groups.setdefault(
            params_key(trial.params), (trial.params, [], [])
        )
        values.append(trial.value)
        numbers.append(trial.number)
    estimates = []
    for params, values, numbers in groups.values():
        if len(values) < min_evaluations:
            continue
        count = len(values)
        mean = math.fsum(values) / count
        if count > 1:
            variance = math.fsum((value - mean) ** 2 for value in values) / (count - 1)
            std_error = math.sqrt(variance / count)
        else:
            std_error = math.nan
        estimates.append(MeanEstimate(dict(params), mean, count, std_error, tuple(numbers)))
    descending = study.direction == StudyDirection.MAXIMIZE
    estimates.sort(key=lambda estimate: estimate.mean, reverse=descending)
    return estimates
