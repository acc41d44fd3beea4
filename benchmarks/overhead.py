"""Sampler overhead on the 40-parameter NASNet space, in-memory storage.

    python -m benchmarks.overhead [--sizes 1000 10000] [--repeats 7] \
        [--out benchmarks/results/overhead]

For each study size N, each sampler's study is first grown to N - R*W trials; then the
samplers take turns, R times, to run W timed trials each (ask, the cheap synthetic
objective, tell), so that every sampler meets the machine's load of the same moments. The
tables give the median ms/trial over the R windows and the median of the R ratios of
windows run back to back (AgingEvolutionSampler / RandomSampler, TPESampler /
AgingEvolutionSampler). AgingEvolutionSampler and RandomSampler grow their own history.
TPESampler would need hours to reach 10,000 trials itself, so its history is grown by
RandomSampler (``add_trials`` of random NASNet trials) and only the timed windows use TPE;
its cost depends on the number of trials, not on who proposed them.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
import json
from pathlib import Path
import statistics
import sys
import time

import optuna

from benchmarks import meta as run_meta
from benchmarks._cli import OneLineErrorParser
from benchmarks._cli import positive_int
from benchmarks.synthetic import SyntheticNASNetObjective
from optuna_amoeba import AgingEvolutionSampler


AMOEBA, RANDOM, TPE = "AgingEvolutionSampler", "RandomSampler", "TPESampler"
UNSCREENED = "AgingEvolutionSampler(mutation_candidates=1)"
SAMPLERS: dict[str, Callable[[int], optuna.samplers.BaseSampler]] = {
    AMOEBA: lambda seed: AgingEvolutionSampler(seed=seed),
    UNSCREENED: lambda seed: AgingEvolutionSampler(mutation_candidates=1, seed=seed),
    RANDOM: lambda seed: optuna.samplers.RandomSampler(seed=seed),
    TPE: lambda seed: optuna.samplers.TPESampler(seed=seed),
}
GROWS_OWN_HISTORY = {AMOEBA, UNSCREENED, RANDOM}


def grown_study(name: str, trials: int, seed: int) -> optuna.Study:
    """A study of ``name``'s sampler holding ``trials`` trials of the synthetic objective."""
    objective = SyntheticNASNetObjective(seed=seed)
    study = optuna.create_study(direction="maximize", sampler=SAMPLERS[name](seed))
    if name in GROWS_OWN_HISTORY:
        study.optimize(objective, n_trials=trials)
    else:
        donor = optuna.create_study(
            direction="maximize", sampler=optuna.samplers.RandomSampler(seed=seed)
        )
        donor.optimize(objective, n_trials=trials)
        study.add_trials(donor.get_trials(deepcopy=False))
    return study


def timed_window(study: optuna.Study, trials: int, seed: int) -> float:
    """ms per trial over ``trials`` more trials of ``study``."""
    objective = SyntheticNASNetObjective(seed=seed)
    start = time.perf_counter()
    study.optimize(objective, n_trials=trials)
    return (time.perf_counter() - start) / trials * 1000


def measure(size: int, windows: dict[str, int], repeats: int, seed: int) -> dict[str, list[float]]:
    """Per sampler, the ms/trial of each of ``repeats`` interleaved windows before ``size``."""
    studies = {
        name: grown_study(name, size - repeats * window, seed) for name, window in windows.items()
    }
    times: dict[str, list[float]] = {name: [] for name in windows}
    for _ in range(repeats):
        for name, window in windows.items():
            times[name].append(timed_window(studies[name], window, seed))
    return times


def main(argv: Sequence[str] | None = None) -> None:
    parser = OneLineErrorParser(
        prog="python -m benchmarks.overhead", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--sizes", type=positive_int, nargs="+", default=[1000, 10000])
    parser.add_argument("--window", type=positive_int, default=100, help="timed trials per window")
    parser.add_argument("--tpe-window", type=positive_int, default=10, help="timed trials for TPE")
    parser.add_argument(
        "--repeats", type=positive_int, default=7, help="windows per sampler and size"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="folder for results.json/.md")
    args = parser.parse_args(argv)
    if any(size <= args.repeats * max(args.window, args.tpe_window) for size in args.sizes):
        parser.error("every --sizes value must exceed --repeats times --window and --tpe-window")
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    windows = {
        name: args.window if name in GROWS_OWN_HISTORY else args.tpe_window for name in SAMPLERS
    }
    rows = []
    times: dict[int, dict[str, list[float]]] = {}
    for size in args.sizes:
        times[size] = measure(size, windows, args.repeats, args.seed)
        for name in SAMPLERS:
            ms = statistics.median(times[size][name])
            rows.append(
                {
                    "sampler": name,
                    "trials": size,
                    "window": windows[name],
                    "ms_per_trial": ms,
                    "ms_per_trial_windows": times[size][name],
                }
            )
            print(f"{name:22s} at {size:6d} trials: {ms:8.2f} ms/trial (median)", flush=True)

    by = {(r["sampler"], r["trials"]): r["ms_per_trial"] for r in rows}
    lines = [
        "| sampler | " + " | ".join(f"ms/trial at {s:,} trials" for s in args.sizes) + " |",
        "|---|" + "---|" * len(args.sizes),
    ]
    for name in SAMPLERS:
        cells = " | ".join(f"{by[(name, s)]:.2f}" for s in args.sizes)
        lines.append(f"| {name} | {cells} |")
    largest, smallest = max(args.sizes), min(args.sizes)
    amoeba_random = [
        a / r for a, r in zip(times[largest][AMOEBA], times[largest][RANDOM], strict=True)
    ]
    tpe_amoeba = [
        t / a for t, a in zip(times[smallest][TPE], times[smallest][AMOEBA], strict=True)
    ]
    screening = [
        a - u for a, u in zip(times[largest][AMOEBA], times[largest][UNSCREENED], strict=True)
    ]
    ratios = [
        f"{AMOEBA} / {RANDOM} at {largest:,}: {statistics.median(amoeba_random):.2f}x "
        f"(target <= 1.5x; windows {min(amoeba_random):.2f}x-{max(amoeba_random):.2f}x)",
        f"{TPE} / {AMOEBA} at {smallest:,}: {statistics.median(tpe_amoeba):.1f}x "
        f"(target >= 10x; windows {min(tpe_amoeba):.1f}x-{max(tpe_amoeba):.1f}x)",
        f"screened mutation's cost ({AMOEBA} - {UNSCREENED}) at {largest:,}: "
        f"{statistics.median(screening):.2f} ms/trial",
    ]
    print("\n".join(["", *lines, "", *ratios]))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        meta = {
            "command": run_meta.command_line(
                "benchmarks.overhead", sys.argv[1:] if argv is None else argv
            ),
            "versions": run_meta.versions(),
            "machine": run_meta.machine(),
            "git_commit": run_meta.git_commit(),
            "date": run_meta.now(),
        }
        (args.out / "results.json").write_text(
            json.dumps({"meta": meta, "rows": rows, "ratios": ratios}, indent=2) + "\n"
        )
        (args.out / "README.md").write_text(
            "# Sampler overhead, NASNet space (40 parameters), in-memory storage\n\n"
            + "\n".join(lines)
            + "\n\n"
            + "\n".join(f"- {r}" for r in ratios)
            + f"\n\nCommand: `{meta['command']}`\n\nMachine: {meta['machine']}\n\n"
            + f"Versions: {json.dumps(meta['versions'])}\n"
        )


if __name__ == "__main__":
    main()
