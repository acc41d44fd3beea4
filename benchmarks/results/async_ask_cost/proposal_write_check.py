"""Does writing the whole proposal at ask time (``amoeba:proposal``) slow a proposal down?

Times AgingEvolutionSampler proposals on a PostgreSQL study of 10,000 trials (128 RUNNING),
NASNet space, with ``benchmarks.ask_cost``'s harness: as shipped, with the proposal write
switched off, and with the lineage writes switched off too; RandomSampler for scale. Each
variant is timed twice, interleaved, to show the spread; one trial is told between two
proposals (the harness's only mode when this was measured). Run from the repository root:

    PYTHONPATH=. python benchmarks/results/async_ask_cost/proposal_write_check.py URL
"""

from __future__ import annotations

from collections.abc import Sequence
import sys
from typing import Any

import optuna

from benchmarks import ask_cost
from optuna_amoeba import AgingEvolutionSampler


SPACE = "NASNet (40 parameters)"
SWITCHED_OFF: dict[str, Sequence[str]] = {
    "amoeba": (),
    "amoeba, no proposal write": ("_publish",),
    "amoeba, no proposal or lineage writes": ("_publish", "_record"),
}


def _without(methods: Sequence[str], seed: int) -> AgingEvolutionSampler:
    sampler = AgingEvolutionSampler(seed=seed)
    for name in methods:
        setattr(sampler, name, lambda *args, **kwargs: None)
    return sampler


def main(url: str) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.RDBStorage(url)
    study_name, _ = ask_cost.fill(storage, SPACE, size=10_000, running=128, seed=0)
    for label, methods in SWITCHED_OFF.items():

        def build(seed: int, methods: Sequence[str] = methods) -> Any:
            return _without(methods, seed)

        ask_cost.SAMPLERS[label] = build
    print("| sampler | proposal (ms) | sampler (ms) | storage reads (ms) | p90 (ms) |")
    print("|---|---:|---:|---:|---:|")
    for label in [*SWITCHED_OFF, "RandomSampler", *SWITCHED_OFF]:
        row = ask_cost.measure(storage, study_name, SPACE, label, asks=20, turnover=1, seed=1)
        print(
            f"| {label} | {row['median_ask_ms']} | {row['median_sampler_ms']} | "
            f"{row['median_sampler_storage_ms']} | {row['p90_ask_ms']} |",
            flush=True,
        )
    optuna.delete_study(study_name=study_name, storage=storage)


if __name__ == "__main__":
    main(sys.argv[1])
