"""Mean ± s.e. and 90th percentile of the recommended incumbent's regret at 50, 100 and 300
evaluations, and of the best architecture evaluated by 100, for comparison folders made by
``benchmarks.compare --problem nats-noisy``:

    python benchmarks/results/noise_tuning/summarize.py /tmp/tune/s0.3_*
"""

from __future__ import annotations

from pathlib import Path
import sys

import numpy as np

from benchmarks.runner import load_run


def summary(sampler_runs: Path) -> str:
    """One line for the runs of one sampler (``FOLDER/runs/SAMPLER``)."""
    runs = [load_run(path) for path in sorted(sampler_runs.glob("*.json"))]
    cells = []
    for checkpoint in (50, 100, 300):
        regret = np.array(
            [run["optimum"] - run["mean_incumbent_true_value"][checkpoint - 1] for run in runs]
        )
        se = regret.std(ddof=1) / np.sqrt(len(regret))
        cells.append(
            f"@{checkpoint} {regret.mean():.3f} ± {se:.3f}, p90 {np.quantile(regret, 0.9):.3f}"
        )
    evaluated = np.array([run["optimum"] - max(run["true_values"][:100]) for run in runs])
    cells.append(
        f"best evaluated @100 {evaluated.mean():.3f}, p90 {np.quantile(evaluated, 0.9):.3f}"
    )
    label = f"{sampler_runs.parent.parent.name}/{sampler_runs.name}"
    return f"{label} ({len(runs)} seeds): " + " | ".join(cells)


if __name__ == "__main__":
    for name in sys.argv[1:]:
        for sampler_runs in sorted(Path(name).glob("runs/*/")):
            print(summary(sampler_runs))
