"""Several asynchronous comparisons of one design, summarized as one.

``python -m benchmarks.async_pool SOURCE [SOURCE ...] --out OUT`` reads the ``meta.json`` and
``runs/`` of each SOURCE folder of ``benchmarks.asynchronous``, keeps the samplers and worker
counts that every source ran, joins their seeds and writes ``OUT/README.md``,
``OUT/summary.json`` and the two plots, as ``benchmarks.async_report`` does for one folder
(the runs stay in the sources). Pooling is how a second seed set adds to a first one without
choosing between them: the sources must share the design (problem, budget, cost model,
first wave, target, checkpoints and each kept sampler's settings) and no seed.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Sequence
import json
from pathlib import Path
import shlex
import sys
from typing import Any

import numpy as np

from benchmarks.async_report import AsyncComparison
from benchmarks.async_report import command_plots_and_tables
from benchmarks.async_report import first_wave_mode
from benchmarks.async_report import load_async_comparison
from benchmarks.async_report import plot_regret_time
from benchmarks.async_report import plot_speedup
from benchmarks.async_report import README_FILE
from benchmarks.async_report import REGRET_PLOT
from benchmarks.async_report import SPEEDUP_PLOT
from benchmarks.async_report import summarize_async
from benchmarks.async_report import SUMMARY_FILE
from benchmarks.async_report import title
from benchmarks.report import machine_and_versions
from benchmarks.report import write_and_report


PROG = "python -m benchmarks.async_pool"
# The configuration entries that make two comparisons one design.
DESIGN_KEYS = ("problem", "trainings", "cost", "target", "checkpoints")


def pool_comparisons(comparisons: Sequence[AsyncComparison]) -> AsyncComparison:
    """One comparison of every seed of ``comparisons``, over the samplers and worker counts
    they all ran (in the first one's order).

    Raises:
        ValueError: no comparison; two that differ in design or a shared sampler's
            settings; no sampler or worker count in common; a seed in two of them.
    """
    if not comparisons:
        raise ValueError("no comparison to pool")
    first = comparisons[0]
    config = first.meta["config"]
    specs = {spec["label"]: spec for spec in config["samplers"]}
    for other in comparisons[1:]:
        where = f"{other.meta['out']} and {first.meta['out']}"
        for key in DESIGN_KEYS:
            if other.meta["config"].get(key) != config.get(key):
                raise ValueError(f"{where} differ in {key}: not one design")
        if first_wave_mode(other) != first_wave_mode(first):
            raise ValueError(f"{where} differ in first_wave: not one design")
        for spec in other.meta["config"]["samplers"]:
            label = spec["label"]
            if label in specs and (
                spec != specs[label] or _settings(other, label) != _settings(first, label)
            ):
                raise ValueError(f"{where} differ in sampler {label!r}'s settings")
    labels = [label for label in first.labels if all(label in c.labels for c in comparisons)]
    workers = [k for k in first.workers if all(k in c.workers for c in comparisons)]
    if not labels or not workers:
        raise ValueError("the comparisons have no sampler or no worker count in common")
    seeds = [seed for comparison in comparisons for seed in comparison.seeds]
    repeated = sorted(seed for seed, count in Counter(seeds).items() if count > 1)
    if repeated:
        raise ValueError(f"seeds in more than one comparison: {repeated[:5]}")

    def joined(field: str) -> dict[tuple[str, int], np.ndarray]:
        return {
            (label, k): np.concatenate([getattr(c, field)[(label, k)] for c in comparisons])
            for label in labels
            for k in workers
        }

    pooled_config = {
        **config,
        "samplers": [specs[label] for label in labels],
        "workers": workers,
        "seeds": seeds,
        "first_wave": first_wave_mode(first),
    }
    return AsyncComparison(
        meta={"config": pooled_config, "sources": [c.meta for c in comparisons]},
        labels=labels,
        targets={label: first.targets[label] for label in labels},
        workers=workers,
        seeds=seeds,
        noisy=first.noisy,
        horizon={k: first.horizon[k] for k in workers},
        grid={k: first.grid[k] for k in workers},
        regret=joined("regret"),
        first_wave=joined("first_wave"),
        trials=joined("trials"),
        sampler_ms_per_trial=joined("sampler_ms_per_trial"),
    )


def _settings(comparison: AsyncComparison, label: str) -> Any:
    """The constructor arguments ``label``'s sampler ran with, defaults filled in."""
    return comparison.meta.get("sampler_settings", {}).get(label)


def _readme(pooled: AsyncComparison, summary: dict[str, Any], command: str) -> str:
    lines = [
        f"# Asynchronous workers, simulated, pooled: {title(pooled)}",
        "",
        f"{len(pooled.seeds)} seeds from {len(pooled.meta['sources'])} comparisons of one "
        f"design; workers K = {', '.join(map(str, pooled.workers))}; first wave "
        f"{summary['first_wave']}; incumbent: {summary['incumbent']}. Written by",
        "",
        *command_plots_and_tables(command, summary),
    ]
    for source in pooled.meta["sources"]:
        seeds = source["config"]["seeds"]
        lines += [
            f"## Source `{source['out']}`: seeds {seeds[0]}-{seeds[-1]}",
            "",
            "```",
            source["command"],
            "```",
            "",
            *machine_and_versions(source),
        ]
    return "\n".join(lines) + "\n"


def write_pooled_report(sources: Sequence[Path], out: Path, command: str) -> dict[str, Any]:
    """Pool the comparisons in ``sources`` and write their report to ``out``."""
    pooled = pool_comparisons([load_async_comparison(source) for source in sources])
    summary = summarize_async(pooled)
    out.mkdir(parents=True, exist_ok=True)
    plot_regret_time(pooled, summary, out / REGRET_PLOT)
    plot_speedup(pooled, summary, out / SPEEDUP_PLOT)
    (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=1) + "\n")
    (out / README_FILE).write_text(_readme(pooled, summary, command))
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog=PROG, description="Summarize several asynchronous comparisons of one design as one."
    )
    parser.add_argument("sources", type=Path, nargs="+", help="--out folders to pool")
    parser.add_argument("--out", type=Path, required=True, help="folder for the pooled report")
    args = parser.parse_args(arguments)
    if args.out in args.sources:
        print(f"{PROG}: --out {args.out} is one of the sources", file=sys.stderr)
        return 2
    command = f"{PROG} {shlex.join(arguments)}"
    return write_and_report(
        PROG, args.out, lambda: write_pooled_report(args.sources, args.out, command)
    )


if __name__ == "__main__":
    sys.exit(main())
