"""Aging evolution driving a Ray Tune run: a NASNet cell search with several trials in flight.

    python docs/examples/ray_tune_example.py
    python docs/examples/ray_tune_example.py --asha
    python docs/examples/ray_tune_example.py --storage sqlite:///ray_nasnet.db

Needs ``pip install "optuna-amoeba[ray]"``. The trainable is a stand-in for training (about
a quarter of a second per epoch); replace ``train`` with real training and ask for the resources it
uses, e.g. ``tune.with_resources(train, {"cpu": 4, "gpu": 1})``. See docs/integrations.md.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from typing import Any

import optuna
import ray
from ray import tune
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search import ConcurrencyLimiter
from ray.tune.search.optuna import OptunaSearch

from optuna_amoeba import AgingEvolutionSampler
from optuna_amoeba import MUTATION_KEY
from optuna_amoeba import nasnet
from optuna_amoeba import PARENT_KEY


EPOCHS = 4


def define_search_space(trial: optuna.Trial) -> None:
    # Define-by-run: OptunaSearch calls this on the driver with the Optuna trial, so the
    # sampler proposes all 40 parameters of the two cells, and Tune passes them as `config`.
    nasnet.suggest_genotype(trial)


def train(config: dict[str, Any]) -> None:
    """Stand-in for training: the more separable convolutions, the higher the accuracy; the
    more 7x7 operations, the longer an epoch takes (so trials finish out of order)."""
    genotype = nasnet.Genotype.from_params(config)
    ops = [op for _, cell in genotype.cells() for b in cell.blocks for op in (b.op_a, b.op_b)]
    final_accuracy = sum("sep_conv" in op for op in ops) / len(ops)
    seconds_per_epoch = 0.05 * sum(op in ("sep_conv_7x7", "conv_1x7_7x1") for op in ops)
    for epoch in range(1, EPOCHS + 1):
        time.sleep(seconds_per_epoch)
        tune.report({"accuracy": final_accuracy * epoch / EPOCHS})


class StoppedTrialsArePruned(OptunaSearch):
    """OptunaSearch that tells Optuna a trial the scheduler stopped early as ``PRUNED``.

    Ray's OptunaSearch tells every trial that reported a result as ``COMPLETE``, so a trial
    ASHA stopped after one epoch would join the sampler's population with a one-epoch value,
    beside trials trained for ``max_t`` epochs. Told as pruned, it stays out of the
    population (``include_pruned=False``, the default) and keeps its last value as an
    intermediate value.
    """

    def __init__(self, *args: Any, max_t: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._max_t = max_t

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        if result is not None and not error and result["training_iteration"] < self._max_t:
            self.on_trial_result(trial_id, result)
            result = None  # no value and no error: OptunaSearch tells PRUNED
        super().on_trial_complete(trial_id, result=result, error=error)


def run(
    *,
    num_samples: int,
    max_concurrent: int,
    seed: int | None,
    asha: bool,
    storage: optuna.storages.BaseStorage,
    study_name: str,
    results_dir: str,
) -> tuple[optuna.Study, tune.ResultGrid]:
    """Run ``num_samples`` more trials of the study ``study_name`` in ``storage``."""
    sampler = AgingEvolutionSampler(seed=seed)
    options: dict[str, Any] = dict(
        space=define_search_space,
        metric="accuracy",
        mode="max",
        sampler=sampler,
        storage=storage,
        study_name=study_name,
    )
    if asha:
        searcher: OptunaSearch = StoppedTrialsArePruned(max_t=EPOCHS, **options)
        scheduler = ASHAScheduler(
            metric="accuracy", mode="max", max_t=EPOCHS, grace_period=1, reduction_factor=2
        )
    else:
        searcher = OptunaSearch(**options)
        scheduler = None
    tuner = tune.Tuner(
        # Half a CPU per trial: four stand-in trials at once on two CPUs.
        tune.with_resources(train, {"cpu": 0.5}),
        tune_config=tune.TuneConfig(
            search_alg=ConcurrencyLimiter(searcher, max_concurrent=max_concurrent),
            scheduler=scheduler,
            num_samples=num_samples,
            # Reuse each worker process for the next trial: starting one takes seconds.
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(storage_path=results_dir, verbose=0),
    )
    results = tuner.fit()
    return optuna.load_study(study_name=study_name, storage=storage), results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num-samples", type=int, default=60, help="trials to run (60)")
    parser.add_argument("--max-concurrent", type=int, default=4, help="trials in flight (4)")
    parser.add_argument("--seed", type=int, default=None, help="the sampler's seed")
    parser.add_argument("--asha", action="store_true", help="stop poor trials early (ASHA)")
    parser.add_argument(
        "--storage",
        default=None,
        help="an RDB URL, e.g. sqlite:///ray_nasnet.db; default: in the driver's memory",
    )
    parser.add_argument("--study-name", default="ray-nasnet", help="(ray-nasnet)")
    args = parser.parse_args()

    storage = (
        optuna.storages.RDBStorage(args.storage)
        if args.storage
        else optuna.storages.InMemoryStorage()
    )
    ray.init(include_dashboard=False)
    with tempfile.TemporaryDirectory() as results_dir:
        study, _ = run(
            num_samples=args.num_samples,
            max_concurrent=args.max_concurrent,
            seed=args.seed,
            asha=args.asha,
            storage=storage,
            study_name=args.study_name,
            results_dir=results_dir,
        )
    ray.shutdown()

    states = [trial.state.name for trial in study.trials]
    counts = ", ".join(f"{states.count(s)} {s.lower()}" for s in sorted(set(states)))
    print(f"{len(study.trials)} trials in study {args.study_name!r}: {counts}")
    best = study.best_trial
    print(f"best accuracy {best.value:.2f} (trial {best.number}):")
    print(f"  {nasnet.Genotype.from_params(best.params)}")
    lineage = [best]
    while (parent := lineage[-1].system_attrs.get(PARENT_KEY)) is not None:
        lineage.append(study.trials[parent])
    steps = [f"{trial.number} ({trial.system_attrs[MUTATION_KEY]})" for trial in lineage]
    print("lineage: " + " <- ".join(steps))


if __name__ == "__main__":
    main()
