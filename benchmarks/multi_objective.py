"""Two-objective comparisons (accuracy against size): the runs and their hypervolume report.

``python -m benchmarks.compare --problem nats-size ...`` runs each (sampler, seed) through
:func:`execute` and writes the report with :func:`write_report`;
``python -m benchmarks.multi_objective DIR`` rebuilds the report from ``DIR/runs/``.

Quality of a run after ``n`` evaluations: the hypervolume of everything evaluated so far (its
non-dominated set) in normalised loss space, accuracy loss = (best - accuracy) / (best -
worst) and size loss = (parameters - smallest) / (largest - smallest) over the whole table,
with the reference point (1, 1): the worst accuracy and the largest network. The table's own
Pareto front reaches the largest hypervolume possible; the gap to it is plotted on a log axis.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
import json
import math
import operator
from pathlib import Path
import sys
import time
from typing import Any
import warnings

import numpy as np
import optuna
from optuna.study import StudyDirection

from benchmarks.hypervolume import hypervolume_2d
from benchmarks.hypervolume import hypervolume_history
from benchmarks.nats_size import load_size_problem
from benchmarks.nats_size import NatsSizeProblem
from benchmarks.nats_size import SIZE_OBJECTIVES
from benchmarks.problems import ProblemSpec
from benchmarks.report import format_milliseconds
from benchmarks.report import load_saved_runs
from benchmarks.report import machine_and_versions
from benchmarks.report import provenance_lines
from benchmarks.report import README_FILE
from benchmarks.report import rebuild_report_main
from benchmarks.report import standard_error
from benchmarks.report import SUMMARY_FILE
from benchmarks.report import versus_first_table
from benchmarks.runner import RUN_FORMAT
from benchmarks.runner import RunTask
from benchmarks.samplers import SamplerClock


REFERENCE_POINT = (1.0, 1.0)
DIRECTIONS = (StudyDirection.MAXIMIZE, StudyDirection.MINIMIZE)
HYPERVOLUME_PLOT = "hypervolume.png"
FRONT_PLOT = "pareto_front.png"
# Accuracy (%) below this is left out of the Pareto-front picture (it would squash the axis).
_FRONT_PLOT_MIN_ACCURACY = 80.0


def build_size_problem(spec: ProblemSpec) -> NatsSizeProblem:
    """The problem of ``spec`` (``nats-size``), its table read and checked."""
    if spec.name != "nats-size" or spec.data is None:
        raise ValueError(f"expected problem 'nats-size' with a table, got {spec.name!r}")
    return load_size_problem(spec.data)


def execute(task: RunTask) -> dict[str, Any]:
    """Run ``task`` on a two-objective study; return its record.

    Fields beyond the task's configuration: ``values`` (accuracy, parameters in millions) per
    evaluation; ``hypervolume`` after each evaluation; ``max_hypervolume`` (the table's
    front); ``front_points_found`` after each evaluation (how many of the table's Pareto-optimal
    (accuracy, size) pairs were evaluated); ``table_front``; wall and sampler seconds.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    problem = build_size_problem(task.problem)
    sampler = task.sampler.build(task.seed)
    clock = SamplerClock.attach(sampler)
    study = optuna.create_study(directions=list(DIRECTIONS), sampler=sampler)
    started = time.perf_counter()
    study.optimize(problem.evaluate, n_trials=task.n_trials)
    wall_seconds = time.perf_counter() - started
    values = [trial.values for trial in study.trials if trial.values is not None]
    if len(values) != task.n_trials:
        raise RuntimeError(
            f"{task.sampler.label} seed {task.seed}: {len(values)} of {task.n_trials} "
            "trials returned values"
        )
    front = problem.pareto_front()
    front_keys = {tuple(point) for point in front.tolist()}
    found: set[tuple[float, ...]] = set()
    front_points_found = []
    for point in values:
        if tuple(point) in front_keys:
            found.add(tuple(point))
        front_points_found.append(len(found))
    history = hypervolume_history(problem.losses(np.array(values)), REFERENCE_POINT)
    return {
        "format": RUN_FORMAT,
        **task.config(),
        "objectives": list(SIZE_OBJECTIVES),
        "directions": [direction.name.lower() for direction in DIRECTIONS],
        "reference_point": list(REFERENCE_POINT),
        "values": [[round(v, 6) for v in point] for point in values],
        "hypervolume": [round(float(v), 9) for v in history],
        "max_hypervolume": hypervolume_2d(problem.losses(front), REFERENCE_POINT),
        "front_points_found": front_points_found,
        "table_front": front.tolist(),
        "wall_seconds": round(wall_seconds, 4),
        "sampler_seconds": round(clock.seconds, 4),
    }


