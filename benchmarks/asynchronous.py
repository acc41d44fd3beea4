"""Many asynchronous workers on NATS-Bench, simulated: regret against wall-clock, speed-up.

Example (the exact table; add ``--noise-sigma 0.3`` for noisy evaluations)::

    python -m benchmarks.asynchronous --data ../shared/data/nats_tss_cifar10.csv \
        --samplers amoeba,tpe,tpe-no-liar,random,nsgaii --workers 1,8,32,128 \
        --trainings 1000 --seeds 50 --first-seed 40000 --jobs 2 \
        --out benchmarks/results/async_nats/exact

Every (sampler, K, seed) run simulates K workers sharing one in-memory study
(:mod:`benchmarks.async_sim`): a worker asks, holds its trial RUNNING for the architecture's
simulated training time, then tells. Cost model (:class:`benchmarks.nats_cost.TrainingCostModel`):
``duration = scale * (overhead + FLOPs / FLOPs of the largest network) * jitter``, the FLOPs
(multiply-accumulates, NAS-Bench-201's convention) counted from the cell's operations by
:func:`benchmarks.nats_cost.network_cost`, log-normal jitter of mean 1
seeded per run, and the time unit one average training (the mean over the space).

The cluster's budget is ``--trainings`` average trainings whatever K: K workers run for
``trainings / K`` time units, then start nothing more. Regret at time t is the table's
optimum minus the true accuracy of the incumbent among the trials completed by t: the best
observed value for exact evaluations, the parameter set ``optuna_amoeba.recommend_by_mean``
puts first when ``--noise-sigma`` is given (best mean minus one pooled standard error).

Each run is saved under ``OUT/runs/``; runs already saved with the same settings are reused.
Writes ``OUT/README.md``, ``OUT/summary.json``, ``OUT/meta.json``, ``OUT/regret_time.png``
and ``OUT/speedup.png``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
import json
from pathlib import Path
import sys
from typing import Any
from typing import NoReturn

from benchmarks import meta
from benchmarks._cli import add_seed_and_output_arguments
from benchmarks._cli import non_negative_float
from benchmarks._cli import OneLineErrorParser
from benchmarks._cli import positive_float
from benchmarks._cli import positive_int
from benchmarks._cli import print_failures
from benchmarks.async_report import write_async_report
from benchmarks.async_sim import AsyncTask
from benchmarks.async_sim import execute_async
from benchmarks.async_sim import FIRST_WAVE_MODES
from benchmarks.async_sim import META_FILE
from benchmarks.async_sim import RUN_FORMAT
from benchmarks.async_sim import run_path
from benchmarks.nats_cost import TrainingCostModel
from benchmarks.problems import build_problem
from benchmarks.problems import ProblemSpec
from benchmarks.runner import run_unsaved
from benchmarks.runner import save_run
from benchmarks.runner import saved_record
from benchmarks.samplers import parse_samplers
from benchmarks.samplers import REGISTERED


PROG = "python -m benchmarks.asynchronous"
DEFAULT_SAMPLERS = "amoeba,tpe,tpe-no-liar,random,nsgaii"
DEFAULT_TARGETS = {"nats": 0.1, "nats-noisy": 0.2}


def _fail(message: str) -> NoReturn:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def _worker_counts(text: str) -> list[int]:
    counts = [positive_int(item.strip()) for item in text.split(",") if item.strip()]
    if not counts:
        raise argparse.ArgumentTypeError("expected comma-separated ints >= 1, got nothing")
    if len(set(counts)) != len(counts):
        raise argparse.ArgumentTypeError(f"worker counts repeat: {text!r}")
    return sorted(counts)


def _fractions(text: str) -> list[float]:
    values = []
    for item in text.split(","):
        if not item.strip():
            continue
        try:
            value = float(item)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected fractions in (0, 1], got {item!r}"
            ) from None
        if not 0 < value <= 1:
            raise argparse.ArgumentTypeError(f"expected fractions in (0, 1], got {value}")
        values.append(value)
    if not values:
        raise argparse.ArgumentTypeError("expected at least one fraction in (0, 1]")
    return sorted(set(values))


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(
        prog=PROG,
        description="Simulate K asynchronous workers sharing one study on the NATS-Bench "
        "table; compare samplers by regret against simulated wall-clock.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="samplers: "
        + "; ".join(f"{name} ({entry.description})" for name, entry in REGISTERED.items())
        + "; or package.module:ClassName, with optional [key=value,...] overrides.",
    )
    parser.add_argument(
        "--data", required=True, help="the NATS-Bench CSV (columns arch, test_accuracy)"
    )
    parser.add_argument(
        "--noise-sigma",
        type=positive_float,
        default=None,
        help="evaluation noise (accuracy points, Gaussian); exact table when omitted",
    )
    parser.add_argument("--samplers", default=DEFAULT_SAMPLERS)
    parser.add_argument(
        "--workers", type=_worker_counts, default=[1, 8, 32, 128], help="e.g. 1,8,32,128"
    )
    parser.add_argument(
        "--trainings",
        type=positive_float,
        default=1000.0,
        help="the cluster's budget in average trainings: K workers run for TRAININGS / K "
        "time units (default 1000)",
    )
    add_seed_and_output_arguments(parser, seeds_help="number of seeds (runs per cell)")
    parser.add_argument(
        "--overhead",
        type=non_negative_float,
        default=TrainingCostModel.overhead,
        help="fixed part of a training, relative to the largest network's compute "
        f"(default {TrainingCostModel.overhead})",
    )
    parser.add_argument(
        "--jitter-sigma",
        type=non_negative_float,
        default=TrainingCostModel.jitter_sigma,
        help=f"sigma of the log-normal duration jitter (default {TrainingCostModel.jitter_sigma})",
    )
    parser.add_argument(
        "--first-wave",
        choices=FIRST_WAVE_MODES,
        default="own",
        help="own: each sampler draws the K trials started at time 0 itself (default); "
        "shared: every sampler starts from the same K uniform random cells of the seed "
        "(common random numbers), so the samplers differ only in what they do with results",
    )
    parser.add_argument(
        "--target",
        type=positive_float,
        default=None,
        help="regret whose first crossing by the mean curve defines the speed-up "
        f"(default {DEFAULT_TARGETS['nats']} exact, {DEFAULT_TARGETS['nats-noisy']} noisy)",
    )
    parser.add_argument(
        "--checkpoints",
        type=_fractions,
        default=[0.25, 0.5, 1.0],
        help="fractions of each K's time budget at which the tables compare regret "
        "(default 0.25,0.5,1)",
    )
    return parser


def _stored(out: Path, task: AsyncTask) -> bool:
    path = run_path(out, task.sampler.label, task.workers, task.seed)
    return saved_record(path, RUN_FORMAT, task.config()) is not None


def _run_and_save(task: AsyncTask, out: Path) -> dict[str, Any]:
    record = execute_async(task)
    save_run(run_path(out, task.sampler.label, task.workers, task.seed), record)
    return record


def _outcome(task: AsyncTask, record: dict[str, Any], elapsed: float, eta: float) -> str:
    return (
        f"{record['trials']} trials, {record['wall_seconds']:.1f} s; "
        f"elapsed {elapsed:.0f} s, ETA {eta:.0f} s"
    )


def run_tasks(tasks: Sequence[AsyncTask], out: Path, jobs: int) -> tuple[list[str], int]:
    """Run the tasks not saved yet; returns the failures' messages and the reused count."""
    return run_unsaved(
        tasks,
        out,
        jobs=jobs,
        is_saved=lambda task: _stored(out, task),
        run_and_save=_run_and_save,
        name=lambda task: f"{task.sampler.label} K={task.workers} seed {task.seed}",
        outcome=_outcome,
    )


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(arguments)
    noisy = args.noise_sigma is not None
    try:
        problem = ProblemSpec(
            name="nats-noisy" if noisy else "nats",
            data=str(Path(args.data)),
            noise_sigma=args.noise_sigma if noisy else 0.0,
        )
        samplers = parse_samplers(args.samplers)
        for spec in samplers:
            spec.build(seed=0)  # refuse bad keyword values before any run starts
        build_problem(problem)  # read and check the table before any run starts
        cost = TrainingCostModel(overhead=args.overhead, jitter_sigma=args.jitter_sigma)
    except ValueError as error:
        _fail(str(error))
    out: Path = args.out
    if out.exists() and not out.is_dir():
        _fail(f"--out {out} exists and is not a folder")
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    target = args.target if args.target is not None else DEFAULT_TARGETS[problem.name]
    config: dict[str, Any] = {
        "problem": problem.to_json(),
        "samplers": [spec.to_json() for spec in samplers],
        "workers": args.workers,
        "trainings": args.trainings,
        "seeds": seeds,
        "cost": {"overhead": cost.overhead, "jitter_sigma": cost.jitter_sigma},
        "first_wave": args.first_wave,
        "target": target,
        "checkpoints": args.checkpoints,
        "jobs": args.jobs,
    }
    record = meta.started_record(
        "benchmarks.asynchronous",
        arguments,
        out,
        config,
        sampler_settings={spec.label: spec.settings() for spec in samplers},
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / META_FILE).write_text(json.dumps(record, indent=1) + "\n")
    tasks = [
        AsyncTask(
            problem=problem,
            sampler=spec,
            workers=workers,
            seed=seed,
            horizon=args.trainings / workers,
            cost=cost,
            first_wave=args.first_wave,
        )
        for seed in seeds
        for workers in args.workers
        for spec in samplers
    ]
    print(
        f"{len(tasks)} runs ({len(samplers)} samplers x {len(args.workers)} worker counts x "
        f"{len(seeds)} seeds) on {problem.name}, {args.jobs} at a time -> {out}",
        file=sys.stderr,
    )
    failures, record["runs_reused"] = run_tasks(tasks, out, args.jobs)
    if failures:
        print_failures(PROG, failures)
        return 1
    record["finished"] = meta.now()
    (out / META_FILE).write_text(json.dumps(record, indent=1) + "\n")
    write_async_report(out)
    print(out / "README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
