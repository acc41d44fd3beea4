"""Compute of a NATS-Bench topology network, and a training-time model built on it.

The NATS-Bench topology search space (NAS-Bench-201) trains one fixed skeleton on CIFAR-10:
a 3x3 stem convolution (3 -> 16 channels), then three stages of five cells with 16, 32 and
64 channels on 32x32, 16x16 and 8x8 feature maps, a residual reduction block (a strided
3x3 convolution, a 3x3 convolution and a pooled 1x1 shortcut) between stages, and a linear
classifier on global average pooling. Every cell repeats the searched topology, so the
network's compute follows from the cell's operation counts:

- ``nor_conv_3x3`` on an edge: a C -> C 3x3 convolution, ``9 * H * W * C**2``
  multiply-accumulates (MACs); ``nor_conv_1x1``: ``H * W * C**2``.
- ``avg_pool_3x3``, ``skip_connect`` and ``none``: no convolution (pooling and additions
  cost a few operations per activation, ignored here, as are batch norm and ReLU).

``H * W * C**2`` is 262,144 in all three stages, so one 3x3 edge costs 15 * 9 * 262,144 =
35.4 M MACs in the whole network, one 1x1 edge 3.9 M, and the skeleton 7.78 M: networks range
from 7.8 M MACs (no convolution in the cell) to 220.1 M (six 3x3 convolutions), the range
NAS-Bench-201 reports for this space.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
import math

import numpy as np

from benchmarks.nats import NATS_EDGES
from benchmarks.nats import NATS_OPERATIONS


STAGE_CHANNELS = (16, 32, 64)
STAGE_RESOLUTIONS = (32, 16, 8)
CELLS_PER_STAGE = 5
NUM_CLASSES = 10
# Offset mixed into the jitter seed, so that the duration stream of seed r is independent of
# the evaluation-noise stream and of every sampler's stream of seed r.
JITTER_STREAM_OFFSET = 0x4A495454


def _conv_macs(resolution: int, in_channels: int, out_channels: int, kernel: int) -> int:
    return resolution * resolution * in_channels * out_channels * kernel * kernel


def skeleton_macs() -> int:
    """MACs of everything but the cells: stem, two reduction blocks, classifier."""
    total = _conv_macs(STAGE_RESOLUTIONS[0], 3, STAGE_CHANNELS[0], 3)
    for stage in (1, 2):
        resolution = STAGE_RESOLUTIONS[stage]
        c_in, c_out = STAGE_CHANNELS[stage - 1], STAGE_CHANNELS[stage]
        total += _conv_macs(resolution, c_in, c_out, 3)  # strided 3x3
        total += _conv_macs(resolution, c_out, c_out, 3)
        total += _conv_macs(resolution, c_in, c_out, 1)  # shortcut after 2x2 pooling
    return total + STAGE_CHANNELS[-1] * NUM_CLASSES


def edge_macs(operation: str) -> int:
    """MACs that one edge with ``operation`` adds to the whole network (all 15 cells)."""
    if operation not in NATS_OPERATIONS:
        raise ValueError(f"operation {operation!r} is not one of {', '.join(NATS_OPERATIONS)}")
    kernel = {"nor_conv_3x3": 3, "nor_conv_1x1": 1}.get(operation)
    if kernel is None:
        return 0
    return CELLS_PER_STAGE * sum(
        _conv_macs(resolution, channels, channels, kernel)
        for resolution, channels in zip(STAGE_RESOLUTIONS, STAGE_CHANNELS, strict=True)
    )


def network_macs(ops: Sequence[str]) -> int:
    """MACs of one forward pass of the network whose cell has the six edge ``ops``."""
    if len(ops) != len(NATS_EDGES):
        raise ValueError(f"expected {len(NATS_EDGES)} edge operations, got {len(ops)}")
    return skeleton_macs() + sum(edge_macs(op) for op in ops)


MAX_MACS = network_macs(("nor_conv_3x3",) * len(NATS_EDGES))


@dataclass(frozen=True)
class TrainingCostModel:
    """Simulated training time of a NATS-Bench architecture.

    ``duration = scale * (overhead + macs / MAX_MACS) * jitter``: a fixed part (data
    loading, evaluation, start-up; ``overhead`` is its size relative to the compute of the
    largest network) plus a part proportional to the network's MACs, times a log-normal
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
        return self.scale * (self.overhead + network_macs(ops) / MAX_MACS)

    def jitter(self, seed: int) -> np.random.Generator:
        """The jitter stream of one simulated run."""
        return np.random.default_rng([seed, JITTER_STREAM_OFFSET])

    def duration(self, ops: Sequence[str], jitter: np.random.Generator) -> float:
        """One draw of the training time of ``ops`` (consumes one normal from ``jitter``)."""
        sigma = self.jitter_sigma
        factor = math.exp(sigma * float(jitter.standard_normal()) - sigma * sigma / 2)
        return self.expected_duration(ops) * factor


def _mean_relative_cost(overhead: float) -> float:
    per_op = [edge_macs(op) for op in NATS_OPERATIONS]
    # The edges are independent and uniform, so the mean MACs is the skeleton plus six times
    # the mean per edge; checked against an enumeration of the space in the tests.
    mean_macs = skeleton_macs() + len(NATS_EDGES) * sum(per_op) / len(per_op)
    return overhead + mean_macs / MAX_MACS