@dataclass(frozen=True)
class MultiObjectiveComparison:
    """Runs of several samplers on one two-objective problem over the same seeds."""

    meta: dict[str, Any]
    labels: list[str]
    seeds: list[int]
    checkpoints: list[int]
    hypervolume: dict[str, np.ndarray]  # label -> (seeds, n_trials)
    front_points_found: dict[str, np.ndarray]  # label -> (seeds, n_trials)
    wall_per_trial: dict[str, np.ndarray]  # label -> (seeds,)
    sampler_per_trial: dict[str, np.ndarray]  # label -> (seeds,)
    max_hypervolume: float
    table_front: np.ndarray
    example_values: dict[str, np.ndarray]  # label -> (n_trials, 2), the first seed's run


def _check_two_objective_run(path: Path, record: dict[str, Any], n_trials: int) -> None:
    if len(record.get("hypervolume") or ()) != n_trials:
        raise ValueError(f"run {path} is not a {n_trials}-evaluation two-objective run")


def load_comparison(out_dir: Path) -> MultiObjectiveComparison:
    """Read ``meta.json`` and every run it lists.

    Raises:
        ValueError: ``meta.json`` or a run is missing or does not match.
    """
    saved = load_saved_runs(out_dir, _check_two_objective_run)
    records, n_trials = saved.records, saved.n_trials
    first = records[saved.labels[0]][0]
    return MultiObjectiveComparison(
        meta=saved.meta,
        labels=saved.labels,
        seeds=saved.seeds,
        checkpoints=[int(c) for c in saved.meta["config"]["checkpoints"]],
        hypervolume={
            label: np.array([r["hypervolume"] for r in runs], dtype=float)
            for label, runs in records.items()
        },
        front_points_found={
            label: np.array([r["front_points_found"] for r in runs], dtype=float)
            for label, runs in records.items()
        },
        wall_per_trial={
            label: np.array([r["wall_seconds"] / n_trials for r in runs])
            for label, runs in records.items()
        },
        sampler_per_trial={
            label: np.array([r["sampler_seconds"] / n_trials for r in runs])
            for label, runs in records.items()
        },
        max_hypervolume=float(first["max_hypervolume"]),
        table_front=np.array(first["table_front"], dtype=float),
        example_values={
            label: np.array(runs[0]["values"], dtype=float) for label, runs in records.items()
        },
    )


def summarize(comparison: MultiObjectiveComparison) -> dict[str, Any]:
    """Every number the tables show, as JSON-ready data."""
    from scipy.stats import mannwhitneyu
    from scipy.stats import rankdata

    labels, checkpoints = comparison.labels, comparison.checkpoints
    at = {
        label: {c: comparison.hypervolume[label][:, c - 1] for c in checkpoints}
        for label in labels
    }
    final = checkpoints[-1]
    samplers: dict[str, Any] = {}
    for label in labels:
        found = comparison.front_points_found[label]
        samplers[label] = {
            "mean_hypervolume": {str(c): float(np.mean(at[label][c])) for c in checkpoints},
            "se_hypervolume": {str(c): standard_error(at[label][c]) for c in checkpoints},
            "mean_gap": {
                str(c): comparison.max_hypervolume - float(np.mean(at[label][c]))
                for c in checkpoints
            },
            "mean_front_points_found": {
                str(c): float(np.mean(found[:, c - 1])) for c in checkpoints
            },
            "whole_front_found": float(
                np.mean(found[:, final - 1] == len(comparison.table_front))
            ),
            "wall_seconds_per_trial": float(np.mean(comparison.wall_per_trial[label])),
            "sampler_seconds_per_trial": float(np.mean(comparison.sampler_per_trial[label])),
        }
    for c in checkpoints:
        # Rank 1 = the largest hypervolume of the seed.
        table = np.column_stack([-at[label][c] for label in labels])
        ranks = np.apply_along_axis(rankdata, 1, table)
        for index, label in enumerate(labels):
            samplers[label].setdefault("mean_rank", {})[str(c)] = float(ranks[:, index].mean())
    p_values: dict[str, dict[str, dict[str, float]]] = {}
    for c in checkpoints:
        p_values[str(c)] = {
            a: {
                b: float(mannwhitneyu(at[a][c], at[b][c], alternative="two-sided").pvalue)
                for b in labels
                if b != a
            }
            for a in labels
        }
    return {
        "objectives": list(SIZE_OBJECTIVES),
        "directions": [direction.name.lower() for direction in DIRECTIONS],
        "reference_point": list(REFERENCE_POINT),
        "max_hypervolume": comparison.max_hypervolume,
        "table_front_size": len(comparison.table_front),
        "num_seeds": len(comparison.seeds),
        "checkpoints": checkpoints,
        "samplers": samplers,
        "mann_whitney_p": p_values,
    }


