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
from collections.abc import Callable
from collections.abc import Sequence
from concurrent.futures import as_completed
from concurrent.futures import Future
import json
import math
from pathlib import Path
import sys
import time
from typing import Any
from typing import NoReturn

from benchmarks import meta
from benchmarks.async_report import write_async_report
from benchmarks.async_sim import AsyncTask
from benchmarks.async_sim import execute_async
from benchmarks.async_sim import META_FILE
from benchmarks.async_sim import RUN_FORMAT
from benchmarks.async_sim import run_path
from benchmarks.nats_cost import TrainingCostModel
from benchmarks.problems import build_problem
from benchmarks.problems import ProblemSpec
from benchmarks.runner import load_run
from benchmarks.runner import process_pool
from benchmarks.runner import save_run
from benchmarks.samplers import parse_samplers
from benchmarks.samplers import REGISTERED


PROG = "python -m benchmarks.asynchronous"
DEFAULT_SAMPLERS = "amoeba,tpe,tpe-no-liar,random,nsgaii"
DEFAULT_TARGETS = {"nats": 0.1, "nats-noisy": 0.2}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _fail(message: str) -> NoReturn:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def _int_at_least(low: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an int >= {low}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected an int >= {low}, got {value}")
        return value

    return parse


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a float > 0, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite float > 0, got {value}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a float >= 0, got {text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected a finite float >= 0, got {value}")
    return value


def _worker_counts(text: str) -> list[int]:
    parse = _int_at_least(1)
    counts = [parse(item.strip()) for item in text.split(",") if item.strip()]
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
    parser = _Parser(
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
        type=_positive_float,
        default=None,
        help="evaluation noise (accuracy points, Gaussian); exact table when omitted",
    )
    parser.add_argument("--samplers", default=DEFAULT_SAMPLERS)
    parser.add_argument(
        "--workers", type=_worker_counts, default=[1, 8, 32, 128], help="e.g. 1,8,32,128"
    )
    parser.add_argument(
        "--trainings",
        type=_positive_float,
        default=1000.0,
        help="the cluster's budget in average trainings: K workers run for TRAININGS / K "
        "time units (default 1000)",
    )
    parser.add_argument(
        "--seeds", type=_int_at_least(1), default=10, help="number of seeds (runs per cell)"
    )
    parser.add_argument("--first-seed", type=_int_at_least(0), default=0)
    parser.add_argument("--jobs", type=_int_at_least(1), default=1, help="parallel processes")
    parser.add_argument("--out", type=Path, required=True, help="results folder")
    parser.add_argument(
        "--overhead",
        type=_non_negative_float,
        default=TrainingCostModel.overhead,
        help="fixed part of a training, relative to the largest network's compute "
        f"(default {TrainingCostModel.overhead})",
    )
    parser.add_argument(
        "--jitter-sigma",
        type=_non_negative_float,
        default=TrainingCostModel.jitter_sigma,
        help=f"sigma of the log-normal duration jitter (default {TrainingCostModel.jitter_sigma})",
    )
    parser.add_argument(
        "--target",
        type=_positive_float,
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
    if not path.is_file():
        return False
    try:
        record = load_run(path)
    except (OSError, json.JSONDecodeError):
        return False
    config = task.config()
    return record.get("format") == RUN_FORMAT and {k: record.get(k) for k in config} == config


def _run_and_save(task: AsyncTask, out: Path) -> dict[str, Any]:
    record = execute_async(task)
    save_run(run_path(out, task.sampler.label, task.workers, task.seed), record)
    return record


def run_tasks(tasks: Sequence[AsyncTask], out: Path, jobs: int) -> tuple[list[str], int]:
    """Run the tasks not saved yet; returns the failures' messages and the reused count."""
    pending = [task for task in tasks if not _stored(out, task)]
    reused = len(tasks) - len(pending)
    if reused:
        print(f"reusing {reused} run(s) already saved in {out}", file=sys.stderr)
    failures: list[str] = []
    if not pending:
        return failures, reused
    started = time.monotonic()
    with process_pool(min(jobs, len(pending))) as pool:
        futures: dict[Future[dict[str, Any]], AsyncTask] = {
            pool.submit(_run_and_save, task, out): task for task in pending
        }
        for done, future in enumerate(as_completed(futures), start=1):
            task = futures[future]
            name = f"{task.sampler.label} K={task.workers} seed {task.seed}"
            elapsed = time.monotonic() - started
            eta = elapsed / done * (len(pending) - done)
            try:
                record = future.result()
            except Exception as error:  # reported; the other runs go on
                failures.append(f"{name}: {error!r}")
                print(f"[{done}/{len(pending)}] {name}: FAILED: {error!r}", file=sys.stderr)
                continue
            print(
                f"[{done}/{len(pending)}] {name}: {record['trials']} trials, "
                f"{record['wall_seconds']:.1f} s; elapsed {elapsed:.0f} s, ETA {eta:.0f} s",
                file=sys.stderr,
                flush=True,
            )
    return failures, reused


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
        "target": target,
        "checkpoints": args.checkpoints,
        "jobs": args.jobs,
    }
    record: dict[str, Any] = {
        "command": meta.command_line("benchmarks.asynchronous", arguments),
        "out": str(out),
        "config": config,
        "versions": meta.versions(),
        "sampler_settings": {spec.label: spec.settings() for spec in samplers},
        "git_commit": meta.git_commit(),
        "machine": meta.machine(),
        "started": meta.now(),
        "finished": None,
        "runs_reused": 0,
    }
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
        print(f"{PROG}: {len(failures)} run(s) failed:", file=sys.stderr)
        for failure in failures:
            print(f"  {failure}", file=sys.stderr)
        print("Saved runs are kept; rerun the same command to retry the rest.", file=sys.stderr)
        return 1
    record["finished"] = meta.now()
    (out / META_FILE).write_text(json.dumps(record, indent=1) + "\n")
    write_async_report(out)
    print(out / "README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
