"""Tournament selection over the population."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from optuna.study import StudyDirection

from optuna_amoeba._population import Member


def tournament(
    population: Sequence[Member],
    sample_size: int,
    directions: Sequence[StudyDirection],
    rng: np.random.RandomState,
    fitness: Sequence[float] | None = None,
) -> Member:
    """The best of ``sample_size`` members drawn uniformly without replacement.

    Single objective: best value by the study's direction (ties: the earlier draw; NaN
    loses to everything); the value is ``fitness[i]`` for member ``i`` when given (e.g. a
    mean over repeats). Several
    objectives: lowest non-domination rank over the whole population, then largest crowding
    distance within that front, as NSGA-II ranks.
    """
    size = min(sample_size, len(population))
    drawn = rng.choice(len(population), size=size, replace=False)
    if len(directions) == 1:
        values = np.array(
            [member.values[0] for member in population] if fitness is None else fitness
        )
        losses = -values if directions[0] == StudyDirection.MAXIMIZE else values
        # NaN (a set scored both +inf and -inf) is never the best: it ranks last.
        losses = np.where(np.isnan(losses), np.inf, losses)
        return population[int(drawn[int(np.argmin(losses[drawn]))])]
    losses = _losses(population, directions)
    ranks = non_domination_ranks(losses)
    crowding = crowding_distances(losses, ranks)
    order = np.lexsort((-crowding[drawn], ranks[drawn]))
    return population[int(drawn[order[0]])]


def _losses(population: Sequence[Member], directions: Sequence[StudyDirection]) -> np.ndarray:
    signs = np.array([-1.0 if d == StudyDirection.MAXIMIZE else 1.0 for d in directions])
    values = np.array([member.values for member in population], dtype=float)
    return np.asarray(values * signs)


def non_domination_ranks(losses: np.ndarray) -> np.ndarray:
    """Rank 0 for the Pareto front of ``losses`` (minimised), 1 for the next, and so on."""
    num = len(losses)
    no_worse = np.all(losses[:, None, :] <= losses[None, :, :], axis=2)
    better = np.any(losses[:, None, :] < losses[None, :, :], axis=2)
    dominates = no_worse & better  # dominates[i, j]: i dominates j
    domination_count = dominates.sum(axis=0)
    ranks = np.full(num, -1, dtype=int)
    rank = 0
    current = np.flatnonzero(domination_count == 0)
    while current.size:
        ranks[current] = rank
        domination_count = domination_count - dominates[current].sum(axis=0)
        domination_count[ranks >= 0] = -1
        current = np.flatnonzero(domination_count == 0)
        rank += 1
    return ranks


def crowding_distances(losses: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """NSGA-II crowding distance of each point within its own front."""
    distances = np.zeros(len(losses))
    for rank in np.unique(ranks):
        front = np.flatnonzero(ranks == rank)
        if front.size <= 2:
            distances[front] = np.inf
            continue
        for objective in range(losses.shape[1]):
            values = losses[front, objective]
            order = np.argsort(values, kind="stable")
            span = values[order[-1]] - values[order[0]]
            distances[front[order[0]]] = distances[front[order[-1]]] = np.inf
            if span == 0 or not np.isfinite(span):
                continue
            gaps = (values[order[2:]] - values[order[:-2]]) / span
            distances[front[order[1:-1]]] += gaps
    return distances
