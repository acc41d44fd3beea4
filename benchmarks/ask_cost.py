"""The cost of one proposal in a large asynchronous study: 128 trials RUNNING, 10,000 in all.

    python -m benchmarks.ask_cost [--storage postgresql+psycopg2://...] \
        [--out benchmarks/results/async_ask_cost]

Without ``--out`` the rows are printed only.

For each search space (the 40-parameter NASNet encoding, :func:`optuna_amoeba.nasnet.
suggest_genotype`, and the 6-edge NATS-Bench cell), each storage (Optuna's in-memory storage,
plus the ``--storage`` URL when given) and each sampler (AgingEvolutionSampler, TPESampler
with its defaults, RandomSampler), a study of its own is filled with ``--size`` minus
``--running`` completed trials of random architectures (random values: a sampler's cost
does not depend on them) and ``--running`` RUNNING ones, as on a cluster where that many
workers are training. On it the sampler times ``--asks`` proposals, each one
``study.ask()`` plus the trial's ``suggest_*`` calls; after each, the ``--turnover`` oldest
running trials are told and one fewer new ones start (random architectures), so the number
running stays the same and the study grows by ``--turnover`` trials per proposal. The
default turnover, ``--running``, is one proposal of one worker among that many: every other
worker finishes a training and starts the next between two of its proposals, and the
sampler reads all of them at its next ask. The first proposal, which also reads the filled
trials into the sampler's caches and the storage's, is reported apart.

Split of a proposal's time: the sampler's methods (their own computing, and the storage
reads they make: ``get_all_trials``), and the rest, which is Optuna creating the trial and
storing its parameters.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from collections.abc import Sequence
import json
import os
from pathlib import Path
import statistics
import sys
import time
from typing import Any
import uuid

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalDistribution
from optuna.storages import BaseStorage
from optuna.storages import InMemoryStorage
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from benchmarks import meta
from benchmarks.load import bulk_insert_completed
from benchmarks.load import quiet
from benchmarks.nats import EDGE_PARAMS
from benchmarks.nats import NATS_OPERATIONS
from benchmarks.nats import suggest_nats_arch
from benchmarks.samplers import SamplerClock
from optuna_amoeba import AgingEvolutionSampler
from optuna_amoeba import mask_password
from optuna_amoeba import nasnet
from optuna_amoeba import open_storage


_MODULE = "benchmarks.ask_cost"
SAMPLERS: dict[str, Callable[[int], optuna.samplers.BaseSampler]] = {
    "AgingEvolutionSampler": lambda seed: AgingEvolutionSampler(seed=seed),
    "TPESampler": lambda seed: optuna.samplers.TPESampler(seed=seed),
    "RandomSampler": lambda seed: optuna.samplers.RandomSampler(seed=seed),
}


def _nats_space() -> dict[str, BaseDistribution]:
    return {name: CategoricalDistribution(NATS_OPERATIONS) for name in EDGE_PARAMS}


SPACES: dict[str, tuple[Callable[[], dict[str, BaseDistribution]], Callable[..., Any]]] = {
    "NASNet (40 parameters)": (nasnet.search_space, nasnet.suggest_genotype),
    "NATS-Bench cell (6 parameters)": (_nats_space, suggest_nats_arch),
}


def random_trials(
    space: dict[str, BaseDistribution], count: int, state: TrialState, seed: int
) -> list[FrozenTrial]:
    """``count`` trials of random choices, completed with a random value or running."""
    rng = np.random.RandomState(seed)
    trials = []
    for _ in range(count):
        params = {}
        for name, distribution in space.items():
            assert isinstance(distribution, CategoricalDistribution)
            params[name] = distribution.choices[rng.randint(len(distribution.choices))]
        value = float(rng.normal()) if state == TrialState.COMPLETE else None
        trials.append(
            optuna.trial.create_trial(params=params, distributions=space, value=value, state=state)
        )
    return trials


def fill(
    storage: BaseStorage, space_name: str, *, size: int, running: int, seed: int
) -> tuple[str, float]:
    """A new study of ``size - running`` completed and ``running`` RUNNING random trials;
    returns its name and the seconds the filling took."""
    space = SPACES[space_name][0]()
    study_name = f"ask-cost-{uuid.uuid4().hex[:8]}"
    study = optuna.create_study(storage=storage, study_name=study_name, direction="maximize")
    start = time.perf_counter()
    completed = random_trials(space, size - running, TrialState.COMPLETE, seed)
    if isinstance(storage, RDBStorage):
        bulk_insert_completed(storage, study._study_id, completed)
    else:
        study.add_trials(completed)
    study.add_trials(random_trials(space, running, TrialState.RUNNING, seed + 1))
    return study_name, time.perf_counter() - start


def measure(
    storage: BaseStorage,
    study_name: str,
    space_name: str,
    sampler_name: str,
    *,
    asks: int,
    turnover: int,
    seed: int,
) -> dict[str, Any]:
    """Time ``asks`` proposals of ``sampler_name``, after a first one reported apart; between
    two, ``turnover`` running trials are told and ``turnover - 1`` new ones start."""
    space, suggest = SPACES[space_name][0](), SPACES[space_name][1]
    sampler = SAMPLERS[sampler_name](seed)
    clock = SamplerClock.attach(sampler)
    study = optuna.load_study(study_name=study_name, storage=storage, sampler=sampler)
    running = len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
    storage_seconds = clock.time_storage(study._storage, ("get_all_trials",))
    rng = np.random.RandomState(seed)
    per_ask: list[tuple[float, float, float]] = []
    for _ in range(asks + 1):
        mark = (time.perf_counter(), clock.seconds, storage_seconds[0])
        trial = study.ask()
        suggest(trial)
        per_ask.append(
            (
                time.perf_counter() - mark[0],
                clock.seconds - mark[1],
                storage_seconds[0] - mark[2],
            )
        )
        for oldest in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))[:turnover]:
            study.tell(oldest.number, float(rng.normal()))
        started = random_trials(space, turnover - 1, TrialState.RUNNING, rng.randint(2**31))
        study.add_trials(started)
    trials = study.get_trials(deepcopy=False)
    assert sum(t.state == TrialState.RUNNING for t in trials) == running
    timed = per_ask[1:]
    return {
        "space": space_name,
        "sampler": sampler_name,
        "trials": len(trials),
        "running": running,
        "asks": asks,
        "turnover": turnover,
        "first_ask_ms": round(1e3 * per_ask[0][0], 1),
        "median_ask_ms": round(1e3 * statistics.median(t for t, _, _ in timed), 2),
        "median_sampler_ms": round(1e3 * statistics.median(s for _, s, _ in timed), 2),
        "median_sampler_storage_ms": round(1e3 * statistics.median(io for _, _, io in timed), 2),
        "sampler_share": round(statistics.median(s / t for t, s, _ in timed), 3),
        "p90_ask_ms": round(1e3 * float(np.percentile([t for t, _, _ in timed], 90)), 2),
    }


def _minimum_training(ask_ms: float, workers: int, share: float) -> float:
    """Seconds a training must last for ``workers`` workers' asks, run one after another,
    to take at most ``share`` of the search's wall-clock (a pessimistic bound: asks of
    different workers run in parallel on their own machines)."""
    return workers * ask_ms / 1e3 / share


def write_report(out: Path, report: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    running = report["running"]
    lines = [
        f"# One proposal with {running} trials RUNNING in a {report['size']:,}-trial study",
        "",
        f"Command: `{report['command']}`",
        "",
        f"Machine: {report['machine']['cpu_model']}, {report['machine']['cpu_count']} CPUs; "
        f"load average before/after: {report['load_before']} / {report['load_after']}",
        f"Versions: {', '.join(f'{k} {v}' for k, v in report['versions'].items())}",
        f"Date: {report['date']}, commit {report['commit']}",
        "",
        "A proposal is `study.ask()` plus the trial's `suggest_*` calls; medians over "
        f"{report['asks']} proposals (TPE: {report['tpe_asks']}) on a study of its own for each "
        f"sampler, each proposal followed by {_turnover_text(report['turnover'], running)}. "
        "'sampler': time inside the sampler's methods, of which "
        "'storage reads' is the `get_all_trials` calls they make; the rest of a proposal is "
        "Optuna creating the trial and storing its parameters. 'first': the first proposal "
        "after the study was filled (it also reads the filled trials into the caches). "
        f"'training for 1%': the shortest training for which {running} workers' proposals, "
        "even run one after another, take at most 1% of the search's wall-clock.",
        "",
        "| storage | space | sampler | proposal (ms) | p90 (ms) | sampler (ms) | storage reads "
        "(ms) | sampler share | first (ms) | training for 1% |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in report["rows"]:
        seconds = _minimum_training(row["median_ask_ms"], running, 0.01)
        lines.append(
            f"| {row['storage']} | {row['space']} | {row['sampler']} | {row['median_ask_ms']} | "
            f"{row['p90_ask_ms']} | {row['median_sampler_ms']} | "
            f"{row['median_sampler_storage_ms']} | {row['sampler_share']:.0%} | "
            f"{row['first_ask_ms']} | {_duration(seconds)} |"
        )
    if report["note"]:
        lines += ["", f"Note: {report['note']}"]
    (out / "README.md").write_text("\n".join(lines) + "\n")


def _turnover_text(turnover: int, running: int) -> str:
    if turnover == 1:
        return "telling the oldest running trial (a lone worker's view)"
    text = f"telling the {turnover} oldest running trials and starting {turnover - 1} new ones"
    if turnover == running:
        text += " (every other worker finishing a training between two proposals of one)"
    return text


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=f"python -m {_MODULE}", description=__doc__)
    parser.add_argument("--storage", default=None, help="an RDB storage URL besides in-memory")
    parser.add_argument("--size", type=int, default=10_000, help="trials in the study")
    parser.add_argument("--running", type=int, default=128, help="trials RUNNING")
    parser.add_argument("--asks", type=int, default=50, help="timed proposals per row")
    parser.add_argument(
        "--turnover",
        type=int,
        default=None,
        help="running trials told (and one fewer started) between two timed proposals "
        "(default: --running, every other worker finishing one training)",
    )
    parser.add_argument("--tpe-asks", type=int, default=10, help="timed proposals for TPE")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--note", default="", help="how the run was made, shown in the report")
    parser.add_argument(
        "--out", type=Path, default=None, help="folder for README.md and results.json"
    )
    args = parser.parse_args(argv)
    if args.running < 1:
        parser.error(f"--running must be an int >= 1, got {args.running}")
    if args.size <= args.running:
        parser.error(f"--size must exceed --running ({args.running}), got {args.size}")
    if args.turnover is None:
        args.turnover = args.running
    if not 1 <= args.turnover <= args.running:
        parser.error(f"--turnover must be an int in [1, --running], got {args.turnover}")
    if args.asks < 1 or args.tpe_asks < 1:
        parser.error("--asks and --tpe-asks must be ints >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parse_args(argv)
    quiet()
    storages: list[tuple[str, Callable[[], BaseStorage]]] = [("in-memory", InMemoryStorage)]
    if args.storage is not None:
        try:
            open_storage(args.storage)
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            raise SystemExit(2) from None
        scheme = args.storage.split("://", 1)[0].split("+", 1)[0]
        storages.append((scheme, lambda: open_storage(args.storage)))
    report: dict[str, Any] = {
        "command": mask_password(meta.command_line(_MODULE, argv)),
        "date": meta.now(),
        "commit": meta.git_commit(),
        "versions": meta.versions(("sqlalchemy", "psycopg2-binary")),
        "machine": meta.machine(),
        "size": args.size,
        "running": args.running,
        "asks": args.asks,
        "tpe_asks": args.tpe_asks,
        "turnover": args.turnover,
        "note": args.note,
        "load_before": _load_average(),
        "rows": [],
    }
    for storage_name, make_storage in storages:
        storage = make_storage()
        for space_name in SPACES:
            # Each sampler on a study of its own, filled alike: the turnover grows a study.
            for sampler_name in SAMPLERS:
                study_name, fill_seconds = fill(
                    storage, space_name, size=args.size, running=args.running, seed=args.seed
                )
                print(f"{storage_name}, {space_name}: filled in {fill_seconds:.1f} s", flush=True)
                asks = args.tpe_asks if sampler_name == "TPESampler" else args.asks
                row = measure(
                    storage,
                    study_name,
                    space_name,
                    sampler_name,
                    asks=asks,
                    turnover=args.turnover,
                    seed=args.seed,
                )
                row["storage"] = storage_name
                row["fill_seconds"] = round(fill_seconds, 1)
                report["rows"].append(row)
                print(json.dumps(row), flush=True)
                optuna.delete_study(study_name=study_name, storage=storage)
    report["load_after"] = _load_average()
    if args.out is not None:
        write_report(args.out, report)
        print(f"wrote {args.out / 'README.md'}")


if __name__ == "__main__":
    main()
