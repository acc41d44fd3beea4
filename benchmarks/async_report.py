"""Tables, plots and summary of a simulated asynchronous comparison.

``python -m benchmarks.async_report DIR`` rebuilds ``DIR/README.md``, ``DIR/summary.json``,
``DIR/regret_time.png`` and ``DIR/speedup.png`` from ``DIR/meta.json`` and ``DIR/runs/``.

Regret at simulated time t: the run's regret after its last trial completed by t (before
the first completion there is none, and the mean over seeds is drawn only where every seed
has one). Time to target: the first time on a grid of ``GRID_POINTS`` steps over the budget
at which the mean regret over seeds is at or below the target. Speed-up at K workers: the
time to target with the fewest workers compared, times that worker count, over the time to
target with K (ideal: K).
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
import json
import math
from pathlib import Path
import sys
from typing import Any

import numpy as np

from benchmarks.async_sim import META_FILE
from benchmarks.async_sim import run_path
from benchmarks.report import format_p
from benchmarks.report import machine_and_versions
from benchmarks.report import paired_wilcoxon
from benchmarks.report import rebuild_report_main
from benchmarks.report import standard_error
from benchmarks.runner import load_run


GRID_POINTS = 400
README_FILE = "README.md"
SUMMARY_FILE = "summary.json"
REGRET_PLOT = "regret_time.png"
SPEEDUP_PLOT = "speedup.png"
TPE_TARGET = "optuna.samplers:TPESampler"


@dataclass(frozen=True)
class AsyncComparison:
    meta: dict[str, Any]
    labels: list[str]
    targets: dict[str, str]  # label -> sampler class path
    workers: list[int]
    seeds: list[int]
    noisy: bool
    horizon: dict[int, float]
    grid: dict[int, np.ndarray]  # K -> times
    regret: dict[tuple[str, int], np.ndarray]  # (label, K) -> (seeds, grid), NaN before any
    # (label, K) -> (seeds, grid): 1 where the incumbent came from the first wave, NaN before any
    first_wave: dict[tuple[str, int], np.ndarray]
    trials: dict[tuple[str, int], np.ndarray]  # (label, K) -> completed trials per seed
    sampler_ms_per_trial: dict[tuple[str, int], np.ndarray]


def on_grid(finish: Sequence[float], values: Sequence[float], grid: np.ndarray) -> np.ndarray:
    """A run's value after its last completion by each grid time (its regret, say; NaN
    before its first completion)."""
    times = np.asarray(finish, dtype=float)
    points = np.asarray(values, dtype=float)
    index = np.searchsorted(times, grid, side="right") - 1
    out = np.full(grid.shape, np.nan)
    seen = index >= 0
    out[seen] = points[index[seen]]
    return out


def load_async_comparison(out: Path) -> AsyncComparison:
    """Read ``meta.json`` and every run it lists.

    Raises:
        ValueError: ``meta.json`` or a run is missing.
    """
    meta_path = out / META_FILE
    if not meta_path.is_file():
        raise ValueError(f"{meta_path} not found: not an asynchronous comparison folder")
    meta: dict[str, Any] = json.loads(meta_path.read_text())
    config = meta["config"]
    labels = [s["label"] for s in config["samplers"]]
    workers = [int(k) for k in config["workers"]]
    seeds = [int(s) for s in config["seeds"]]
    noisy = config["problem"]["name"] == "nats-noisy"
    incumbent = "by_mean" if noisy else "best_observed"
    horizon = {k: float(config["trainings"]) / k for k in workers}
    grid = {k: np.linspace(0.0, horizon[k], GRID_POINTS + 1)[1:] for k in workers}
    regret: dict[tuple[str, int], np.ndarray] = {}
    first_wave: dict[tuple[str, int], np.ndarray] = {}
    trials: dict[tuple[str, int], np.ndarray] = {}
    sampler_ms: dict[tuple[str, int], np.ndarray] = {}
    for label in labels:
        for k in workers:
            rows, waves, counts, costs = [], [], [], []
            for seed in seeds:
                path = run_path(out, label, k, seed)
                if not path.is_file():
                    raise ValueError(f"run {path} is missing; rerun the comparison to complete it")
                record = load_run(path)
                rows.append(on_grid(record["finish"], record[f"regret_{incumbent}"], grid[k]))
                waves.append(on_grid(record["finish"], record[f"first_wave_{incumbent}"], grid[k]))
                counts.append(record["trials"])
                costs.append(1e3 * record["sampler_seconds"] / max(1, record["trials"]))
            regret[(label, k)] = np.array(rows)
            first_wave[(label, k)] = np.array(waves)
            trials[(label, k)] = np.array(counts)
            sampler_ms[(label, k)] = np.array(costs)
    return AsyncComparison(
        meta=meta,
        labels=labels,
        targets={s["label"]: s["target"] for s in config["samplers"]},
        workers=workers,
        seeds=seeds,
        noisy=noisy,
        horizon=horizon,
        grid=grid,
        regret=regret,
        first_wave=first_wave,
        trials=trials,
        sampler_ms_per_trial=sampler_ms,
    )


def _mean_curve(values: np.ndarray) -> np.ndarray:
    """Mean over seeds where every seed has a value, NaN elsewhere."""
    complete = ~np.isnan(values).any(axis=0)
    mean = np.full(values.shape[1], np.nan)
    mean[complete] = values[:, complete].mean(axis=0)
    return mean


def time_to_target(grid: np.ndarray, mean: np.ndarray, target: float) -> float | None:
    reached = np.flatnonzero(mean <= target)
    return float(grid[reached[0]]) if len(reached) else None


def _at(
    comparison: AsyncComparison, label: str, k: int, fraction: float, first_wave: bool = False
) -> np.ndarray:
    """Regret of every seed at ``fraction`` of K's budget (last grid point at or before), or
    with ``first_wave`` whether its incumbent then came from the first wave."""
    grid = comparison.grid[k]
    index = int(np.searchsorted(grid, fraction * comparison.horizon[k] + 1e-9, side="right")) - 1
    curves = comparison.first_wave if first_wave else comparison.regret
    return curves[(label, k)][:, index]


def first_wave_mode(comparison: AsyncComparison) -> str:
    """``own`` (each sampler drew its first wave) or ``shared`` (common random numbers);
    comparisons from before the option are ``own``."""
    return str(comparison.meta["config"].get("first_wave", "own"))


def summarize_async(comparison: AsyncComparison) -> dict[str, Any]:
    """Every number the tables show, as JSON-ready data."""
    from scipy.stats import mannwhitneyu

    config = comparison.meta["config"]
    target = float(config["target"])
    fractions = [float(f) for f in config["checkpoints"]]
    first = comparison.labels[0]
    smallest = min(comparison.workers)
    cells: dict[str, Any] = {}
    for label in comparison.labels:
        per_k: dict[str, Any] = {}
        for k in comparison.workers:
            values = comparison.regret[(label, k)]
            mean = _mean_curve(values)
            reach = time_to_target(comparison.grid[k], mean, target)
            final = values[:, -1]
            at = {f: _at(comparison, label, k, f) for f in fractions}
            per_k[str(k)] = {
                "horizon": comparison.horizon[k],
                "mean_regret": {str(f): float(np.nanmean(v)) for f, v in at.items()},
                "se_regret": {str(f): standard_error(v[~np.isnan(v)]) for f, v in at.items()},
                "p90_regret": {str(f): float(np.nanpercentile(v, 90)) for f, v in at.items()},
                "first_wave_share": {
                    str(f): float(np.nanmean(_at(comparison, label, k, f, first_wave=True)))
                    for f in fractions
                },
                "time_to_target": reach,
                "seeds_reaching_target": float(np.mean(final <= target)),
                "mean_trials": float(comparison.trials[(label, k)].mean()),
                "sampler_ms_per_trial": float(comparison.sampler_ms_per_trial[(label, k)].mean()),
            }
        base = per_k[str(smallest)]["time_to_target"]
        for k in comparison.workers:
            reach = per_k[str(k)]["time_to_target"]
            per_k[str(k)]["speedup"] = (
                base * smallest / reach if base is not None and reach is not None else None
            )
        cells[label] = per_k

    first_wave = first_wave_mode(comparison)
    shared = first_wave == "shared"
    p_values: dict[str, dict[str, dict[str, float]]] = {}
    paired_p_values: dict[str, dict[str, dict[str, float]]] = {}
    for k in comparison.workers:
        for f in fractions:
            row: dict[str, float] = {}
            paired_row: dict[str, float] = {}
            mine = _at(comparison, first, k, f)
            for other in comparison.labels[1:]:
                theirs = _at(comparison, other, k, f)
                if np.isnan(mine).any() or np.isnan(theirs).any():
                    continue
                row[other] = float(mannwhitneyu(mine, theirs, alternative="two-sided").pvalue)
                if shared:
                    paired_row[other] = paired_wilcoxon(mine, theirs)
            p_values.setdefault(str(k), {})[str(f)] = row
            if shared:
                paired_p_values.setdefault(str(k), {})[str(f)] = paired_row

    tpe_labels = [
        label for label in comparison.labels[1:] if comparison.targets[label] == TPE_TARGET
    ]
    versus_tpe: dict[str, dict[str, bool]] = {}
    for k in comparison.workers:
        for f in fractions:
            mine = cells[first][str(k)]["mean_regret"][str(f)]
            versus_tpe.setdefault(str(k), {})[str(f)] = all(
                mine <= cells[other][str(k)]["mean_regret"][str(f)] for other in tpe_labels
            )
    return {
        "incumbent": "recommend_by_mean (best mean minus one pooled standard error)"
        if comparison.noisy
        else "best observed value",
        "target": target,
        "checkpoints": fractions,
        "workers": comparison.workers,
        "num_seeds": len(comparison.seeds),
        "samplers": cells,
        "first_wave": first_wave,
        "mann_whitney_p_vs_first": p_values,
        **({"wilcoxon_p_vs_first": paired_p_values} if shared else {}),
        "first": first,
        "tpe_variants": tpe_labels,
        "first_at_or_below_every_tpe": versus_tpe,
    }


def _time(value: float | None) -> str:
    return "not reached" if value is None else f"{value:.3g}"


def _sampler_by_workers_table(
    summary: dict[str, Any], heading: str, format_cell: Callable[[dict[str, Any]], str]
) -> list[str]:
    """A markdown table with a row a sampler and a column ``K=k: heading`` a worker count;
    each cell is ``format_cell`` of the sampler's summary at that worker count."""
    workers = summary["workers"]
    head = ["sampler"] + [f"K={k}: {heading}" for k in workers]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, per_workers in summary["samplers"].items():
        cells = [format_cell(per_workers[str(k)]) for k in workers]
        lines.append(f"| `{label}` | " + " | ".join(cells) + " |")
    return lines


