"""The sweep behind AgingEvolutionSampler's defaults (kept as a record; see README.md here).

    python benchmarks/results/defaults/sweep.py --data PATH --sigma 0.3 \
        --configs "population_size=50,sample_size=25,n_startup_trials=10" tpe

Seeds 1000.. are used so that the choice is not tuned on the published comparison's seeds
(0..49). Prints mean +/- s.e. regret (accuracy points) at fixed evaluation counts.
"""

from __future__ import annotations

import argparse
import csv
import re
import time
from typing import Any

import numpy as np
import optuna

from optuna_amoeba import AgingEvolutionSampler


OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
CHECKPOINTS = (25, 50, 100, 200, 300)


def parse_config(text: str) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    for item in filter(None, text.split(",")):
        key, _, raw = item.partition("=")
        value: Any = {"True": True, "False": False}.get(raw, raw)
        if isinstance(value, str):
            for parse in (int, float):
                try:
                    value = parse(raw)
                    break
                except ValueError:
                    pass
        kwargs[key] = value
    return kwargs


def make_sampler(config: str, seed: int) -> optuna.samplers.BaseSampler:
    if config == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if config == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return AgingEvolutionSampler(seed=seed, **parse_config(config))


def run(
    table: dict[tuple[str, ...], float], config: str, seed: int, n: int, sigma: float
) -> list[float]:
    best = max(table.values())
    noise = np.random.RandomState(seed + 10_000)

    def objective(trial: optuna.Trial) -> float:
        arch = tuple(trial.suggest_categorical(f"edge{i}", OPS) for i in range(6))
        trial.set_user_attr("true", table[arch])
        return table[arch] + (noise.normal(0, sigma) if sigma else 0.0)

    study = optuna.create_study(direction="maximize", sampler=make_sampler(config, seed))
    study.optimize(objective, n_trials=n)
    curve, best_observed, incumbent = [], -np.inf, 0.0
    for trial in study.trials:
        assert trial.value is not None
        if trial.value > best_observed:
            best_observed, incumbent = trial.value, trial.user_attrs["true"]
        curve.append(best - incumbent)
    return curve


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--sigma", type=float, default=0.0)
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--first-seed", type=int, default=1000)
    parser.add_argument("--n-trials", type=int, default=300)
    parser.add_argument("--configs", nargs="+", required=True)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    table = {}
    with open(args.data) as f:
        for row in csv.DictReader(f):
            table[tuple(re.findall(r"([a-z_0-9]+)~\d", row["arch"]))] = float(row["test_accuracy"])
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    for config in args.configs:
        start = time.time()
        curves = np.array([run(table, config, s, args.n_trials, args.sigma) for s in seeds])
        cells = [
            f"{curves[:, c - 1].mean():.3f} ± {curves[:, c - 1].std() / np.sqrt(len(seeds)):.3f}"
            for c in CHECKPOINTS
            if c <= args.n_trials
        ]
        found = np.mean(curves[:, -1] == 0)
        print(f"| {config} | {' | '.join(cells)} | {found:.2f} | {time.time() - start:.0f} s |")


if __name__ == "__main__":
    main()