def markdown_tables(summary: dict[str, Any]) -> str:
    """The hypervolume table and the p-value tables."""
    checkpoints = summary["checkpoints"]
    samplers = summary["samplers"]
    labels = list(samplers)
    final = str(checkpoints[-1])
    head = (
        ["sampler"]
        + [f"hypervolume @{c}" for c in checkpoints]
        + [f"gap @{c} (×10⁻³)" for c in checkpoints]
        + [f"front points @{final}", f"mean rank @{final}", "sampler ms/trial"]
    )
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label in labels:
        row = samplers[label]
        cells = [f"`{label}`"]
        cells += [
            f"{row['mean_hypervolume'][str(c)]:.5f} ± {row['se_hypervolume'][str(c)]:.5f}"
            for c in checkpoints
        ]
        cells += [f"{1e3 * row['mean_gap'][str(c)]:.2f}" for c in checkpoints]
        cells += [
            f"{row['mean_front_points_found'][final]:.1f} of {summary['table_front_size']}",
            f"{row['mean_rank'][final]:.2f}",
            format_milliseconds(row["sampler_seconds_per_trial"]),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    if len(labels) > 1:
        first = labels[0]
        lines += versus_first_table(
            f"Two-sided Mann-Whitney U p-values of `{first}` against each other sampler "
            "(hypervolume over seeds; the side with the larger mean hypervolume in brackets):",
            labels,
            checkpoints,
            p_value=lambda other, c: summary["mann_whitney_p"][str(c)][first][other],
            mean=lambda label, c: samplers[label]["mean_hypervolume"][str(c)],
            better=operator.gt,
        )
    return "\n".join(lines) + "\n"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_hypervolume(comparison: MultiObjectiveComparison, path: Path) -> None:
    """Mean hypervolume (left) and its gap to the table's front (right, log) against
    evaluations, with standard-error bands."""
    plt = _pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.4), dpi=110)
    floor = 1e-5
    for label in comparison.labels:
        volume = comparison.hypervolume[label]
        evaluations = np.arange(1, volume.shape[1] + 1)
        mean = volume.mean(axis=0)
        se = volume.std(axis=0, ddof=1) / math.sqrt(len(volume)) if len(volume) > 1 else 0 * mean
        (line,) = left.plot(evaluations, mean, label=label, linewidth=1.6)
        left.fill_between(evaluations, mean - se, mean + se, color=line.get_color(), alpha=0.2)
        gap = comparison.max_hypervolume - mean
        right.plot(evaluations, np.maximum(gap, floor), color=line.get_color(), linewidth=1.6)
        right.fill_between(
            evaluations,
            np.maximum(gap - se, floor),
            np.maximum(gap + se, floor),
            color=line.get_color(),
            alpha=0.2,
            linewidth=0,
        )
    for axes in (left, right):
        for checkpoint in comparison.checkpoints:
            axes.axvline(checkpoint, color="0.85", linewidth=0.8, zorder=0)
        axes.set_xlabel("evaluations")
        axes.grid(True, alpha=0.3)
    lower = min(
        float(v[:, comparison.checkpoints[0] - 1].mean()) for v in comparison.hypervolume.values()
    )
    left.set_ylim(lower - 0.2 * (comparison.max_hypervolume - lower), comparison.max_hypervolume)
    left.axhline(comparison.max_hypervolume, color="black", linestyle="--", linewidth=0.8)
    left.set_ylabel("hypervolume of the evaluated set (normalised)")
    left.legend(fontsize=8, loc="lower right")
    right.set_yscale("log")
    right.set_ylabel("gap to the table's Pareto front")
    figure.suptitle(
        f"NATS-Bench CIFAR-10, accuracy vs parameters: mean ± s.e. over "
        f"{len(comparison.seeds)} seeds; reference point {REFERENCE_POINT}",
        fontsize=10,
    )
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def _front_of(values: np.ndarray) -> np.ndarray:
    """The non-dominated rows of (accuracy, parameters), smallest first."""
    front: list[np.ndarray] = []
    for i in np.lexsort((-values[:, 0], values[:, 1])):
        if not front or values[i, 0] > front[-1][0]:
            front.append(values[i])
    return np.array(front)