def _speedup_cell(cell: dict[str, Any]) -> str:
    speedup = cell["speedup"]
    return (
        f"{_time(cell['time_to_target'])} / "
        f"{'-' if speedup is None else f'{speedup:.1f}x'} / "
        f"{cell['seeds_reaching_target']:.0%}"
    )


def _cost_cell(cell: dict[str, Any]) -> str:
    return f"{cell['mean_trials']:.0f} / {cell['sampler_ms_per_trial']:.2f}"


def _checkpoint_table(
    summary: dict[str, Any], heading: str, format_cell: Callable[[dict[str, Any], str], str]
) -> list[str]:
    """A markdown table with a row per worker count and sampler and a column
    ``{heading}@{f} budget`` per checkpoint f; each cell is ``format_cell`` of the sampler's
    summary at that worker count and the checkpoint's key."""
    fractions = summary["checkpoints"]
    head = ["K", "sampler"] + [f"{heading}@{f:g} budget" for f in fractions]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for k in summary["workers"]:
        for label, per_workers in summary["samplers"].items():
            cell = per_workers[str(k)]
            values = [format_cell(cell, str(f)) for f in fractions]
            lines.append(
                f"| {k} (t={cell['horizon']:.3g}) | `{label}` | " + " | ".join(values) + " |"
            )
    return lines


