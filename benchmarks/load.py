"""Load on a shared storage: proposals per second, and the sampler's share of each trial.

Two measurements, both with the synthetic NASNet objective (instant: microseconds to score,
so a trial's time is the sampler's plus Optuna's storage traffic):

1. Throughput. For each worker count, that many processes join one fresh study and run
   trials for ``--seconds``; the rate counts the trials finished while all of them ran.
2. Growth. One process grows a study through the sizes of ``--checkpoints``. Before each
   it adds completed trials of random genotypes in bulk (Optuna's ``add_trials``, scored by
   the same objective), then runs ``--timed-trials`` trials through the sampler, timing
   every sampler call, the storage reads and writes made inside them, and the whole trial.

    python -m benchmarks.load --storage postgresql+psycopg2://postgres@127.0.0.1:5432/db

Writes ``load.json``, ``load.md`` and ``load.png`` under ``--out``. The storage URL's
password, if any, is masked in everything written.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from collections.abc import Sequence
import datetime
import json
import multiprocessing
import os
from pathlib import Path
import statistics
import sys
import time
from typing import Any
from typing import TypeVar
import uuid
import warnings

import numpy as np
import optuna
from optuna.distributions import distribution_to_json
from optuna.storages import BaseStorage
from optuna.storages import RDBStorage
from optuna.study import Study
from optuna.trial import FrozenTrial
from optuna.trial import TrialState
import sqlalchemy

from benchmarks import meta
from benchmarks.samplers import SamplerClock
from benchmarks.synthetic import SyntheticNASNetObjective
from optuna_amoeba import AgingEvolutionSampler
from optuna_amoeba import mask_password
from optuna_amoeba import nasnet
from optuna_amoeba import open_storage


_T = TypeVar("_T")
_MODULE = "benchmarks.load"
# Optuna 4.x/5.x RDB schema, the one bulk_insert_completed writes.
_BULK_INSERT_SCHEMA = "v3.2.0.a"
_EXTRA_PACKAGES = ("sqlalchemy", "psycopg2-binary", "psycopg", "redis")


def quiet() -> None:
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def _throughput_worker(
    url: str, study_name: str, seed: int, seconds: float, num_blocks: int, barrier: Any
) -> list[float]:
    """Runs trials for ``seconds``; returns each trial's end time (``time.time()``)."""
    quiet()
    study = optuna.load_study(
        study_name=study_name,
        storage=open_storage(url),
        sampler=AgingEvolutionSampler(seed=seed),
    )
    objective = SyntheticNASNetObjective(num_blocks=num_blocks, seed=0)
    ends: list[float] = []
    barrier.wait()  # all workers imported and connected: start together
    study.optimize(
        objective, timeout=seconds, callbacks=[lambda study, trial: ends.append(time.time())]
    )
    return ends


def measure_throughput(
    url: str, workers: int, seconds: float, seed: int, num_blocks: int
) -> dict[str, Any]:
    study_name = f"amoeba-load-{workers}w-{uuid.uuid4().hex[:8]}"
    optuna.create_study(storage=open_storage(url), study_name=study_name, direction="maximize")
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, context.Pool(workers) as pool:
        barrier = manager.Barrier(workers)
        ends_per_worker = pool.starmap(
            _throughput_worker,
            [(url, study_name, seed + i, seconds, num_blocks, barrier) for i in range(workers)],
        )
    # The window in which every worker was running trials: from the last worker's first
    # trial end to the first worker's last one.
    window_start = max(ends[0] for ends in ends_per_worker)
    window_end = min(ends[-1] for ends in ends_per_worker)
    in_window = sum(window_start < end <= window_end for ends in ends_per_worker for end in ends)
    window = window_end - window_start
    study = optuna.load_study(study_name=study_name, storage=open_storage(url))
    trials = study.get_trials(deepcopy=False)
    result = {
        "workers": workers,
        "trials": len(trials),
        "complete": sum(t.state == TrialState.COMPLETE for t in trials),
        "evolved": sum(t.system_attrs.get("amoeba:parent") is not None for t in trials),
        "window_seconds": round(window, 2),
        "trials_in_window": in_window,
        "proposals_per_second": round(in_window / window, 2) if window > 0 else None,
    }
    optuna.delete_study(study_name=study_name, storage=open_storage(url))
    return result


