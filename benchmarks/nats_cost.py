"""Size and compute of a NATS-Bench topology network, and a training-time model built on them.

Accuracy against size on NATS-Bench: two objectives, the size derived from the cell.

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
import math

import numpy as np

from benchmarks.nats import NATS_EDGES
from benchmarks.nats import NATS_OPERATIONS


INPUT_CHANNELS = 3
IMAGE_SIZE = 32
STAGE_CHANNELS = (16, 32, 64)
CELLS_PER_STAGE = 5
NUM_CLASSES = 10
# Offset mixed into the jitter seed, so that the duration stream of seed r is independent of
# the evaluation-noise stream and of every sampler's stream of seed r.
JITTER_STREAM_OFFSET = 0x4A495454


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


MAX_FLOPS = network_cost(("nor_conv_3x3",) * len(NATS_EDGES)).flops


@dataclass(frozen=True)
class TrainingCostModel:
    """Simulated training time of a NATS-Bench architecture.

    ``duration = scale * (overhead + flops / MAX_FLOPS) * jitter``: a fixed part (data
    loading, evaluation, start-up; ``overhead`` is its size relative to the compute of the
    largest network) plus a part proportional to the network's FLOPs, times a log-normal
    jitter ``exp(sigma * z - sigma**2 / 2)``, ``z ~ N(0, 1)``, of mean 1. ``scale`` makes the
    mean duration over the whole space (every architecture equally likely, no jitter) one
    time unit: the unit of simulated time is one average training.
    """

    overhead: float = 0.5
    jitter_sigma: float = 0.1

    def __post_init__(self) -> None:
        if not (math.isfinite(self.overhead) and self.overhead >= 0):
            raise ValueError(f"overhead must be a finite float >= 0, got {self.overhead}")
        if not (math.isfinite(self.jitter_sigma) and self.jitter_sigma >= 0):
            raise ValueError(f"jitter_sigma must be a finite float >= 0, got {self.jitter_sigma}")

    @property
    def scale(self) -> float:
        return 1.0 / _mean_relative_cost(self.overhead)

    def expected_duration(self, ops: Sequence[str]) -> float:
        """Duration without jitter, in average trainings."""
        return self.scale * (self.overhead + network_cost(ops).flops / MAX_FLOPS)

    def jitter(self, seed: int) -> np.random.Generator:
        """The jitter stream of one simulated run."""
        return np.random.default_rng([seed, JITTER_STREAM_OFFSET])

    def duration(self, ops: Sequence[str], jitter: np.random.Generator) -> float:
        """One draw of the training time of ``ops`` (consumes one normal from ``jitter``)."""
        sigma = self.jitter_sigma
        factor = math.exp(sigma * float(jitter.standard_normal()) - sigma * sigma / 2)
        return self.expected_duration(ops) * factor


def _mean_relative_cost(overhead: float) -> float:
    # Edges add up independently and are uniform over the operations, so the mean FLOPs is
    # the empty cell's plus six times the mean an edge adds; checked against an enumeration
    # of the space in the tests.
    empty = network_cost(("none",) * len(NATS_EDGES)).flops
    added = [
        network_cost((op,) + ("none",) * (len(NATS_EDGES) - 1)).flops - empty
        for op in NATS_OPERATIONS
    ]
    mean_flops = empty + len(NATS_EDGES) * sum(added) / len(added)
    return overhead + mean_flops / MAX_FLOPS
