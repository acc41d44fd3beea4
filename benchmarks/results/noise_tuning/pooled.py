"""One sampler against another over the seeds of several ``benchmarks.compare --problem
nats-noisy`` folders pooled, for a tail share too small to judge on one seed set:

    PYTHONPATH=. python benchmarks/results/noise_tuning/pooled.py amoeba tpe /tmp/pool/s03_*

For 100 and 300 evaluations: each sampler's mean regret ± s.e., 90th percentile, worst seed
and share of seeds above :data:`summarize.TAIL_LEVEL`, then the paired Wilcoxon test of the
regrets and the exact McNemar test of the shares (paired by seed).
"""

from __future__ import annotations

from pathlib import Path
import sys

import numpy as np
from scipy.stats import wilcoxon
from summarize import mcnemar_counts
from summarize import regret_at
from summarize import TAIL_LEVEL

from benchmarks.runner import load_run
from benchmarks.runner import sampler_dir_name


def regrets(label: str, folders: list[str], checkpoint: int) -> dict[int, float]:
    """Regret of ``label``'s recommended incumbent after ``checkpoint`` evaluations, by seed."""
    paths = [
        path
        for folder in folders
        for path in (Path(folder) / "runs" / sampler_dir_name(label)).glob("*.json")
    ]
    return {run["seed"]: regret_at(run, checkpoint) for run in map(load_run, paths)}


def describe(label: str, values: np.ndarray) -> str:
    se = values.std(ddof=1) / np.sqrt(len(values))
    return (
        f"{label} {values.mean():.3f} ± {se:.3f}, p90 {np.quantile(values, 0.9):.3f}, "
        f"worst {values.max():.3f}, above {TAIL_LEVEL} {np.mean(values > TAIL_LEVEL):.3f}"
    )


if __name__ == "__main__":
    first, second, folders = sys.argv[1], sys.argv[2], sys.argv[3:]
    for checkpoint in (100, 300):
        a, b = regrets(first, folders, checkpoint), regrets(second, folders, checkpoint)
        seeds = sorted(a.keys() & b.keys())
        x, y = np.array([a[s] for s in seeds]), np.array([b[s] for s in seeds])
        only_first, only_second, mcnemar = mcnemar_counts(
            {seed: a[seed] > TAIL_LEVEL for seed in seeds},
            {seed: b[seed] > TAIL_LEVEL for seed in seeds},
        )
        print(
            f"@{checkpoint}, {len(seeds)} seeds: {describe(first, x)} | {describe(second, y)} | "
            f"Wilcoxon p = {wilcoxon(x, y).pvalue:.2g}, McNemar p = {mcnemar:.2g} "
            f"({only_first} above only for {first}, {only_second} only for {second})"
        )
