"""Compare samplers on a benchmark problem over many seeds.

Example::

    python -m benchmarks.compare --problem nats --data ../shared/data/nats_tss_cifar10.csv \
        --samplers amoeba,tpe,random --n-trials 300 --seeds 50 --jobs 2 \
        --out benchmarks/results/NAME

Runs one process per (sampler, seed), ``--jobs`` at a time, saves each run under
``OUT/runs/``, then writes ``OUT/regret.png``, ``OUT/README.md`` (tables),
``OUT/summary.json`` and ``OUT/meta.json`` (command, versions, machine, dates). Runs already
saved in ``OUT`` with the same settings are reused, so an interrupted comparison resumes.

``--problem nats-size`` has two objectives (accuracy against parameter count): its report
(hypervolume instead of regret) is written by :mod:`benchmarks.multi_objective`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
import json
import os
from pathlib import Path
import sys
from typing import Any
from typing import NoReturn

from benchmarks import meta
from benchmarks import multi_objective
from benchmarks._cli import add_seed_and_output_arguments
from benchmarks._cli import non_negative_int
from benchmarks._cli import OneLineErrorParser
from benchmarks._cli import positive_float
from benchmarks._cli import positive_int
from benchmarks._cli import print_failures
from benchmarks.problems import build_problem
from benchmarks.problems import MULTI_OBJECTIVE_PROBLEMS
from benchmarks.problems import PROBLEMS
from benchmarks.problems import ProblemSpec
from benchmarks.problems import TRAINING_PROBLEMS
from benchmarks.report import META_FILE
from benchmarks.report import write_report
from benchmarks.runner import run_all
from benchmarks.runner import RunTask
from benchmarks.samplers import parse_samplers
from benchmarks.samplers import REGISTERED
from benchmarks.samplers import SamplerSpec


PROG = "python -m benchmarks.compare"
DEFAULT_NOISE_SIGMA = 0.3


def _checkpoints(text: str) -> list[int]:
    return [positive_int(item) for item in text.split(",") if item.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(
        prog=PROG,
        description="Compare Optuna samplers on a benchmark problem over many seeds.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="samplers: "
        + "; ".join(f"{name} ({entry.description})" for name, entry in REGISTERED.items())
        + "; or package.module:ClassName. Append [key=value,...] to override keyword "
        "arguments, e.g. amoeba[population_size=10,sample_size=3].",
    )
    parser.add_argument("--problem", required=True, choices=PROBLEMS)
    parser.add_argument(
        "--data",
        help="nats, nats-noisy, nats-size: the NATS-Bench CSV (columns arch, test_accuracy); "
        "cifar10: the dataset folder; digits: unused",
    )
    parser.add_argument("--samplers", default="amoeba,tpe,random")
    parser.add_argument("--n-trials", type=positive_int, default=300)
    add_seed_and_output_arguments(parser, seeds_help="number of seeds (runs per sampler)")
    parser.add_argument(
        "--checkpoints",
        type=_checkpoints,
        default=[],
        help="extra evaluation counts for the table, comma-separated "
        "(50, 100 and --n-trials are always included when <= --n-trials)",
    )
    parser.add_argument(
        "--noise-sigma",
        type=positive_float,
        default=None,
        help=f"nats-noisy: standard deviation of the evaluation noise (default "
        f"{DEFAULT_NOISE_SIGMA} accuracy points)",
    )
    parser.add_argument(
        "--landscape-seed",
        type=non_negative_int,
        default=0,
        help="nasnet-synthetic: seed of the objective's landscape (the same for every run)",
    )
    parser.add_argument(
        "--epochs",
        type=positive_int,
        default=1,
        help="digits, cifar10: training epochs per trial",
    )
    parser.add_argument(
        "--train-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="digits, cifar10: a keyword of lightning_modules.objective.make_objective "
        "(e.g. num_cells=1, num_filters=8, batch_size=32, learning_rate=0.1); repeatable",
    )
    return parser


def _fail(message: str) -> NoReturn:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def _problem_spec(args: argparse.Namespace) -> ProblemSpec:
    if args.noise_sigma is not None and args.problem != "nats-noisy":
        _fail(f"--noise-sigma applies to --problem nats-noisy only, not {args.problem}")
    if args.problem != "nasnet-synthetic" and args.landscape_seed != 0:
        _fail("--landscape-seed applies to --problem nasnet-synthetic only")
    if args.problem not in TRAINING_PROBLEMS and args.epochs != 1:
        _fail(f"--epochs applies to --problem {' or '.join(TRAINING_PROBLEMS)} only")
    if args.problem not in TRAINING_PROBLEMS and args.train_option:
        _fail(f"--train-option applies to --problem {' or '.join(TRAINING_PROBLEMS)} only")
    if args.problem == "digits" and args.data is not None:
        _fail("--data is not used by --problem digits (scikit-learn's bundled digits)")
    sigma = 0.0
    if args.problem == "nats-noisy":
        sigma = DEFAULT_NOISE_SIGMA if args.noise_sigma is None else args.noise_sigma
    data = str(Path(args.data)) if args.data is not None else None
    training: tuple[tuple[str, Any], ...] = ()
    if args.train_option:
        from benchmarks.training import parse_training_options

        training = parse_training_options(args.train_option)
    return ProblemSpec(
        name=args.problem,
        data=data,
        noise_sigma=sigma,
        landscape_seed=args.landscape_seed,
        epochs=args.epochs,
        training=training,
    )


def _check_out_dir(out: Path, config: dict[str, Any]) -> None:
    meta_path = out / META_FILE
    if out.exists() and not out.is_dir():
        _fail(f"--out {out} exists and is not a folder")
    if not meta_path.is_file():
        return
    try:
        previous = json.loads(meta_path.read_text())["config"]
    except (OSError, ValueError, KeyError):
        _fail(f"--out {out} holds an unreadable {META_FILE}; choose another folder")
    for key in ("problem", "n_trials"):
        if previous.get(key) != config[key]:
            _fail(
                f"--out {out} holds a comparison with another {key} ({previous.get(key)}); "
                "choose another folder"
            )


def _earlier_invocations(out: Path) -> list[dict[str, Any]]:
    """What earlier commands wrote to ``out`` (their runs may be reused now)."""
    meta_path = out / META_FILE
    if not meta_path.is_file():
        return []
    previous = json.loads(meta_path.read_text())
    earlier: list[dict[str, Any]] = previous.get("earlier_invocations", [])
    keys = ("command", "started", "finished", "git_commit", "runs_reused")
    return [*earlier, {key: previous.get(key) for key in keys}]


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(arguments)
    try:
        problem = _problem_spec(args)
        samplers: list[SamplerSpec] = parse_samplers(args.samplers)
        for spec in samplers:
            spec.build(seed=0)  # refuse bad keyword values before any run starts
        # Read and check the data before any run starts.
        if problem.name in MULTI_OBJECTIVE_PROBLEMS:
            multi_objective.build_size_problem(problem)
        else:
            build_problem(problem)
    except ValueError as error:
        _fail(str(error))
    n_trials = args.n_trials
    late = [c for c in args.checkpoints if c > n_trials]
    if late:
        _fail(f"--checkpoints must be <= --n-trials ({n_trials}), got {late}")
    checkpoints = sorted({c for c in (50, 100, n_trials, *args.checkpoints) if c <= n_trials})
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    config: dict[str, Any] = {
        "problem": problem.to_json(),
        "samplers": [spec.to_json() for spec in samplers],
        "seeds": seeds,
        "n_trials": n_trials,
        "checkpoints": checkpoints,
        "jobs": args.jobs,
    }
    out: Path = args.out
    _check_out_dir(out, config)

    extra_packages = meta.TRAINING_PACKAGES if problem.name in TRAINING_PROBLEMS else ()
    record = {
        **meta.started_record(
            "benchmarks.compare",
            arguments,
            out,
            config,
            sampler_settings={spec.label: spec.settings() for spec in samplers},
            extra_packages=extra_packages,
        ),
        "earlier_invocations": _earlier_invocations(out),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / META_FILE).write_text(json.dumps(record, indent=1) + "\n")

    tasks = [
        RunTask(
            problem=problem,
            sampler=spec,
            seed=seed,
            n_trials=n_trials,
            threads=max(1, (os.cpu_count() or 1) // args.jobs),
        )
        for seed in seeds
        for spec in samplers
    ]
    print(
        f"{len(tasks)} runs ({len(samplers)} samplers x {len(seeds)} seeds x {n_trials} "
        f"trials) on {problem.name}, {args.jobs} at a time -> {out}",
        file=sys.stderr,
    )
    failures, record["runs_reused"] = run_all(tasks, out, jobs=args.jobs)
    if failures:
        print_failures(PROG, failures)
        return 1
    record["finished"] = meta.now()
    (out / META_FILE).write_text(json.dumps(record, indent=1) + "\n")
    if problem.name in MULTI_OBJECTIVE_PROBLEMS:
        multi_objective.write_report(out)
    else:
        write_report(out)
    print(out / "README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
