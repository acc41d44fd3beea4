"""Aggregate a comparison's run files into a table, a plot and a summary.

``python -m benchmarks.report DIR`` rebuilds ``DIR/README.md``, ``DIR/regret.png`` and
``DIR/summary.json`` from ``DIR/meta.json`` and ``DIR/runs/``.

Regret of a run after ``n`` evaluations: the reference value minus the *true* value of the
incumbent, the trial with the best *observed* value among the first ``n`` (for noise-free
problems the two values are equal). The reference is the problem's optimum when known (the
NATS-Bench table's best entry), otherwise the best true value any run of the comparison
reached (the synthetic and training problems).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
import json
import math
import operator
from pathlib import Path
import sys
from typing import Any

import numpy as np

from benchmarks.problems import ProblemSpec
from benchmarks.runner import load_run
from benchmarks.runner import run_path
from benchmarks.samplers import SamplerSpec


FOUND_TOLERANCE = 1e-6
PLOT_FILE = "regret.png"
BY_MEAN_PLOT_FILE = "regret_by_mean.png"
SUMMARY_FILE = "summary.json"
README_FILE = "README.md"
META_FILE = "meta.json"


@dataclass(frozen=True)
class Comparison:
    """Runs of several samplers on one problem over the same seeds."""

    meta: dict[str, Any]
    labels: list[str]
    seeds: list[int]
    checkpoints: list[int]
    regret: dict[str, np.ndarray]  # label -> (seeds, n_trials)
    # Noisy problems: regret of the truly best trial evaluated so far, whichever the incumbent.
    evaluated_regret: dict[str, np.ndarray] | None
    # Noisy problems: regret of the parameter set recommend_by_mean puts first so far.
    by_mean_regret: dict[str, np.ndarray] | None
    wall_per_trial: dict[str, np.ndarray]  # label -> (seeds,)
    sampler_per_trial: dict[str, np.ndarray]  # label -> (seeds,)
    reference: float
    reference_known: bool
    unit: str
    regret_floor: float


@dataclass(frozen=True)
class SavedRuns:
    """A comparison folder's ``meta.json`` and every run it lists."""

    meta: dict[str, Any]
    labels: list[str]
    seeds: list[int]
    n_trials: int
    records: dict[str, list[dict[str, Any]]]  # label -> one run per seed, in seed order


def load_saved_runs(
    out_dir: Path, check_run: Callable[[Path, dict[str, Any], int], None]
) -> SavedRuns:
    """Read ``meta.json`` and every run it lists; ``check_run(path, record, n_trials)`` raises
    ``ValueError`` for a run that does not fit the comparison.

    Raises:
        ValueError: ``meta.json`` or a run is missing, or ``check_run`` refuses a run.
    """
    meta_path = out_dir / META_FILE
    if not meta_path.is_file():
        raise ValueError(f"{meta_path} not found: not a comparison folder")
    meta: dict[str, Any] = json.loads(meta_path.read_text())
    config = meta["config"]
    specs = [SamplerSpec.from_json(s) for s in config["samplers"]]
    seeds = [int(s) for s in config["seeds"]]
    n_trials = int(config["n_trials"])
    records: dict[str, list[dict[str, Any]]] = {}
    for spec in specs:
        runs = []
        for seed in seeds:
            path = run_path(out_dir, spec.label, seed)
            if not path.is_file():
                raise ValueError(f"run {path} is missing; rerun the comparison to complete it")
            record = load_run(path)
            check_run(path, record, n_trials)
            runs.append(record)
        records[spec.label] = runs
    return SavedRuns(
        meta=meta,
        labels=[spec.label for spec in specs],
        seeds=seeds,
        n_trials=n_trials,
        records=records,
    )


def _check_single_objective_run(path: Path, record: dict[str, Any], n_trials: int) -> None:
    if len(record["incumbent_true_value"]) != n_trials:
        raise ValueError(
            f"run {path} has {len(record['incumbent_true_value'])} trials, not {n_trials}"
        )