def random_trials(count: int, num_blocks: int, seed: int) -> list[FrozenTrial]:
    """``count`` completed trials of random genotypes, scored by the synthetic objective."""
    objective = SyntheticNASNetObjective(num_blocks=num_blocks, seed=0)
    space = nasnet.search_space(num_blocks)
    rng = np.random.RandomState(seed)
    trials = []
    for _ in range(count):
        params: dict[str, object] = {
            name: distribution.choices[rng.randint(len(distribution.choices))]
            for name, distribution in space.items()
            if isinstance(distribution, optuna.distributions.CategoricalDistribution)
        }
        score = objective.score(nasnet.Genotype.from_params(params))
        trials.append(optuna.trial.create_trial(params=params, distributions=space, value=score))
    return trials


def bulk_insert_completed(
    storage: RDBStorage, study_id: int, trials: Sequence[FrozenTrial]
) -> None:
    """Insert completed ``trials`` with multi-row INSERTs into Optuna's own tables.

    The public ``Study.add_trials`` spends a transaction and dozens of queries on each trial:
    160 ms per 40-parameter trial on PostgreSQL on the project's 2-core machine, 27 minutes
    for 10,000, so the load benchmark writes the rows ``add_trials`` would write itself. That
    depends on Optuna's private schema, so it runs only on the schema it was written for, and
    the trials are read back through the public API and compared before they are used.
    """
    from optuna.storages._rdb import models

    if storage.get_current_version() != _BULK_INSERT_SCHEMA:
        raise RuntimeError(
            f"bulk_insert_completed writes Optuna's schema {_BULK_INSERT_SCHEMA}; this "
            f"storage has {storage.get_current_version()} (Optuna {optuna.__version__})"
        )

    trial_table = models.TrialModel.__table__
    count = sqlalchemy.select(sqlalchemy.func.count()).select_from(trial_table)
    insert_trials = trial_table.insert().returning(
        trial_table.c.trial_id, sort_by_parameter_order=True
    )
    with storage.engine.begin() as connection:
        first_number = connection.execute(
            count.where(trial_table.c.study_id == study_id)
        ).scalar_one()
        for start in range(0, len(trials), 1000):
            chunk = trials[start : start + 1000]
            trial_rows = [
                {
                    "study_id": study_id,
                    "number": first_number + start + offset,
                    "state": TrialState.COMPLETE.name,
                    "datetime_start": _naive_utc(trial.datetime_start),
                    "datetime_complete": _naive_utc(trial.datetime_complete),
                }
                for offset, trial in enumerate(chunk)
            ]
            trial_ids = connection.execute(insert_trials, trial_rows).scalars().all()
            value_rows: list[dict[str, Any]] = []
            param_rows: list[dict[str, Any]] = []
            for trial_id, trial in zip(trial_ids, chunk, strict=True):
                assert trial.value is not None
                value, value_type = models.TrialValueModel.value_to_stored_repr(trial.value)
                value_rows.append(
                    {"trial_id": trial_id, "objective": 0, "value": value}
                    | {"value_type": value_type.name}
                )
                param_rows += [
                    {
                        "trial_id": trial_id,
                        "param_name": name,
                        "param_value": distribution.to_internal_repr(trial.params[name]),
                        "distribution_json": distribution_to_json(distribution),
                    }
                    for name, distribution in trial.distributions.items()
                ]
            connection.execute(models.TrialValueModel.__table__.insert(), value_rows)
            connection.execute(models.TrialParamModel.__table__.insert(), param_rows)
    stored = storage.get_all_trials(study_id, deepcopy=False)[-len(trials) :] if trials else []
    for written, read in zip(trials, stored, strict=True):
        if (read.state, read.params, read.values) != (
            TrialState.COMPLETE,
            written.params,
            written.values,
        ):
            raise RuntimeError(f"bulk-inserted trial {read.number} reads back differently")


