"""Sampler overhead on the 40-parameter NASNet space, in-memory storage.

    python -m benchmarks.overhead [--sizes 1000 10000] [--out benchmarks/results/overhead]

For each sampler and each study size N, the study is first grown to N - W trials, then the
next W trials are timed (ask, the cheap synthetic objective, tell): ms/trial at N trials.
AgingEvolutionSampler and RandomSampler grow their own history. TPESampler would need hours
to reach 10,000 trials itself, so its history is grown by RandomSampler (``add_trials`` of
random NASNet trials) and only the timed window uses TPE; its cost depends on the number
of trials, not on who proposed them.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
import json
from pathlib import Path
import sys
import time

import optuna

from benchmarks import meta as run_meta
from benchmarks.synthetic import SyntheticNASNetObjective
from optuna_amoeba import AgingEvolutionSampler


SAMPLERS: dict[str, Callable[[int], optuna.samplers.BaseSampler]] = {
    "AgingEvolutionSampler": lambda seed: AgingEvolutionSampler(seed=seed),
    "RandomSampler": lambda seed: optuna.samplers.RandomSampler(seed=seed),
    "TPESampler": lambda seed: optuna.samplers.TPESampler(seed=seed),
}
GROWS_OWN_HISTORY = {"AgingEvolutionSampler", "RandomSampler"}


def measure(name: str, size: int, window: int, seed: int) -> float:
    objective = SyntheticNASNetObjective(seed=seed)
    if name in GROWS_OWN_HISTORY:
        study = optuna.create_study(direction="maximize", sampler=SAMPLERS[name](seed))
        study.optimize(objective, n_trials=size - window)
    else:
        donor = optuna.create_study(
            direction="maximize", sampler=optuna.samplers.RandomSampler(seed=seed)
        )
        donor.optimize(objective, n_trials=size - window)
        study = optuna.create_study(direction="maximize", sampler=SAMPLERS[name](seed))
        study.add_trials(donor.get_trials(deepcopy=False))
    start = time.perf_counter()
    study.optimize(objective, n_trials=window)
    return (time.perf_counter() - start) / window * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--window", type=int, default=200, help="timed trials per size")
    parser.add_argument("--tpe-window", type=int, default=20, help="timed trials for TPE")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="folder for results.json/.md")
    args = parser.parse_args()
    if any(size <= max(args.window, args.tpe_window) for size in args.sizes):
        parser.error("every --sizes value must exceed --window and --tpe-window")
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    rows = []
    for name in SAMPLERS:
        window = args.window if name in GROWS_OWN_HISTORY else args.tpe_window
        for size in args.sizes:
            ms = measure(name, size, window, args.seed)
            rows.append({"sampler": name, "trials": size, "window": window, "ms_per_trial": ms})
            print(f"{name:22s} at {size:6d} trials: {ms:8.2f} ms/trial", flush=True)

    by = {(r["sampler"], r["trials"]): r["ms_per_trial"] for r in rows}
    lines = [
        "| sampler | " + " | ".join(f"ms/trial at {s:,} trials" for s in args.sizes) + " |",
        "|---|" + "---|" * len(args.sizes),
    ]
    for name in SAMPLERS:
        cells = " | ".join(f"{by[(name, s)]:.2f}" for s in args.sizes)
        lines.append(f"| {name} | {cells} |")
    amoeba, random = "AgingEvolutionSampler", "RandomSampler"
    largest, smallest = max(args.sizes), min(args.sizes)
    ratios = [
        f"AgingEvolutionSampler / RandomSampler at {largest:,}: "
        f"{by[(amoeba, largest)] / by[(random, largest)]:.2f}x (target <= 1.5x)",
        f"TPESampler / AgingEvolutionSampler at {smallest:,}: "
        f"{by[('TPESampler', smallest)] / by[(amoeba, smallest)]:.1f}x (target >= 10x)",
    ]
    print("\n".join(["", *lines, "", *ratios]))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        meta = {
            "command": run_meta.command_line("benchmarks.overhead", sys.argv[1:]),
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