def load_comparison(out_dir: Path) -> Comparison:
    """Read ``meta.json`` and every run it lists.

    Raises:
        ValueError: ``meta.json`` or a run is missing or does not match.
    """
    saved = load_saved_runs(out_dir, _check_single_objective_run)
    meta, records, n_trials = saved.meta, saved.records, saved.n_trials
    first = records[saved.labels[0]][0]
    optimum = first["optimum"]
    incumbents = {
        label: np.array([r["incumbent_true_value"] for r in runs], dtype=float)
        for label, runs in records.items()
    }
    if optimum is None:
        reference = max(float(values[:, -1].max()) for values in incumbents.values())
    else:
        reference = float(optimum)
    evaluated_regret = None
    if all(r["true_values"] is not None for runs in records.values() for r in runs):
        evaluated_regret = {
            label: reference
            - np.maximum.accumulate(np.array([r["true_values"] for r in runs], float), axis=1)
            for label, runs in records.items()
        }
    by_mean_regret = None
    if all(r.get("mean_incumbent_true_value") for runs in records.values() for r in runs):
        by_mean_regret = {
            label: reference
            - np.array([r["mean_incumbent_true_value"] for r in runs], dtype=float)
            for label, runs in records.items()
        }
    return Comparison(
        meta=meta,
        labels=saved.labels,
        seeds=saved.seeds,
        checkpoints=[int(c) for c in meta["config"]["checkpoints"]],
        regret={label: reference - values for label, values in incumbents.items()},
        evaluated_regret=evaluated_regret,
        by_mean_regret=by_mean_regret,
        wall_per_trial={
            label: np.array([r["wall_seconds"] / n_trials for r in runs])
            for label, runs in records.items()
        },
        sampler_per_trial={
            label: np.array(
                [1e-6 * float(np.mean(r["sampler_microseconds_per_trial"])) for r in runs]
            )
            for label, runs in records.items()
        },
        reference=reference,
        reference_known=optimum is not None,
        unit=str(first["unit"]),
        regret_floor=float(first["regret_floor"]),
    )


def standard_error(values: np.ndarray) -> float:
    """The standard error of the mean of ``values``; NaN with fewer than two."""
    if len(values) < 2:
        return float("nan")
    return float(np.std(values, ddof=1) / math.sqrt(len(values)))


