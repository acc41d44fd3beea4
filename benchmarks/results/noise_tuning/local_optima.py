"""The NATS-Bench table's local optima: architectures no single-edge change improves.

Evolution changes one edge per mutation, so a run whose population gathers around one of
these stops improving until a lucky walk of two or more changes leaves it. Run from the
repository root; with comparison folders (``benchmarks.compare`` on the same table) it also
prints, per sampler, the share of runs whose best evaluated architecture after 100
evaluations has the accuracy of a local optimum other than the optimum:

    PYTHONPATH=. python benchmarks/results/noise_tuning/local_optima.py \\
        ../shared/data/nats_tss_cifar10.csv [/tmp/tune/s03_base /tmp/tune/s03_tpe ...]
"""

from __future__ import annotations

import itertools
from pathlib import Path
import sys

from benchmarks.nats import format_arch
from benchmarks.nats import NATS_OPERATIONS
from benchmarks.nats import NatsTable
from benchmarks.runner import load_run


def local_optima(table: NatsTable) -> list[tuple[float, tuple[int, ...]]]:
    """``(regret, op indices)`` of every local optimum, nearest the optimum first."""
    accuracy = table.accuracy
    num_ops, num_edges = len(NATS_OPERATIONS), accuracy.ndim
    found = []
    for index in itertools.product(range(num_ops), repeat=num_edges):
        neighbours = (
            (*index[:edge], op, *index[edge + 1 :])
            for edge in range(num_edges)
            for op in range(num_ops)
            if op != index[edge]
        )
        if all(accuracy[neighbour] <= accuracy[index] for neighbour in neighbours):
            found.append((table.best - float(accuracy[index]), index))
    return sorted(found)


def share_on_local_optima(sampler_runs: Path, accuracies: set[float]) -> float:
    """The share of runs whose best evaluated accuracy by 100 is one of ``accuracies``."""
    runs = [load_run(path) for path in sampler_runs.glob("*.json")]
    return sum(max(run["true_values"][:100]) in accuracies for run in runs) / len(runs)


if __name__ == "__main__":
    table = NatsTable.from_csv(sys.argv[1])
    found = local_optima(table)
    for regret, index in found:
        print(f"{regret:.3f}  {format_arch([NATS_OPERATIONS[op] for op in index])}")
    trapping = {float(table.accuracy[index]) for _, index in found} - {table.best}
    for folder in sys.argv[2:]:
        for sampler_runs in sorted(Path(folder).glob("runs/*/")):
            share = share_on_local_optima(sampler_runs, trapping)
            print(
                f"{folder}/{sampler_runs.name}: best evaluated by 100 on a local optimum "
                f"{share:.3f}"
            )
