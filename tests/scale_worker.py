"""One worker process of the scale-out tests: joins a shared study and optimises it.

Run as ``python tests/scale_worker.py --storage URL --study NAME --log FILE ...`` with the
repository root on ``PYTHONPATH``. Every trial appends JSON lines to ``--log`` (line-buffered,
so a worker killed with SIGKILL leaves what it had written): ``start`` when the objective
begins, before the sampler reads the storage (Optuna samples at the first suggest call),
``sampled`` once every parameter is suggested, and ``told`` from a study callback, after the
trial's final state is committed. The tests reconstruct from these times what each proposal
could have seen.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
import datetime
import json
import os
import time
from typing import Any
import warnings

import optuna
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from benchmarks.synthetic import SyntheticNASNetObjective
from optuna_amoeba import AgingEvolutionSampler
from optuna_amoeba import open_storage


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--storage", required=True)
    parser.add_argument("--study", required=True)
    parser.add_argument("--log", required=True, help="JSON-lines file this worker appends to")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--population-size", type=int, default=10)
    parser.add_argument("--sample-size", type=int, default=3)
    parser.add_argument("--n-trials", type=int, default=None, help="this worker's trials")
    parser.add_argument(
        "--target-complete", type=int, default=None, help="stop at this many COMPLETE trials"
    )
    parser.add_argument("--heartbeat", type=int, default=None)
    parser.add_argument("--grace", type=int, default=None)
    parser.add_argument(
        "--num-blocks", type=int, default=1, help="blocks per cell of the NASNet encoding"
    )
    parser.add_argument("--trial-sleep", type=float, default=0.0, help="seconds per trial")
    parser.add_argument(
        "--hang-after-complete",
        type=int,
        default=None,
        help="block forever in the first trial that starts once the study has this many "
        "COMPLETE trials (the test then kills the worker mid-trial)",
    )
    return parser.parse_args()


def _now() -> str:
    return datetime.datetime.now().isoformat()


def main() -> None:
    args = _parse_args()
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(
        args.storage, heartbeat_interval=args.heartbeat, grace_period=args.grace
    )
    sampler = AgingEvolutionSampler(
        population_size=args.population_size, sample_size=args.sample_size, seed=args.seed
    )
    study = optuna.create_study(
        storage=storage,
        study_name=args.study,
        sampler=sampler,
        direction="maximize",
        load_if_exists=True,
    )
    score = SyntheticNASNetObjective(num_blocks=args.num_blocks, seed=0)
    with open(args.log, "a", buffering=1) as log:

        def write(event: str, **fields: Any) -> None:
            record = {"event": event, "pid": os.getpid(), "time": _now(), **fields}
            log.write(json.dumps(record) + "\n")

        def objective(trial: optuna.Trial) -> float:
            write("start", number=trial.number)
            value = score(trial)  # Optuna samples lazily, at the first suggest call.
            write("sampled", number=trial.number)
            if args.hang_after_complete is not None:
                completed = trial.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                if len(completed) >= args.hang_after_complete:
                    write("hang", number=trial.number)
                    while True:  # until the test kills this process
                        time.sleep(60)
            if args.trial_sleep:
                time.sleep(args.trial_sleep)
            return value

        def record_told(study: optuna.Study, trial: FrozenTrial) -> None:
            write("told", number=trial.number, state=trial.state.name)

        callbacks: list[Callable[[optuna.Study, FrozenTrial], None]] = [record_told]
        if args.target_complete is not None:
            callbacks.append(
                optuna.study.MaxTrialsCallback(args.target_complete, states=(TrialState.COMPLETE,))
            )
        study.optimize(objective, n_trials=args.n_trials, callbacks=callbacks)
        write("exit")


if __name__ == "__main__":
    main()
