"""Accuracy against size on NATS-Bench: two objectives, the size derived from the cell.

NATS-Bench's topology networks (the NAS-Bench-201 skeleton; Dong et al., ICLR 2020, figure 1)
are built for CIFAR-10 as:

- stem: a 3x3 convolution from the 3 input channels to C = 16, then batch norm;
- three stages of five cells with C = 16, 32 and 64 channels on 32x32, 16x16 and 8x8
  feature maps, every cell the searched one;
- between stages, a residual reduction block from C to 2C with stride 2: ReLU-conv3x3-BN
  (C to 2C), ReLU-conv3x3-BN (2C to 2C), and a shortcut of 2x2 average pooling followed by a
  1x1 convolution (C to 2C, no batch norm);
- batch norm and ReLU on the 64 channels, global average pooling, a linear classifier with
  bias to the 10 classes.

Convolutions have no bias; every batch norm is affine (2C weights). In a cell, an edge's
operation adds ``nor_conv_3x3``: ReLU-conv3x3-BN, 9C² + 2C weights; ``nor_conv_1x1``:
ReLU-conv1x1-BN, C² + 2C weights; ``avg_pool_3x3``, ``skip_connect`` and ``none``: nothing.
Every edge is counted whether or not its node reaches the cell's output, as the benchmark's
own counts do (they count the modules of the built network).

FLOPs follow the benchmark's convention: multiply-accumulates of the convolutions and the
classifier (weights times output positions, plus the classifier's bias); batch norm, ReLU and
pooling are not counted. On CIFAR-10 these give the NAS-Bench-201 ranges exactly: 0.073306 to
1.531546 million parameters and 7.78305 to 220.11969 million FLOPs (cells without and with
six 3x3 convolutions).
"""

from __future__ import annotations

from collections.abc import Sequence
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


INPUT_CHANNELS = 3
IMAGE_SIZE = 32
STAGE_CHANNELS = (16, 32, 64)
CELLS_PER_STAGE = 5
NUM_CLASSES = 10
SIZE_OBJECTIVES = ("accuracy", "params")
"""The objectives of :class:`NatsSizeProblem`, in order: test accuracy (%), maximised, and
the network's parameter count (millions), minimised."""


@dataclass(frozen=True)
class NetworkCost:
    """Weights and forward multiply-accumulates of a network (or a part of one)."""

    parameters: int = 0
    flops: int = 0

    def __add__(self, other: NetworkCost) -> NetworkCost:
        return NetworkCost(self.parameters + other.parameters, self.flops + other.flops)

    def __mul__(self, times: int) -> NetworkCost:
        return NetworkCost(self.parameters * times, self.flops * times)


def _convolution(inputs: int, outputs: int, kernel: int, output_size: int) -> NetworkCost:
    weights = inputs * outputs * kernel * kernel
    return NetworkCost(weights, weights * output_size * output_size)


def _batch_norm(channels: int) -> NetworkCost:
    return NetworkCost(2 * channels, 0)


def edge_cost(operation: str, channels: int, size: int) -> NetworkCost:
    """What one cell edge's ``operation`` adds on ``channels`` feature maps of ``size`` x
    ``size``."""
    if operation == "nor_conv_3x3":
        return _convolution(channels, channels, 3, size) + _batch_norm(channels)
    if operation == "nor_conv_1x1":
        return _convolution(channels, channels, 1, size) + _batch_norm(channels)
    if operation in NATS_OPERATIONS:
        return NetworkCost()
    raise ValueError(f"operation must be one of {', '.join(NATS_OPERATIONS)}, got {operation!r}")


def _reduction_block(inputs: int, outputs: int, output_size: int) -> NetworkCost:
    return (
        _convolution(inputs, outputs, 3, output_size)
        + _batch_norm(outputs)
        + _convolution(outputs, outputs, 3, output_size)
        + _batch_norm(outputs)
        + _convolution(inputs, outputs, 1, output_size)
    )


def network_cost(operations: Sequence[str]) -> NetworkCost:
    """Parameters and FLOPs of the CIFAR-10 network whose cell has the six edge
    ``operations`` (in the order of :data:`benchmarks.nats.EDGE_PARAMS`)."""
    if len(operations) != len(NATS_EDGES):
        raise ValueError(f"expected {len(NATS_EDGES)} edge operations, got {len(operations)}")
    first = STAGE_CHANNELS[0]
    total = _convolution(INPUT_CHANNELS, first, 3, IMAGE_SIZE) + _batch_norm(first)
    previous = first
    for stage, channels in enumerate(STAGE_CHANNELS):
        size = IMAGE_SIZE >> stage
        if stage:
            total += _reduction_block(previous, channels, size)
        cell = NetworkCost()
        for operation in operations:
            cell += edge_cost(operation, channels, size)
        total += cell * CELLS_PER_STAGE
        previous = channels
    classifier = previous * NUM_CLASSES + NUM_CLASSES
    return total + _batch_norm(previous) + NetworkCost(classifier, classifier)


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
