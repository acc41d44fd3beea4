"""Mean ± s.e. and 90th percentile of the recommended incumbent's regret at 50, 100 and 300
evaluations, the share of seeds above TPE's 90th percentile at 100, the best architecture
evaluated by 100 and why the runs above that level are there, for comparison folders made by
``benchmarks.compare --problem nats-noisy``:

    python benchmarks/results/noise_tuning/summarize.py /tmp/tune/s0.3_*

After the first sampler, each line is followed by an exact McNemar test of its share above
TPE's 90th percentile against the first sampler's, paired by seed.
"""

from __future__ import annotations

from pathlib import Path
import sys
from typing import Any

import numpy as np
from scipy.stats import binomtest

from benchmarks.runner import load_run


# TPE's 90th percentile at 100 evaluations on both fresh seed sets (0.549, 0.548): a sampler
# whose share of seeds above it is at most 0.1 has a p90 at or below TPE's.
TAIL_LEVEL = 0.55


def regret_at(run: dict[str, Any], checkpoint: int) -> float:
    """The recommended incumbent's regret after ``checkpoint`` evaluations."""
    return float(run["optimum"] - run["mean_incumbent_true_value"][checkpoint - 1])


def summary(sampler_runs: Path) -> str:
    """One line for the runs of one sampler (``FOLDER/runs/SAMPLER``)."""
    runs = [load_run(path) for path in sorted(sampler_runs.glob("*.json"))]
    cells = []
    for checkpoint in (50, 100, 300):
        regret = np.array([regret_at(run, checkpoint) for run in runs])
        se = regret.std(ddof=1) / np.sqrt(len(regret))
        cells.append(
            f"@{checkpoint} {regret.mean():.3f} ± {se:.3f}, p90 {np.quantile(regret, 0.9):.3f}"
        )
    at_100 = np.array([regret_at(run, 100) for run in runs])
    cells.append(f"share @100 above {TAIL_LEVEL} {np.mean(at_100 > TAIL_LEVEL):.3f}")
    evaluated = np.array([run["optimum"] - max(run["true_values"][:100]) for run in runs])
    cells.append(
        f"best evaluated @100 {evaluated.mean():.3f}, p90 {np.quantile(evaluated, 0.9):.3f}"
    )
    # A run above the level either never evaluated an architecture within it (the search
    # failed) or did and recommended a worse one (the choice of incumbent failed).
    tail = at_100 > TAIL_LEVEL
    search = int(np.sum(tail & (evaluated > TAIL_LEVEL)))
    cells.append(f"tail runs: search {search}, choice {int(tail.sum()) - search}")
    label = f"{sampler_runs.parent.parent.name}/{sampler_runs.name}"
    return f"{label} ({len(runs)} seeds): " + " | ".join(cells)


def tail_by_seed(sampler_runs: Path) -> dict[int, bool]:
    """Whether each seed's regret at 100 exceeds :data:`TAIL_LEVEL`."""
    runs = [load_run(path) for path in sampler_runs.glob("*.json")]
    return {run["seed"]: regret_at(run, 100) > TAIL_LEVEL for run in runs}


def mcnemar_counts(a: dict[int, bool], b: dict[int, bool]) -> tuple[int, int, float]:
    """Seeds above the level only in ``a``, only in ``b``, and the exact McNemar p-value, over
    the seeds both have."""
    seeds = a.keys() & b.keys()
    only_first = sum(a[seed] and not b[seed] for seed in seeds)
    only_second = sum(b[seed] and not a[seed] for seed in seeds)
    discordant = only_first + only_second
    p = float(binomtest(only_first, discordant).pvalue) if discordant else 1.0
    return only_first, only_second, p


def mcnemar(first: Path, second: Path) -> str:
    """Exact McNemar test of the two samplers' tail shares, paired by seed."""
    a, b = tail_by_seed(first), tail_by_seed(second)
    seeds = a.keys() & b.keys()
    only_first, only_second, p = mcnemar_counts(a, b)
    return (
        f"  vs {first.name}: above {TAIL_LEVEL} only here {only_second}, only there "
        f"{only_first} ({len(seeds)} seeds), McNemar p = {p:.2g}"
    )


if __name__ == "__main__":
    # Each sampler's line; after the first, its tail share tested against the first's.
    folders = [runs for name in sys.argv[1:] for runs in sorted(Path(name).glob("runs/*/"))]
    for index, sampler_runs in enumerate(folders):
        print(summary(sampler_runs))
        if index:
            print(mcnemar(folders[0], sampler_runs))