def _naive_utc(moment: datetime.datetime | None) -> datetime.datetime | None:
    """RDBStorage keeps times as naive UTC."""
    if moment is None:
        return None
    return moment.astimezone(datetime.timezone.utc).replace(tzinfo=None)


def measure_growth(
    storage: BaseStorage,
    checkpoints: Sequence[int],
    timed_trials: int,
    seed: int,
    num_blocks: int,
) -> list[dict[str, Any]]:
    """At each study size in ``checkpoints`` (filled in bulk), time ``timed_trials`` trials."""
    study_name = f"amoeba-load-growth-{uuid.uuid4().hex[:8]}"
    sampler = AgingEvolutionSampler(seed=seed)
    clock = SamplerClock.attach(sampler)
    study = optuna.create_study(
        storage=storage, study_name=study_name, sampler=sampler, direction="maximize"
    )
    storage_seconds = clock.time_storage(
        study._storage, ("get_all_trials", "set_trial_system_attr")
    )
    objective = SyntheticNASNetObjective(num_blocks=num_blocks, seed=0)
    rows = []
    for index, checkpoint in enumerate(checkpoints):
        missing = checkpoint - len(study.get_trials(deepcopy=False))
        fill_start = time.perf_counter()
        if missing > 0:
            filler = random_trials(missing, num_blocks, seed + index)
            if isinstance(storage, RDBStorage):
                bulk_insert_completed(storage, study._study_id, filler)
            else:
                study.add_trials(filler)
        fill_seconds = time.perf_counter() - fill_start
        per_trial = _run_timed(study, objective, timed_trials, clock, storage_seconds)
        # The first trial after a bulk fill also takes in the filled trials: shown apart.
        row = _summarise(per_trial[1:])
        row.update(
            study_size=checkpoint,
            bulk_fill_seconds=round(fill_seconds, 2),
            first_trial_after_fill_ms=round(1000 * per_trial[0][0], 1),
        )
        rows.append(row)
        print(f"growth: {row}", flush=True)
    optuna.delete_study(study_name=study_name, storage=storage)
    return rows


def measure_evolution_in_memory(
    n_trials: int, bucket: int, seed: int, num_blocks: int
) -> list[dict[str, Any]]:
    """One real evolution to ``n_trials`` in memory: the sampler against the fastest storage."""
    sampler = AgingEvolutionSampler(seed=seed)
    clock = SamplerClock.attach(sampler)
    study = optuna.create_study(sampler=sampler, direction="maximize")
    storage_seconds = clock.time_storage(
        study._storage, ("get_all_trials", "set_trial_system_attr")
    )
    objective = SyntheticNASNetObjective(num_blocks=num_blocks, seed=0)
    per_trial = _run_timed(study, objective, n_trials, clock, storage_seconds)
    rows = []
    for start in range(0, n_trials, bucket):
        row = _summarise(per_trial[start : start + bucket])
        row["trials"] = f"{start}-{min(start + bucket, n_trials) - 1}"
        rows.append(row)
    print(f"in memory: {rows[-1]}", flush=True)
    return rows


def _summarise(per_trial: Sequence[tuple[float, float, float]]) -> dict[str, Any]:
    """Medians over trials; shares are medians of each trial's own ratio, robust to the
    occasional trial stalled by other processes on a shared machine."""
    return {
        "timed_trials": len(per_trial),
        "median_trial_ms": round(1000 * statistics.median(t for t, _, _ in per_trial), 2),
        "median_sampler_ms": round(1000 * statistics.median(s for _, s, _ in per_trial), 2),
        "median_sampler_compute_ms": round(
            1000 * statistics.median(s - io for _, s, io in per_trial), 2
        ),
        "sampler_share": round(statistics.median(s / t for t, s, _ in per_trial), 3),
        "sampler_storage_share": round(statistics.median(io / t for t, _, io in per_trial), 3),
        "sampler_compute_share": round(
            statistics.median((s - io) / t for t, s, io in per_trial), 3
        ),
    }