def markdown_tables(summary: dict[str, Any]) -> str:
    labels = list(summary["samplers"])
    workers = summary["workers"]
    fractions = summary["checkpoints"]
    target = summary["target"]
    first = summary["first"]
    shared = summary.get("first_wave") == "shared"
    lines = [
        "### Regret at equal wall-clock",
        "",
        "Mean ± s.e. over seeds (90th percentile in brackets) at fractions of each K's "
        "time budget; times in average trainings.",
        "",
    ]
    lines += _checkpoint_table(
        summary,
        "regret ",
        lambda cell, f: (
            f"{cell['mean_regret'][f]:.3f} ± {cell['se_regret'][f]:.3f} "
            f"({cell['p90_regret'][f]:.2f})"
        ),
    )
    lines += [
        "",
        "### Incumbents from the first wave",
        "",
        "Share of seeds whose incumbent at the checkpoint was first evaluated by a trial "
        "started at time 0, before any result"
        + (
            " (the same random draws for every sampler here: where it is 100% for two "
            "samplers, they are tied on those seeds)."
            if shared
            else " (a random draw for every sampler here): where it is near 100%, the "
            "checkpoint compares random draws, not samplers."
        ),
        "",
    ]
    lines += _checkpoint_table(summary, "", lambda cell, f: f"{cell['first_wave_share'][f]:.0%}")
    lines += [
        "",
        f"### Time to mean regret ≤ {target:g} and speed-up",
        "",
        f"Speed-up at K: time to target with K={workers[0]}, times {workers[0]}, over the time "
        "with K (ideal: K). 'reached': share of seeds at or below the target at the end of "
        "the budget.",
        "",
    ]
    lines += _sampler_by_workers_table(summary, "time / speed-up / reached", _speedup_cell)
    lines += [
        "",
        f"### `{first}` against each other sampler",
        "",
        "Two-sided Mann-Whitney U p-values over seeds"
        + (
            ", then paired Wilcoxon signed-rank p-values (pairs: the seed's runs, which share "
            "their first wave)"
            if shared
            else ""
        )
        + " (which side has the lower mean regret in "
        f"brackets). `{first}` at or below every TPE variant's mean regret: "
        + ", ".join(
            f"K={k}: "
            + "/".join(
                "yes" if summary["first_at_or_below_every_tpe"][str(k)][str(f)] else "no"
                for f in fractions
            )
            for k in workers
        )
        + f" (at {', '.join(f'{f:g}' for f in fractions)} of the budget).",
        "",
    ]
    head = ["K", f"`{first}` vs"] + [f"@{f:g} budget" for f in fractions]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for k in workers:
        for other in labels[1:]:
            cells = []
            for f in fractions:
                p = summary["mann_whitney_p_vs_first"][str(k)][str(f)].get(other)
                mine = summary["samplers"][first][str(k)]["mean_regret"][str(f)]
                theirs = summary["samplers"][other][str(k)]["mean_regret"][str(f)]
                side = first if mine < theirs else other if theirs < mine else "equal"
                if p is None:
                    cells.append("-")
                elif shared:
                    paired = summary["wilcoxon_p_vs_first"][str(k)][str(f)][other]
                    cells.append(f"{format_p(p)} / {format_p(paired)} ({side})")
                else:
                    cells.append(f"{format_p(p)} ({side})")
            lines.append(f"| {k} | `{other}` | " + " | ".join(cells) + " |")
    lines += [
        "",
        "### Trials and sampler cost",
        "",
        "Completed trials per run and the sampler's own time per trial (inside its methods, "
        "this machine), mean over seeds.",
        "",
    ]
    lines += _sampler_by_workers_table(summary, "trials / sampler ms", _cost_cell)
    return "\n".join(lines) + "\n"


