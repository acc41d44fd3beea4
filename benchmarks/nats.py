"""The NATS-Bench topology search space (the NAS-Bench-201 cell) as a tabular problem.

A cell has four nodes; node ``j`` sums one operation applied to each earlier node ``i``, so
there are six edges ``(j, i)`` with ``0 <= i < j <= 3``, each one of five operations: 5**6 =
15,625 architectures. NATS-Bench writes an architecture as
``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``: one ``+``-separated group per node 1..3, one
``op~i`` entry per input node ``i`` (Dong et al., "NATS-Bench", TPAMI 2021).

Trials see six categorical parameters ``edge_<j>_<i>`` (``edge_1_0`` ... ``edge_3_2``).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
import math
from pathlib import Path

import numpy as np
import optuna


# NATS-Bench's own order of the topology operations.
NATS_OPERATIONS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
NATS_EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
EDGE_PARAMS = tuple(f"edge_{node}_{source}" for node, source in NATS_EDGES)
_REQUIRED_COLUMNS = ("arch", "test_accuracy")


def parse_arch(arch: str) -> tuple[str, ...]:
    """The six edge operations of a NATS-Bench string, in the order of :data:`EDGE_PARAMS`."""
    groups = arch.strip().split("+")
    if len(groups) != 3:
        raise ValueError(f"expected 3 '+'-separated node groups in {arch!r}, got {len(groups)}")
    ops: list[str] = []
    for node, group in enumerate(groups, start=1):
        if not (group.startswith("|") and group.endswith("|")):
            raise ValueError(f"node group {group!r} of {arch!r} must be enclosed in '|'")
        entries = group[1:-1].split("|")
        if len(entries) != node:
            raise ValueError(
                f"node {node} of {arch!r} must have {node} input edge(s), got {len(entries)}"
            )
        for source, entry in enumerate(entries):
            op, sep, index = entry.partition("~")
            if not sep or index != str(source):
                raise ValueError(f"edge {entry!r} of {arch!r} must be written 'op~{source}'")
            if op not in NATS_OPERATIONS:
                raise ValueError(
                    f"operation {op!r} in {arch!r} is not one of {', '.join(NATS_OPERATIONS)}"
                )
            ops.append(op)
    return tuple(ops)


def format_arch(ops: tuple[str, ...] | list[str]) -> str:
    """The NATS-Bench string of six edge operations (inverse of :func:`parse_arch`)."""
    if len(ops) != len(NATS_EDGES):
        raise ValueError(f"expected {len(NATS_EDGES)} edge operations, got {len(ops)}")
    groups = []
    start = 0
    for node in range(1, 4):
        entries = [f"{op}~{source}" for source, op in enumerate(ops[start : start + node])]
        groups.append("|" + "|".join(entries) + "|")
        start += node
    return "+".join(groups)


@dataclass(frozen=True)
class NatsTable:
    """Accuracy (%) of every architecture, indexed by the six edges' operation indices."""

    accuracy: np.ndarray
    source: str

    @classmethod
    def from_csv(cls, path: str | Path) -> NatsTable:
        """Read a table with columns ``arch`` and ``test_accuracy`` covering all 15,625 cells.

        Raises:
            ValueError: The file is missing, lacks a column, has a malformed or repeated
                architecture, a non-finite accuracy, or does not cover the whole space.
        """
        file = Path(path)
        if not file.is_file():
            raise ValueError(f"NATS-Bench table {str(file)!r} does not exist or is not a file")
        accuracy = np.full((len(NATS_OPERATIONS),) * len(NATS_EDGES), np.nan)
        op_index = {op: i for i, op in enumerate(NATS_OPERATIONS)}
        with file.open(newline="") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in _REQUIRED_COLUMNS if c not in (reader.fieldnames or ())]
            if missing:
                raise ValueError(
                    f"NATS-Bench table {str(file)!r} lacks column(s) {', '.join(missing)}; "
                    f"required: {', '.join(_REQUIRED_COLUMNS)}"
                )
            for line, row in enumerate(reader, start=2):
                try:
                    ops = parse_arch(row["arch"])
                    value = float(row["test_accuracy"])
                except ValueError as error:
                    raise ValueError(f"{file}:{line}: {error}") from None
                if not math.isfinite(value):
                    raise ValueError(f"{file}:{line}: test_accuracy must be finite, got {value}")
                index = tuple(op_index[op] for op in ops)
                if not np.isnan(accuracy[index]):
                    raise ValueError(f"{file}:{line}: architecture {row['arch']!r} repeated")
                accuracy[index] = value
        num_missing = int(np.isnan(accuracy).sum())
        if num_missing:
            raise ValueError(
                f"NATS-Bench table {str(file)!r} covers {accuracy.size - num_missing} of the "
                f"{accuracy.size} architectures; all are required"
            )
        return cls(accuracy=accuracy, source=str(file))

    @property
    def best(self) -> float:
        return float(self.accuracy.max())

    def lookup(self, params: dict[str, str]) -> float:
        """Accuracy of the architecture given as ``edge_<j>_<i>`` parameters."""
        index = tuple(NATS_OPERATIONS.index(params[name]) for name in EDGE_PARAMS)
        return float(self.accuracy[index])


def suggest_nats_arch(trial: optuna.Trial) -> dict[str, str]:
    """Suggest the six edges of a NATS-Bench topology cell."""
    return {name: trial.suggest_categorical(name, NATS_OPERATIONS) for name in EDGE_PARAMS}