def _run_timed(
    study: Study,
    objective: Callable[[optuna.Trial], float],
    n_trials: int,
    clock: SamplerClock,
    storage_seconds: list[float],
) -> list[tuple[float, float, float]]:
    """Per trial: seconds in all, in the sampler, in storage calls made by the sampler."""
    per_trial: list[tuple[float, float, float]] = []
    mark = [time.perf_counter(), clock.seconds, storage_seconds[0]]

    def record(study: Study, trial: FrozenTrial) -> None:
        now = [time.perf_counter(), clock.seconds, storage_seconds[0]]
        per_trial.append((now[0] - mark[0], now[1] - mark[1], now[2] - mark[2]))
        mark[:] = now

    study.optimize(objective, n_trials=n_trials, callbacks=[record])
    return per_trial


def _server(url: str) -> str:
    if "://" in url and url.split("://", 1)[0].startswith("postgresql"):
        engine = sqlalchemy.create_engine(url)
        try:
            with engine.connect() as connection:
                return str(connection.execute(sqlalchemy.text("select version()")).scalar())
        finally:
            engine.dispose()
    return url.split("://", 1)[0]


def _load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def write_report(out: Path, report: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "load.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "# Load on a shared storage",
        "",
        f"Command: `{report['command']}`",
        "",
        f"Storage: `{report['storage']}` ({report['server']})",
        f"Machine: {report['machine']['cpu_model']}, {report['machine']['cpu_count']} CPUs; "
        f"load average before/after: {report['load_average_before']} / "
        f"{report['load_average_after']}",
        f"Versions: {', '.join(f'{k} {v}' for k, v in report['versions'].items())}",
        f"Date: {report['date']}, commit {report['commit']}",
        *([f"Note: {report['note']}"] if report["note"] else []),
        "",
        f"Objective: synthetic NASNet, {report['num_blocks']} blocks per cell "
        f"({8 * report['num_blocks']} categorical parameters), instant; sampler defaults.",
        "",
        "## Proposals per second",
        "",
        "| workers | proposals/s | trials in window | window (s) | trials | evolved |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in report["throughput"]:
        lines.append(
            f"| {row['workers']} | {row['proposals_per_second']} | {row['trials_in_window']} | "
            f"{row['window_seconds']} | {row['trials']} | {row['evolved']} |"
        )
    lines += [
        "",
        "## Sampler's share of a trial as the study grows",
        "",
        f"One worker on `{report['storage']}`. Before each row the study is filled in bulk with "
        "completed trials of random genotypes; then the timed trials run through the sampler "
        "(the first one, which also takes in the filled trials, is shown apart). The sampler's "
        "time includes the storage reads and writes it makes itself; its compute is the rest. "
        "Shares are medians of each trial's own ratio.",
        "",
        "| study size | median trial (ms) | median sampler (ms) | sampler compute (ms) | "
        "sampler share | storage I/O share | compute share | first trial after fill (ms) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in report["growth"]:
        lines.append(
            f"| {row['study_size']} | {row['median_trial_ms']} | {row['median_sampler_ms']} | "
            f"{row['median_sampler_compute_ms']} | "
            f"{row['sampler_share']:.1%} | {row['sampler_storage_share']:.1%} | "
            f"{row['sampler_compute_share']:.1%} | {row['first_trial_after_fill_ms']} |"
        )
    lines += [
        "",
        "## One evolution in memory",
        "",
        "The same sampler evolving one study to the same size with Optuna's in-memory "
        "storage, the fastest there is: the sampler's share here is its largest possible.",
        "",
        "| trials | median trial (ms) | median sampler (ms) | sampler compute (ms) | "
        "sampler share | compute share |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in report["in_memory"]:
        lines.append(
            f"| {row['trials']} | {row['median_trial_ms']} | {row['median_sampler_ms']} | "
            f"{row['median_sampler_compute_ms']} | "
            f"{row['sampler_share']:.1%} | {row['sampler_compute_share']:.1%} |"
        )
    (out / "load.md").write_text("\n".join(lines) + "\n")
    _plot(out / "load.png", report)


def _plot(path: Path, report: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    throughput = report["throughput"]
    left.plot(
        [row["workers"] for row in throughput],
        [row["proposals_per_second"] for row in throughput],
        marker="o",
    )
    left.set_xlabel("worker processes")
    left.set_ylabel("proposals per second")
    left.set_title("Throughput, instant objective")
    left.set_ylim(bottom=0)
    growth = report["growth"]
    sizes = [row["study_size"] for row in growth]
    right.plot(sizes, [row["sampler_share"] for row in growth], marker="o", label="sampler")
    right.plot(
        sizes,
        [row["sampler_compute_share"] for row in growth],
        marker="s",
        label="sampler without storage I/O",
    )
    in_memory = report["in_memory"]
    right.plot(
        [int(row["trials"].split("-")[1]) + 1 for row in in_memory],
        [row["sampler_share"] for row in in_memory],
        linestyle="--",
        label="sampler, in-memory storage",
    )
    right.set_xlabel("trials in the study")
    right.set_ylabel("share of the time per trial")
    right.set_title("Sampler's share, one worker")
    right.set_ylim(0, 1)
    right.legend()
    figure.suptitle(f"{report['server'].split(' on ')[0]}; {report['machine']['cpu_count']} CPUs")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=f"python -m {_MODULE}", description=__doc__)
    parser.add_argument("--storage", required=True, help="storage URL (open_storage's forms)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--seconds", type=float, default=20.0, help="per worker count")
    parser.add_argument(
        "--checkpoints",
        type=int,
        nargs="+",
        default=[100, 1000, 2500, 5000, 7500, 10000],
        help="study sizes at which the growth run times trials",
    )
    parser.add_argument("--timed-trials", type=int, default=41)
    parser.add_argument(
        "--bucket", type=int, default=1000, help="trials per row of the in-memory evolution"
    )
    parser.add_argument("--num-blocks", type=int, default=nasnet.DEFAULT_NUM_BLOCKS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--note", default="", help="how the run was made, shown in load.md")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/load"))
    args = parser.parse_args(argv)
    if any(w < 1 for w in args.workers):
        parser.error(f"--workers must be ints >= 1, got {args.workers}")
    if args.seconds <= 0:
        parser.error(f"--seconds must be > 0, got {args.seconds}")
    if args.timed_trials < 2:
        parser.error(f"--timed-trials must be >= 2, got {args.timed_trials}")
    if args.bucket < 1:
        parser.error(f"--bucket must be >= 1, got {args.bucket}")
    if args.num_blocks < 1:
        parser.error(f"--num-blocks must be >= 1, got {args.num_blocks}")
    if any(c < 0 for c in args.checkpoints) or list(args.checkpoints) != sorted(args.checkpoints):
        parser.error(f"--checkpoints must be increasing ints >= 0, got {args.checkpoints}")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parse_args(argv)
    quiet()
    try:
        open_storage(args.storage)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    report: dict[str, Any] = {
        "command": mask_password(meta.command_line(_MODULE, argv)),
        "date": meta.now(),
        "commit": meta.git_commit(),
        "versions": meta.versions(_EXTRA_PACKAGES),
        "machine": meta.machine(),
        "storage": mask_password(args.storage),
        "server": mask_password(_server(args.storage)),
        "num_blocks": args.num_blocks,
        "seed": args.seed,
        "note": args.note,
        "load_average_before": _load_average(),
    }
    start = time.perf_counter()
    report["throughput"] = []
    for workers in args.workers:
        row = measure_throughput(args.storage, workers, args.seconds, args.seed, args.num_blocks)
        print(f"throughput: {row}", flush=True)
        report["throughput"].append(row)
    report["growth"] = measure_growth(
        open_storage(args.storage),
        args.checkpoints,
        args.timed_trials,
        args.seed,
        args.num_blocks,
    )
    report["in_memory"] = measure_evolution_in_memory(
        args.checkpoints[-1], args.bucket, args.seed, args.num_blocks
    )
    report["load_average_after"] = _load_average()
    report["elapsed_seconds"] = round(time.perf_counter() - start, 1)
    write_report(args.out, report)
    print(f"wrote {args.out / 'load.md'} in {report['elapsed_seconds']} s")


if __name__ == "__main__":
    main()
