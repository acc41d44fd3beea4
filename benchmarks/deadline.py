"""Which NATS-Bench cells can finish by a deadline, under the asynchronous simulator's cost
model: the reading behind a checkpoint where every sampler still rests on its first wave.

    python -m benchmarks.deadline --data ../shared/data/nats_tss_cifar10.csv \
        --regret 0.44 --deadline 1.95

For the cells within ``--regret`` of the table's optimum: how many there are, how many 3x3
convolutions they hold at least, their shortest expected training time and the latest start
that still finishes by ``--deadline``; and, for comparison, the fastest cell with a 3x3
convolution and the best cell without one. Times are in average trainings
(:class:`benchmarks.nats_cost.TrainingCostModel`), also with a jitter two standard
deviations short.
"""

from __future__ import annotations

from collections.abc import Sequence
import itertools
import math

import numpy as np

from benchmarks._cli import non_negative_float
from benchmarks._cli import OneLineErrorParser
from benchmarks._cli import positive_float
from benchmarks.nats import NATS_EDGES
from benchmarks.nats import NATS_OPERATIONS
from benchmarks.nats import NatsTable
from benchmarks.nats_cost import TrainingCostModel


CONVOLUTION = "nor_conv_3x3"


def deadline_lines(
    table: NatsTable, cost: TrainingCostModel, regret: float, deadline: float
) -> list[str]:
    """The report's lines (see the module docstring)."""
    cells = list(itertools.product(NATS_OPERATIONS, repeat=len(NATS_EDGES)))
    accuracy = np.array(
        [table.accuracy[tuple(NATS_OPERATIONS.index(op) for op in cell)] for cell in cells]
    )
    duration = np.array([cost.expected_duration(cell) for cell in cells])
    convolutions = np.array([cell.count(CONVOLUTION) for cell in cells])
    short = math.exp(-2 * cost.jitter_sigma - cost.jitter_sigma**2 / 2)
    near = table.best - accuracy <= regret
    fastest_near = float(duration[near].min())
    fastest_convolution = float(duration[convolutions > 0].min())
    best_without = float(table.best - accuracy[convolutions == 0].max())
    return [
        f"cells within {regret:g} of the optimum: {int(near.sum())} of {len(cells)}, "
        f"each with at least {int(convolutions[near].min())} {CONVOLUTION}",
        f"their shortest training: {fastest_near:.3f} ({fastest_near * short:.3f} with a "
        "jitter two sigma short)",
        f"latest start to finish by {deadline:g}: {deadline - fastest_near:.3f} "
        f"({deadline - fastest_near * short:.3f})",
        f"fastest cell with a {CONVOLUTION}: {fastest_convolution:.3f} "
        f"({fastest_convolution * short:.3f})",
        f"best cell without one: {best_without:.3f} from the optimum",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = OneLineErrorParser(
        prog="python -m benchmarks.deadline", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--data", required=True, help="the NATS-Bench CSV")
    parser.add_argument("--regret", type=non_negative_float, required=True)
    parser.add_argument("--deadline", type=positive_float, required=True)
    parser.add_argument("--overhead", type=non_negative_float, default=0.5)
    parser.add_argument("--jitter-sigma", type=non_negative_float, default=0.1)
    args = parser.parse_args(argv)
    try:
        table = NatsTable.from_csv(args.data)
    except ValueError as error:
        parser.error(str(error))
    cost = TrainingCostModel(overhead=args.overhead, jitter_sigma=args.jitter_sigma)
    print("\n".join(deadline_lines(table, cost, args.regret, args.deadline)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