def plot_regret_time(comparison: AsyncComparison, summary: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    floor = 1e-3
    workers = comparison.workers
    figure, axes = plt.subplots(
        1, len(workers), figsize=(4.2 * len(workers), 4.2), dpi=100, squeeze=False
    )
    for axis, k in zip(axes[0], workers, strict=True):
        grid = comparison.grid[k]
        for label in comparison.labels:
            values = comparison.regret[(label, k)]
            mean = _mean_curve(values)
            se = np.zeros_like(mean)
            if len(values) > 1:
                complete = ~np.isnan(mean)
                se[complete] = values[:, complete].std(axis=0, ddof=1) / math.sqrt(len(values))
            (line,) = axis.plot(grid, np.maximum(mean, floor), label=label, linewidth=1.5)
            axis.fill_between(
                grid,
                np.maximum(mean - se, floor),
                np.maximum(mean + se, floor),
                color=line.get_color(),
                alpha=0.2,
                linewidth=0,
            )
        axis.axhline(summary["target"], color="0.5", linestyle="--", linewidth=0.8)
        axis.set_yscale("log")
        axis.set_title(f"K = {k} workers", fontsize=10)
        axis.set_xlabel("simulated wall-clock (average trainings)")
        axis.grid(True, which="major", alpha=0.3)
    axes[0][0].set_ylabel(f"mean regret, incumbent by {summary['incumbent']}\n(accuracy points)")
    axes[0][0].legend(fontsize=8)
    figure.suptitle(
        f"{title(comparison)}; mean ± s.e. over {len(comparison.seeds)} seeds; "
        f"dashed: target {summary['target']:g}; regret < {floor:g} drawn at {floor:g}",
        fontsize=10,
    )
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def plot_speedup(comparison: AsyncComparison, summary: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workers = comparison.workers
    figure, axis = plt.subplots(figsize=(6, 4.5), dpi=100)
    axis.plot(workers, workers, "k--", linewidth=1, label="ideal")
    for label in comparison.labels:
        points = [
            (k, summary["samplers"][label][str(k)]["speedup"])
            for k in workers
            if summary["samplers"][label][str(k)]["speedup"] is not None
        ]
        if points:
            axis.plot(*zip(*points, strict=True), marker="o", label=label)
    axis.set_xscale("log", base=2)
    axis.set_yscale("log", base=2)
    axis.set_xlabel("workers K")
    axis.set_ylabel(f"speed-up to mean regret ≤ {summary['target']:g}")
    axis.set_title(f"{title(comparison)}\n{len(comparison.seeds)} seeds", fontsize=10)
    axis.grid(True, which="major", alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def title(comparison: AsyncComparison) -> str:
    """The problem, for a heading: the table and its noise."""
    problem = comparison.meta["config"]["problem"]
    sigma = problem.get("noise_sigma") or 0
    return "NATS-Bench CIFAR-10, " + (f"noise σ={sigma:g}" if sigma else "exact")


def command_plots_and_tables(command: str, summary: dict[str, Any]) -> list[str]:
    """README lines: the command that wrote the page, the two plots and the tables."""
    return [
        "```",
        command,
        "```",
        "",
        f"![regret against simulated wall-clock]({REGRET_PLOT})",
        "",
        f"![speed-up against workers]({SPEEDUP_PLOT})",
        "",
        markdown_tables(summary),
    ]


def _readme(comparison: AsyncComparison, summary: dict[str, Any]) -> str:
    meta = comparison.meta
    config = meta["config"]
    cost = config["cost"]
    lines = [
        f"# Asynchronous workers, simulated: {title(comparison)}",
        "",
        f"{len(comparison.seeds)} seeds ({comparison.seeds[0]}-{comparison.seeds[-1]}); "
        f"workers K = {', '.join(map(str, comparison.workers))}; budget "
        f"{config['trainings']:g} average trainings (K workers run for {config['trainings']:g}/K "
        f"time units); cost model overhead {cost['overhead']:g}, jitter σ "
        f"{cost['jitter_sigma']:g}; incumbent: {summary['incumbent']}"
        + (
            "; first wave shared: every sampler's run of a seed starts from the same K "
            "uniform random cells (`--first-wave shared`, common random numbers)."
            if summary.get("first_wave") == "shared"
            else "."
        ),
        "",
        *command_plots_and_tables(meta["command"], summary),
        *machine_and_versions(meta),
        "Rebuild this page from the run files: "
        f"`python -m benchmarks.async_report {meta['out']}`.",
    ]
    return "\n".join(lines) + "\n"


def write_async_report(out: Path) -> dict[str, Any]:
    comparison = load_async_comparison(out)
    summary = summarize_async(comparison)
    plot_regret_time(comparison, summary, out / REGRET_PLOT)
    plot_speedup(comparison, summary, out / SPEEDUP_PLOT)
    (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=1) + "\n")
    (out / README_FILE).write_text(_readme(comparison, summary))
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    return rebuild_report_main(
        argv,
        module="benchmarks.async_report",
        description="Rebuild an asynchronous comparison's tables and plots from its runs.",
        out_help="the --out folder of benchmarks.asynchronous",
        write=write_async_report,
    )


if __name__ == "__main__":
    sys.exit(main())
