"""Screening mutated children with an additive model of the population (``mutation_candidates``).

The model: a set's value is a constant plus one effect per parameter value (for numbers, per
tenth of the range, on the log scale where the distribution has ``log=True``), fitted by ridge
regression to the population's sets, each weighted by its number of evaluations. It is
solved in its kernel form, over the population's sets rather than over the effects, so its
cost is set by the population's size and the number of values the parameters take, not by
the study's length.
"""

from __future__ import annotations

from collections.abc import Hashable
from collections.abc import Sequence
import math
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
from optuna.study import StudyDirection

from optuna_amoeba._population import Observations
from optuna_amoeba._population import PopulationTracker


# Ridge penalty per effect, in evaluations: an effect seen in one or two evaluations is
# shrunk towards none. Set once, not tuned (benchmarks/results/noise_tuning/, eleventh round).
RIDGE = 1.0
NUMERIC_BINS = 10


class _Elsewhere:
    """The code of a number outside its distribution's range (an enqueued value) or of a
    missing parameter: such values share one effect per parameter."""


_ELSEWHERE = _Elsewhere()


def value_code(distribution: BaseDistribution, value: Any) -> Hashable:
    """What the model tells ``value`` apart by: the choice itself, or a number's bin."""
    if not isinstance(distribution, (FloatDistribution, IntDistribution)):
        choice: Hashable = value
        return choice
    low, high = float(distribution.low), float(distribution.high)
    if not low <= value <= high:
        return _ELSEWHERE
    if distribution.log:
        low, high, value = math.log(low), math.log(high), math.log(value)
    if high <= low:
        return 0
    return min(int((value - low) / (high - low) * NUMERIC_BINS), NUMERIC_BINS - 1)


class CandidateScreen:
    """Ranks candidate children by the population's additive model, for one search space.

    A member's encoding (which value or bin it holds, per parameter) is kept while the member
    stays in the population, so an ask encodes only new members and the candidates.
    """

    def __init__(self, search_space: dict[str, BaseDistribution]) -> None:
        # Per parameter: its name, its distribution where numbers are binned, and the feature
        # column of each value code seen, numbered in order of appearance over all parameters.
        self._parameters = [
            (
                name,
                distribution
                if isinstance(distribution, (FloatDistribution, IntDistribution))
                else None,
                dict[Hashable, int](),
            )
            for name, distribution in search_space.items()
        ]
        self._width = 0
        # Member number -> (its identity object, its row in ``_codes``, its observations); the
        # identity is compared by ``is``, so a member of another study or of a re-read study
        # is encoded afresh.
        self._rows: dict[int, tuple[Hashable, int, Observations]] = {}
        self._codes = np.zeros((0, len(self._parameters)), dtype=np.intp)
        self._free_rows: list[int] = []

    def _encode(self, params: dict[str, Any]) -> list[int]:
        """The feature columns ``params`` hold, one per parameter."""
        row = []
        for name, numeric, columns in self._parameters:
            value = params.get(name, _ELSEWHERE)
            if numeric is not None and value is not _ELSEWHERE:
                value = value_code(numeric, value)
            column = columns.get(value)
            if column is None:
                column = columns[value] = self._width
                self._width += 1
            row.append(column)
        return row

    def _store(self, params: dict[str, Any], index: int | None) -> int:
        """Write the encoding of ``params`` at row ``index`` of ``_codes`` (a free row when
        ``None``) and return the row."""
        if index is None:
            if not self._free_rows:
                size, width = self._codes.shape
                more = max(8, size)
                self._codes = np.concatenate([self._codes, np.zeros((more, width), np.intp)])
                self._free_rows.extend(range(size + more - 1, size - 1, -1))
            index = self._free_rows.pop()
        self._codes[index] = self._encode(params)
        return index

    def best(
        self,
        candidates: Sequence[dict[str, Any]],
        tracker: PopulationTracker,
        direction: StudyDirection,
    ) -> int:
        """The index of the candidate the population's additive model scores best (the first
        on a tie, and while fewer than two sets have finite values)."""
        if len(candidates) < 2:
            return 0
        return int(np.argmax(self.scores(candidates, tracker, direction)))

    def scores(
        self,
        candidates: Sequence[dict[str, Any]],
        tracker: PopulationTracker,
        direction: StudyDirection,
    ) -> np.ndarray:
        """The model's prediction for each candidate, less the population's weighted mean and
        signed so that higher is better (all zero while fewer than two sets have finite
        values)."""
        previous, rows = self._rows, {}
        fitted: set[int] = set()
        indices, values, weights = [], [], []
        for member in tracker.members:
            entry = previous.pop(member.number, None)
            if entry is None or entry[0] is not member.identity:
                index = self._store(member.params, None if entry is None else entry[1])
                entry = (member.identity, index, tracker.observations[member.identity])
            observations = entry[2]
            if not math.isfinite(observations.estimate):
                self._free_rows.append(entry[1])
                continue
            rows[member.number] = entry
            # Members holding one set (coinciding random draws, dedup=False) share its
            # observations: fit the set once.
            if id(observations) not in fitted:
                fitted.add(id(observations))
                indices.append(entry[1])
                values.append(observations.estimate)
                weights.append(float(observations.count))
        self._free_rows.extend(entry[1] for entry in previous.values())
        self._rows = rows
        if len(indices) < 2:
            return np.zeros(len(candidates))
        encoded = np.concatenate(
            [self._codes[indices], np.array([self._encode(c) for c in candidates], dtype=np.intp)]
        )
        features = np.zeros((len(encoded), self._width))
        np.put_along_axis(features, encoded, 1.0, axis=1)
        sign = 1.0 if direction == StudyDirection.MAXIMIZE else -1.0
        target = sign * np.array(values)
        weight = np.array(weights)
        share = weight / weight.sum()

        # The weighted mean set is the origin; the kernel is the features' overlap.
        size = len(indices)
        features -= share @ features[:size]
        sets, scored = features[:size], features[size:]
        kernel = sets @ sets.T
        system = weight[:, None] * kernel + RIDGE * np.eye(size)
        dual = np.linalg.solve(system, weight * (target - share @ target))
        return np.asarray(scored @ (sets.T @ dual))