def plot_example_fronts(comparison: MultiObjectiveComparison, path: Path) -> None:
    """Each sampler's run with the first seed: its evaluations and non-dominated set after the
    second-to-last and the last checkpoint, against the table's front."""
    plt = _pyplot()
    budgets = (
        comparison.checkpoints[-2:] if len(comparison.checkpoints) > 1 else comparison.checkpoints
    )
    columns = len(comparison.labels)
    figure, grid = plt.subplots(
        len(budgets),
        columns,
        figsize=(3.2 * columns, 3.0 * len(budgets)),
        dpi=110,
        sharex=True,
        sharey=True,
        squeeze=False,
    )
    table = comparison.table_front
    for row, budget in enumerate(budgets):
        for column, label in enumerate(comparison.labels):
            axes = grid[row][column]
            values = comparison.example_values[label][:budget]
            axes.step(
                table[:, 1],
                table[:, 0],
                where="post",
                color="black",
                linestyle="--",
                linewidth=0.9,
                label="table's front",
            )
            axes.scatter(values[:, 1], values[:, 0], s=8, color="0.7", label="evaluated")
            front = _front_of(values)
            axes.step(front[:, 1], front[:, 0], where="post", color="C3", linewidth=1.4)
            axes.scatter(front[:, 1], front[:, 0], s=16, color="C3", zorder=3, label="found front")
            axes.set_ylim(_FRONT_PLOT_MIN_ACCURACY, table[:, 0].max() + 0.5)
            axes.set_title(f"{label}, {budget} evaluations", fontsize=9)
            axes.grid(True, alpha=0.3)
            if row == len(budgets) - 1:
                axes.set_xlabel("parameters (millions)")
            if column == 0:
                axes.set_ylabel("test accuracy (%)")
    grid[0][0].legend(fontsize=7, loc="lower right")
    figure.suptitle(
        f"seed {comparison.seeds[0]} (the comparison's first); accuracy below "
        f"{_FRONT_PLOT_MIN_ACCURACY:g}% not shown",
        fontsize=10,
    )
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


_COMPUTE_MODEL = (
    "Size objective: the parameter count of the CIFAR-10 network NATS-Bench builds around the "
    "cell (`benchmarks/nats_size.py`): stem conv3x3 3→16 + BN; three stages of five cells "
    "with C = 16, 32, 64; residual reduction blocks between stages; BN, pooling, linear "
    "classifier. A cell edge adds 9C² + 2C weights for `nor_conv_3x3` (ReLU-conv-BN), "
    "C² + 2C for `nor_conv_1x1`, nothing for `avg_pool_3x3`, `skip_connect` and `none`; every "
    "cell-independent part is a constant 73,306. The count agrees exactly with NAS-Bench-201's "
    "published CIFAR-10 range, 0.073306 to 1.531546 million parameters (cells without and with "
    "six 3x3 convolutions), and the same model's FLOPs with its 7.78305 to 220.11969 million."
)


def _readme(comparison: MultiObjectiveComparison, summary: dict[str, Any]) -> str:
    meta = comparison.meta
    config = meta["config"]
    data = Path(config["problem"]["data"]).name
    lines = [
        f"# nats-size: {', '.join(comparison.labels)}",
        "",
        f"{len(comparison.seeds)} seeds ({comparison.seeds[0]}-{comparison.seeds[-1]}) x "
        f"{config['n_trials']} evaluations on `{data}`: maximise test accuracy, minimise the "
        "network's parameter count.",
        "",
        "```",
        meta["command"],
        "```",
        "",
        f"![hypervolume vs evaluations]({HYPERVOLUME_PLOT})",
        "",
        f"![example Pareto fronts]({FRONT_PLOT})",
        "",
        "Hypervolume of everything evaluated so far, in normalised loss space: accuracy loss = "
        "(table's best − accuracy) / (best − worst), size loss = (parameters − smallest) / "
        "(largest − smallest), both over the whole table; reference point "
        f"{REFERENCE_POINT} (the worst accuracy and the largest network). The table's own "
        f"Pareto front ({summary['table_front_size']} (accuracy, size) pairs) reaches "
        f"{comparison.max_hypervolume:.5f}; 'gap' is that minus the mean hypervolume. "
        "Mean ± standard error over seeds. 'front points': how many of the table's "
        "Pareto-optimal pairs a run evaluated. 'mean rank': 1 = the largest hypervolume of "
        "the seed. Sampler time: inside the sampler's methods, per trial.",
        "",
        _COMPUTE_MODEL,
        "",
        markdown_tables(summary),
        *machine_and_versions(meta),
        *provenance_lines(meta),
        "Rebuild this page from the run files: "
        f"`python -m benchmarks.multi_objective {meta['out']}`.",
    ]
    return "\n".join(lines) + "\n"


def write_report(out_dir: Path) -> dict[str, Any]:
    """Write the plots, ``summary.json`` and ``README.md``; return the summary."""
    comparison = load_comparison(out_dir)
    summary = summarize(comparison)
    plot_hypervolume(comparison, out_dir / HYPERVOLUME_PLOT)
    plot_example_fronts(comparison, out_dir / FRONT_PLOT)
    (out_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=1) + "\n")
    (out_dir / README_FILE).write_text(_readme(comparison, summary))
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    return rebuild_report_main(
        argv,
        module="benchmarks.multi_objective",
        description="Rebuild a two-objective comparison's plots, table and summary from its "
        "run files.",
        out_help="the --out folder of benchmarks.compare",
        write=write_report,
    )


if __name__ == "__main__":
    sys.exit(main())
