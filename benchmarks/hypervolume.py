"""Exact two-dimensional hypervolume, and its history over a run's evaluations."""

from __future__ import annotations

import numpy as np


def hypervolume_2d(losses: np.ndarray, reference: np.ndarray | tuple[float, float]) -> float:
    """The area dominated by ``losses`` (rows of two minimised values) and bounded by
    ``reference``: the union of the boxes from each point to the reference point.

    Points not strictly better than the reference in both values add nothing. Sorted by the
    first value, each point that lowers the best second value so far adds the strip between
    the two second values, from its first value to the reference.
    """
    points = np.asarray(losses, dtype=float).reshape(-1, 2)
    bound = np.asarray(reference, dtype=float).reshape(2)
    points = points[np.all(points < bound, axis=1)]
    area = 0.0
    lowest_second = bound[1]
    for first, second in points[np.lexsort((points[:, 1], points[:, 0]))]:
        if second < lowest_second:
            area += (bound[0] - first) * (lowest_second - second)
            lowest_second = second
    return float(area)


def hypervolume_history(
    losses: np.ndarray, reference: np.ndarray | tuple[float, float]
) -> np.ndarray:
    """Element ``k``: the hypervolume of the first ``k + 1`` rows of ``losses``.

    Only the non-dominated points so far are kept, so a run of n evaluations costs n small
    front updates rather than n sorts of everything seen.
    """
    points = np.asarray(losses, dtype=float).reshape(-1, 2)
    history = np.empty(len(points))
    front = np.empty((0, 2))
    volume = 0.0
    for k, point in enumerate(points):
        weakly_dominated = bool(np.any(np.all(front <= point, axis=1)))
        if not weakly_dominated:
            front = np.vstack([front[~np.all(point <= front, axis=1)], point])
            volume = hypervolume_2d(front, reference)
        history[k] = volume
    return history
