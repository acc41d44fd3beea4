"""Helpers shared by the benchmark tests: a small, complete NATS-Bench-like table."""

from __future__ import annotations

import itertools
from pathlib import Path

from benchmarks.nats import format_arch
from benchmarks.nats import NATS_OPERATIONS


# The table's single best architecture: all 3x3 convolutions.
BEST_OPS = ("nor_conv_3x3",) * 6


def fake_accuracy(indices: tuple[int, ...]) -> float:
    """A made-up accuracy with one optimum, at every edge ``nor_conv_3x3`` (index 3)."""
    score = sum(4.0 - abs(index - 3) for index in indices) + 0.01 * sum(
        i * index for i, index in enumerate(indices)
    )
    return round(60.0 + score, 4)


def write_fake_table(path: Path) -> Path:
    """All 15,625 architectures with :func:`fake_accuracy`, in NATS-Bench's CSV form."""
    rows = ["arch,test_accuracy"]
    for indices in itertools.product(range(len(NATS_OPERATIONS)), repeat=6):
        ops = tuple(NATS_OPERATIONS[i] for i in indices)
        rows.append(f"{format_arch(ops)},{fake_accuracy(indices):.4f}")
    path.write_text("\n".join(rows) + "\n")
    return path