def paired_wilcoxon(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided paired Wilcoxon signed-rank p-value (1 when every pair is equal)."""
    from scipy.stats import wilcoxon

    if np.all(a == b):
        return 1.0
    return float(wilcoxon(a, b, alternative="two-sided").pvalue)


def _tail(values: np.ndarray) -> dict[str, float]:
    return {
        "mean": float(np.mean(values)),
        "se": standard_error(values),
        "p90": float(np.percentile(values, 90)),
        "worst": float(np.max(values)),
    }


def summarize(comparison: Comparison) -> dict[str, Any]:
    """Every number the table shows, as JSON-ready data."""
    from scipy.stats import mannwhitneyu
    from scipy.stats import rankdata

    labels, checkpoints = comparison.labels, comparison.checkpoints
    at = {label: {c: comparison.regret[label][:, c - 1] for c in checkpoints} for label in labels}
    samplers: dict[str, Any] = {}
    for label in labels:
        final = comparison.regret[label][:, -1]
        samplers[label] = {
            "mean_regret": {str(c): float(np.mean(at[label][c])) for c in checkpoints},
            "se_regret": {str(c): standard_error(at[label][c]) for c in checkpoints},
            "found_optimum": float(np.mean(final <= FOUND_TOLERANCE)),
            "wall_seconds_per_trial": float(np.mean(comparison.wall_per_trial[label])),
            "sampler_seconds_per_trial": float(np.mean(comparison.sampler_per_trial[label])),
        }
        if comparison.evaluated_regret is not None:
            evaluated = comparison.evaluated_regret[label]
            samplers[label]["mean_evaluated_regret"] = {
                str(c): float(np.mean(evaluated[:, c - 1])) for c in checkpoints
            }
        if comparison.by_mean_regret is not None:
            by_mean = comparison.by_mean_regret[label]
            samplers[label]["mean_by_mean_regret"] = {
                str(c): float(np.mean(by_mean[:, c - 1])) for c in checkpoints
            }
            samplers[label]["se_by_mean_regret"] = {
                str(c): standard_error(by_mean[:, c - 1]) for c in checkpoints
            }
            samplers[label]["by_mean_tail"] = {
                str(c): _tail(by_mean[:, c - 1]) for c in checkpoints
            }
        samplers[label]["regret_tail"] = {str(c): _tail(at[label][c]) for c in checkpoints}
    for c in checkpoints:
        table = np.column_stack([at[label][c] for label in labels])
        ranks = np.apply_along_axis(rankdata, 1, table)
        for index, label in enumerate(labels):
            samplers[label].setdefault("mean_rank", {})[str(c)] = float(ranks[:, index].mean())

    p_values: dict[str, dict[str, dict[str, float]]] = {}
    for c in checkpoints:
        matrix: dict[str, dict[str, float]] = {}
        for a in labels:
            matrix[a] = {}
            for b in labels:
                if a != b:
                    test = mannwhitneyu(at[a][c], at[b][c], alternative="two-sided")
                    matrix[a][b] = float(test.pvalue)
        p_values[str(c)] = matrix
    wilcoxon_by_mean: dict[str, dict[str, float]] = {}
    if comparison.by_mean_regret is not None and len(labels) > 1:
        first = labels[0]
        for c in checkpoints:
            wilcoxon_by_mean[str(c)] = {
                other: paired_wilcoxon(
                    comparison.by_mean_regret[first][:, c - 1],
                    comparison.by_mean_regret[other][:, c - 1],
                )
                for other in labels[1:]
            }
    return {
        "reference": comparison.reference,
        "reference_known": comparison.reference_known,
        "unit": comparison.unit,
        "num_seeds": len(comparison.seeds),
        "checkpoints": checkpoints,
        "samplers": samplers,
        "mann_whitney_p": p_values,
        "wilcoxon_by_mean_p": wilcoxon_by_mean,
    }


def format_p(value: float) -> str:
    """A p-value for a table: two significant digits, scientific below 0.001."""
    return f"{value:.2g}" if value >= 1e-3 else f"{value:.1e}"


def format_milliseconds(seconds: float) -> str:
    """``seconds`` in milliseconds: whole from 100 ms, two decimals below."""
    milliseconds = 1e3 * seconds
    return f"{milliseconds:.0f}" if milliseconds >= 100 else f"{milliseconds:.2f}"


def _regret_cell(mean: float, se: float) -> str:
    return f"{mean:.3f} ± {se:.3f}" if math.isfinite(se) else f"{mean:.3f}"


def versus_first_table(
    intro: str,
    labels: Sequence[str],
    checkpoints: Sequence[int],
    *,
    p_value: Callable[[str, int], float],
    mean: Callable[[str, int], float],
    better: Callable[[float, float], bool],
) -> list[str]:
    """Markdown lines: a blank line, ``intro``, a blank line and a table of the first label
    against each other label, a row an other label and a column a checkpoint. A cell holds
    ``p_value(other, checkpoint)`` and, in brackets, the label whose ``mean(label,
    checkpoint)`` is ``better`` than the other's, or ``equal``."""
    first = labels[0]
    lines = [
        "",
        intro,
        "",
        f"| `{first}` vs | " + " | ".join(f"@{c}" for c in checkpoints) + " |",
        "|" + "---|" * (len(checkpoints) + 1),
    ]
    for other in labels[1:]:
        cells = []
        for c in checkpoints:
            mine, theirs = mean(first, c), mean(other, c)
            side = first if better(mine, theirs) else other if better(theirs, mine) else "equal"
            cells.append(f"{format_p(p_value(other, c))} ({side})")
        lines.append(f"| `{other}` | " + " | ".join(cells) + " |")
    return lines


def markdown_tables(summary: dict[str, Any]) -> str:
    """The regret table, the rank table and the p-value tables."""
    checkpoints = summary["checkpoints"]
    samplers = summary["samplers"]
    labels = list(samplers)
    first = labels[0]
    final = checkpoints[-1]
    noisy = "mean_evaluated_regret" in samplers[first]
    by_mean = "mean_by_mean_regret" in samplers[first]
    head = (
        ["sampler"]
        + [f"regret @{c}" for c in checkpoints]
        + ([f"best evaluated @{final}"] if noisy else [])
        + ([f"by mean @{final}"] if by_mean else [])
        + ["found optimum", f"mean rank @{final}", "wall ms/trial", "sampler ms/trial"]
    )
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label in labels:
        row = samplers[label]
        cells = [f"`{label}`"]
        cells += [
            _regret_cell(row["mean_regret"][str(c)], row["se_regret"][str(c)]) for c in checkpoints
        ]
        if noisy:
            cells.append(f"{row['mean_evaluated_regret'][str(final)]:.3f}")
        if by_mean:
            cells.append(
                _regret_cell(
                    row["mean_by_mean_regret"][str(final)], row["se_by_mean_regret"][str(final)]
                )
            )
        cells += [
            f"{row['found_optimum']:.0%}",
            f"{row['mean_rank'][str(checkpoints[-1])]:.2f}",
            format_milliseconds(row["wall_seconds_per_trial"]),
            format_milliseconds(row["sampler_seconds_per_trial"]),
        ]
        lines.append("| " + " | ".join(cells) + " |")

    lines += ["", "Mean rank per seed (1 = lowest regret; ties share the mean rank):", ""]
    lines.append("| sampler | " + " | ".join(f"@{c}" for c in checkpoints) + " |")
    lines.append("|" + "---|" * (len(checkpoints) + 1))
    for label in labels:
        ranks = samplers[label]["mean_rank"]
        lines.append(
            f"| `{label}` | " + " | ".join(f"{ranks[str(c)]:.2f}" for c in checkpoints) + " |"
        )

    if by_mean:
        lines += [
            "",
            "Recommended incumbent (`optuna_amoeba.recommend_by_mean`: the parameter set with "
            "the best mean minus one pooled standard error) — regret mean ± s.e., 90th "
            "percentile and worst seed:",
            "",
            "| sampler | "
            + " | ".join(f"@{c} mean | @{c} p90 | @{c} worst" for c in checkpoints)
            + " |",
            "|" + "---|" * (3 * len(checkpoints) + 1),
        ]
        for label in labels:
            tails = samplers[label]["by_mean_tail"]
            cells = []
            for c in checkpoints:
                tail = tails[str(c)]
                cells += [
                    _regret_cell(tail["mean"], tail["se"]),
                    f"{tail['p90']:.3f}",
                    f"{tail['worst']:.3f}",
                ]
            lines.append(f"| `{label}` | " + " | ".join(cells) + " |")
        if summary.get("wilcoxon_by_mean_p"):
            lines += versus_first_table(
                f"Paired two-sided Wilcoxon signed-rank p-values of `{first}` against each other "
                "sampler, recommended incumbent, same seeds (lower mean regret in brackets):",
                labels,
                checkpoints,
                p_value=lambda other, c: summary["wilcoxon_by_mean_p"][str(c)][other],
                mean=lambda label, c: samplers[label]["by_mean_tail"][str(c)]["mean"],
                better=operator.lt,
            )

    if len(labels) > 1:
        lines += versus_first_table(
            f"Two-sided Mann-Whitney U p-values of `{first}` against each other sampler "
            "(regret over seeds; which side has the lower mean regret in brackets):",
            labels,
            checkpoints,
            p_value=lambda other, c: summary["mann_whitney_p"][str(c)][first][other],
            mean=lambda label, c: samplers[label]["mean_regret"][str(c)],
            better=operator.lt,
        )
        if len(labels) > 2:
            last = str(checkpoints[-1])
            lines += [
                "",
                f"All pairs at {last} evaluations (two-sided Mann-Whitney U p-values):",
                "",
                "| | " + " | ".join(f"`{b}`" for b in labels) + " |",
                "|" + "---|" * (len(labels) + 1),
            ]
            for a in labels:
                row_p = summary["mann_whitney_p"][last][a]
                cells = [format_p(row_p[b]) if b != a else "-" for b in labels]
                lines.append(f"| `{a}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _problem_title(problem: dict[str, Any]) -> str:
    title = str(problem["name"])
    if problem.get("data") and problem["name"].startswith("nats"):
        title += f" ({Path(problem['data']).name})"
    if problem.get("noise_sigma"):
        title += f", noise σ={problem['noise_sigma']:g}"
    return title


def plot_regret(
    comparison: Comparison,
    path: Path,
    regrets: dict[str, np.ndarray] | None = None,
    incumbent: str = "incumbent",
) -> None:
    """Mean regret (of ``regrets``, default the best-observed incumbent's) against
    evaluations with standard-error bands, log y."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    floor = comparison.regret_floor
    figure, axes = plt.subplots(figsize=(7.5, 4.8), dpi=110)
    for label in comparison.labels:
        regret = (comparison.regret if regrets is None else regrets)[label]
        evaluations = np.arange(1, regret.shape[1] + 1)
        mean = regret.mean(axis=0)
        se = (
            regret.std(axis=0, ddof=1) / math.sqrt(len(regret))
            if len(regret) > 1
            else np.zeros_like(mean)
        )
        (line,) = axes.plot(evaluations, np.maximum(mean, floor), label=label, linewidth=1.6)
        axes.fill_between(
            evaluations,
            np.maximum(mean - se, floor),
            np.maximum(mean + se, floor),
            color=line.get_color(),
            alpha=0.2,
            linewidth=0,
        )
    for checkpoint in comparison.checkpoints:
        axes.axvline(checkpoint, color="0.85", linewidth=0.8, zorder=0)
    axes.set_yscale("log")
    axes.set_xlabel("evaluations")
    reference = "optimum" if comparison.reference_known else "best value any run reached"
    axes.set_ylabel(f"mean regret ({reference} − {incumbent})\n{comparison.unit}")
    axes.set_title(
        f"{_problem_title(comparison.meta['config']['problem'])}\n"
        f"mean ± s.e. over {len(comparison.seeds)} seeds; regret < {floor:g} drawn at {floor:g}",
        fontsize=10,
    )
    axes.grid(True, which="major", alpha=0.3)
    axes.legend(fontsize=8, loc="upper right")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def machine_and_versions(meta: dict[str, Any]) -> list[str]:
    """README lines from ``meta.json`` on where the runs ran: the machine, ``--jobs``, the
    start and finish dates, the package versions and the git commit."""
    machine = meta["machine"]
    versions = ", ".join(f"{name} {version}" for name, version in meta["versions"].items())
    return [
        f"Machine: {machine['cpu_model']} ({machine['cpu_count']} CPUs), {machine['platform']}, "
        f"--jobs {meta['config']['jobs']}. Started {meta['started']}, finished "
        f"{meta.get('finished')}.",
        "",
        f"Versions: {versions}; git {meta['git_commit']}.",
        "",
    ]


def provenance_lines(meta: dict[str, Any]) -> list[str]:
    """README lines naming the earlier invocations whose saved runs were reused (none when
    no run was reused)."""
    reused = meta.get("runs_reused", 0)
    earlier = [entry for entry in meta.get("earlier_invocations", []) if entry.get("finished")]
    if not reused:
        return []
    lines = [f"{reused} run(s) were reused from earlier invocations of `benchmarks.compare`:"]
    lines += [
        f"- started {entry['started']}, finished {entry['finished']}, git "
        f"{entry['git_commit']}: `{entry['command']}`"
        for entry in earlier
    ]
    return [*lines, ""]


def _readme(comparison: Comparison, summary: dict[str, Any]) -> str:
    meta = comparison.meta
    config = meta["config"]
    problem = config["problem"]
    reference = (
        f"the optimum of the table, {comparison.reference:.4f}"
        if comparison.reference_known
        else f"the best true value any run reached, {comparison.reference:.4f}"
    )
    details = [
        f"`{key}={value}`" for key, value in ProblemSpec.from_json(problem).describe().items()
    ]
    lines = [
        f"# {problem['name']}: {', '.join(comparison.labels)}",
        "",
        f"{len(comparison.seeds)} seeds x {config['n_trials']} evaluations; problem "
        + (", ".join(details) if details else "defaults")
        + ".",
        "",
        "```",
        meta["command"],
        "```",
        "",
        f"![mean regret vs evaluations]({PLOT_FILE})",
        "",
        *(
            [
                f"![mean regret of the recommended incumbent vs evaluations]({BY_MEAN_PLOT_FILE})",
                "",
            ]
            if comparison.by_mean_regret is not None
            else []
        ),
        f"Regret = {reference} − the true value of the incumbent (the trial with the best "
        f"observed value so far), in {comparison.unit}. Mean ± standard error over seeds. "
        f"'found optimum': share of runs whose final incumbent has regret 0. Wall and sampler "
        "time are per trial, averaged over runs (sampler time: inside the sampler's methods).",
        *(
            [
                "'best evaluated': mean regret of the truly best trial evaluated so far, "
                "whichever the incumbent: the gap to the regret column is what noise cost in "
                "picking the incumbent.",
            ]
            if comparison.evaluated_regret is not None
            else []
        ),
        *(
            [
                "'by mean': regret when the incumbent is instead the parameter set that "
                "`optuna_amoeba.recommend_by_mean` puts first (the best mean over its "
                "evaluations minus one pooled standard error), the rule docs/algorithm.md "
                "recommends; applied to every sampler alike.",
            ]
            if comparison.by_mean_regret is not None
            else []
        ),
        "",
        markdown_tables(summary),
        *machine_and_versions(meta),
        *provenance_lines(meta),
        f"Rebuild this page from the run files: `python -m benchmarks.report {meta['out']}`.",
    ]
    return "\n".join(lines) + "\n"


def write_report(out_dir: Path) -> dict[str, Any]:
    """Write the plot, ``summary.json`` and ``README.md``; return the summary."""
    comparison = load_comparison(out_dir)
    summary = summarize(comparison)
    plot_regret(comparison, out_dir / PLOT_FILE)
    if comparison.by_mean_regret is not None:
        plot_regret(
            comparison,
            out_dir / BY_MEAN_PLOT_FILE,
            comparison.by_mean_regret,
            "recommended incumbent",
        )
    (out_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=1) + "\n")
    (out_dir / README_FILE).write_text(_readme(comparison, summary))
    return summary


def rebuild_report_main(
    argv: Sequence[str] | None,
    *,
    module: str,
    description: str,
    out_help: str,
    write: Callable[[Path], object],
) -> int:
    """The command line ``python -m MODULE OUT``: rebuild OUT's report with ``write`` and
    print the README's path (returns 0), or print ``MODULE: ERROR`` to stderr when a file is
    missing or malformed (returns 2)."""
    parser = argparse.ArgumentParser(prog=f"python -m {module}", description=description)
    parser.add_argument("out", type=Path, help=out_help)
    args = parser.parse_args(argv)
    return write_and_report(module, args.out, lambda: write(args.out))


def write_and_report(prog: str, out: Path, write: Callable[[], object]) -> int:
    """Call ``write`` and print the path of OUT's README (returns 0), or print ``PROG: ERROR``
    to stderr when a file it reads is missing or malformed (returns 2)."""
    try:
        write()
    except (ValueError, KeyError, json.JSONDecodeError) as error:
        print(f"{prog}: {error}", file=sys.stderr)
        return 2
    print(out / README_FILE)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return rebuild_report_main(
        argv,
        module="benchmarks.report",
        description="Rebuild a comparison's plot, table and summary from its run files.",
        out_help="the --out folder of benchmarks.compare",
        write=write_report,
    )


if __name__ == "__main__":
    sys.exit(main())
