"""Accuracy against size on NATS-Bench: two objectives, the size derived from the cell.

The size is the network's parameter count, derived from the cell by
:func:`benchmarks.nats_cost.network_cost` (where the network is described).
"""

from __future__ import annotations

from dataclasses import dataclass
import functools
import itertools

import numpy as np
import optuna

from benchmarks.nats import EDGE_PARAMS
from benchmarks.nats import NATS_EDGES
from benchmarks.nats import NATS_OPERATIONS
from benchmarks.nats import NatsTable
from benchmarks.nats import suggest_nats_arch
from benchmarks.nats_cost import network_cost
from benchmarks.nats_cost import NetworkCost


SIZE_OBJECTIVES = ("accuracy", "params")
"""The objectives of :class:`NatsSizeProblem`, in order: test accuracy (%), maximised, and
the network's parameter count (millions), minimised."""


@functools.cache
def _cost_of_multiset(operations: tuple[str, ...]) -> NetworkCost:
    return network_cost(operations)


@dataclass(frozen=True)
class NatsSizeProblem:
    """Maximise the table's test accuracy (%) and minimise the parameter count (millions).

    ``parameters`` holds every architecture's count, indexed like ``table.accuracy``.
    """

    table: NatsTable
    parameters: np.ndarray

    @classmethod
    def from_table(cls, table: NatsTable) -> NatsSizeProblem:
        parameters = np.empty(table.accuracy.shape)
        for index in itertools.product(range(len(NATS_OPERATIONS)), repeat=len(NATS_EDGES)):
            # Edges add up independently: the count depends on the multiset of operations.
            operations = tuple(NATS_OPERATIONS[i] for i in sorted(index))
            parameters[index] = _cost_of_multiset(operations).parameters / 1e6
        return cls(table=table, parameters=parameters)

    def values(self, params: dict[str, str]) -> tuple[float, float]:
        """(accuracy %, parameters in millions) of the architecture given as ``edge_<j>_<i>``
        parameters."""
        index = tuple(NATS_OPERATIONS.index(params[name]) for name in EDGE_PARAMS)
        return float(self.table.accuracy[index]), float(self.parameters[index])

    def evaluate(self, trial: optuna.Trial) -> tuple[float, float]:
        """Suggest a cell and return its two objective values."""
        return self.values(suggest_nats_arch(trial))

    def losses(self, values: np.ndarray) -> np.ndarray:
        """``values`` (rows of accuracy, parameters) mapped to losses in [0, 1], both
        minimised: 0 is the table's best accuracy and smallest network, 1 the worst accuracy
        and largest network (the hypervolume's reference point is (1, 1))."""
        points = np.asarray(values, dtype=float).reshape(-1, 2)
        low_accuracy, high_accuracy = self.table.accuracy.min(), self.table.accuracy.max()
        low_size, high_size = self.parameters.min(), self.parameters.max()
        accuracy_loss = (high_accuracy - points[:, 0]) / (high_accuracy - low_accuracy)
        size_loss = (points[:, 1] - low_size) / (high_size - low_size)
        return np.column_stack([accuracy_loss, size_loss])

    def pareto_front(self) -> np.ndarray:
        """The table's own Pareto front: rows of (accuracy, parameters), smallest first."""
        accuracy = self.table.accuracy.reshape(-1)
        parameters = self.parameters.reshape(-1)
        front: list[tuple[float, float]] = []
        for i in np.lexsort((-accuracy, parameters)):
            if not front or accuracy[i] > front[-1][0]:
                front.append((float(accuracy[i]), float(parameters[i])))
        return np.array(front)


@functools.lru_cache(maxsize=2)
def load_size_problem(path: str) -> NatsSizeProblem:
    """The problem on the NATS-Bench CSV at ``path`` (see :meth:`NatsTable.from_csv`)."""
    return NatsSizeProblem.from_table(NatsTable.from_csv(path))
