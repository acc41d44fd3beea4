"""Ray Tune's OptunaSearch driving AgingEvolutionSampler (docs/examples/ray_tune_example.py).

Importing Ray takes seconds, so every test here is marked slow and imports it lazily.
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Sequence
import importlib.util
from pathlib import Path
import random
import sys
import types
from typing import Any

import numpy as np
import optuna
from optuna.distributions import IntDistribution
from optuna.trial import FrozenTrial
from optuna.trial import TrialState
import pytest

from optuna_amoeba import AgingEvolutionSampler
from optuna_amoeba import MUTATION_KEY
from optuna_amoeba import nasnet
from optuna_amoeba import PARENT_KEY


ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "docs" / "examples" / "ray_tune_example.py"

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("quiet_optuna")]


@pytest.fixture(scope="module")
def example() -> Iterator[types.ModuleType]:
    pytest.importorskip("ray.tune", reason="Ray Tune is not installed (extra 'ray')")
    from ray import cloudpickle as ray_cloudpickle

    spec = importlib.util.spec_from_file_location("ray_tune_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # In sys.modules, for Tune's checkpoint of the searcher (pickle, by reference); pickled by
    # value for Ray's workers (cloudpickle), which cannot import the example by name.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    ray_cloudpickle.register_pickle_by_value(module)
    yield module
    ray_cloudpickle.unregister_pickle_by_value(module)
    sys.modules.pop(spec.name, None)


def _check_lineage(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    """Check that evolved trials descend from trials completed before they were proposed;
    founders (random trials and TPE's proposals) have no parent."""
    evolved = []
    for trial in trials:
        mutation = trial.system_attrs[MUTATION_KEY]
        parent = trial.system_attrs[PARENT_KEY]
        if mutation in ("random", "tpe"):
            assert parent is None
            continue
        evolved.append(trial)
        ancestor = trials[parent]
        assert ancestor.state == TrialState.COMPLETE
        assert ancestor.datetime_complete is not None and trial.datetime_start is not None
        assert ancestor.datetime_complete <= trial.datetime_start
    return evolved


def _parents_that_overtook_older_trials(
    trials: Sequence[FrozenTrial], evolved: Sequence[FrozenTrial]
) -> int:
    """How many evolved trials have a parent that completed while an older trial still ran."""
    return sum(
        any(
            older.number < trials[child.system_attrs[PARENT_KEY]].number
            and older.datetime_complete > child.datetime_start
            for older in trials
        )
        for child in evolved
    )


def test_optuna_search_evolves_when_trials_finish_out_of_order(example: types.ModuleType) -> None:
    from ray.tune.search.optuna import OptunaSearch

    space = {f"p{i}": IntDistribution(0, 9) for i in range(6)}
    searcher = OptunaSearch(
        space=space,
        metric="loss",
        mode="min",
        # Evolution alone: this test is about parents from out-of-order completions.
        sampler=AgingEvolutionSampler(
            population_size=20, sample_size=10, tpe_probability=0.0, seed=0
        ),
    )
    order = random.Random(0)
    configs: dict[str, dict[str, Any]] = {}
    in_flight: list[str] = []
    for number in range(60):
        configs[f"t{number}"] = searcher.suggest(f"t{number}")
        in_flight.append(f"t{number}")
        while len(in_flight) == 4 or (number == 59 and in_flight):
            done = in_flight.pop(order.randrange(len(in_flight)))
            loss = sum(abs(value - 3) for value in configs[done].values())
            searcher.on_trial_complete(done, result={"loss": loss})

    trials = searcher._ot_study.trials
    assert all(t.state == TrialState.COMPLETE for t in trials)
    by_completion = [t.number for t in sorted(trials, key=lambda t: t.datetime_complete)]
    assert by_completion != sorted(by_completion)
    evolved = _check_lineage(trials)
    # Evolution starts once 10 trials have completed; 3 more were proposed meanwhile.
    assert len(evolved) >= len(trials) - 13
    assert _parents_that_overtook_older_trials(trials, evolved) > 0
    random_values = [t.value for t in trials if t.system_attrs[MUTATION_KEY] == "random"]
    assert np.mean([t.value for t in evolved]) < np.mean(random_values)


def test_trial_states_that_ray_reports(example: types.ModuleType) -> None:
    from ray.tune.search.optuna import OptunaSearch

    space = {"x": IntDistribution(0, 9)}
    options: dict[str, Any] = dict(space=space, metric="loss", mode="min")
    plain = OptunaSearch(sampler=AgingEvolutionSampler(seed=0), **options)
    marking = example.StoppedTrialsArePruned(
        max_t=4, sampler=AgingEvolutionSampler(seed=0), **options
    )
    stopped_early = {"loss": 7.0, "training_iteration": 1}
    for searcher in (plain, marking):
        for trial_id in ("failed", "no-result", "stopped", "finished"):
            searcher.suggest(trial_id)
        searcher.on_trial_complete("failed", error=True)
        searcher.on_trial_complete("no-result")
        searcher.on_trial_complete("stopped", result=stopped_early)
        searcher.on_trial_complete("finished", result={"loss": 3.0, "training_iteration": 4})

    failed, no_result, stopped, finished = plain._ot_study.trials
    assert (failed.state, no_result.state) == (TrialState.FAIL, TrialState.PRUNED)
    # Plain OptunaSearch: a trial stopped after 1 of 4 epochs counts as complete.
    assert (stopped.state, stopped.value) == (TrialState.COMPLETE, 7.0)
    assert (finished.state, finished.value) == (TrialState.COMPLETE, 3.0)

    failed, no_result, stopped, finished = marking._ot_study.trials
    assert (failed.state, no_result.state) == (TrialState.FAIL, TrialState.PRUNED)
    assert (stopped.state, stopped.value) == (TrialState.PRUNED, 7.0)
    assert stopped.intermediate_values == {1: 7.0}
    assert (finished.state, finished.value) == (TrialState.COMPLETE, 3.0)


def test_searcher_checkpoint_keeps_the_population(
    example: types.ModuleType, tmp_path: Path
) -> None:
    from ray.tune.search.optuna import OptunaSearch

    space = {f"p{i}": IntDistribution(0, 9) for i in range(3)}
    options: dict[str, Any] = dict(space=space, metric="loss", mode="min")
    # Evolution alone, so that the trial after the restore has a parent to check.
    sampler = AgingEvolutionSampler(population_size=10, sample_size=5, tpe_probability=0.0, seed=0)
    searcher = OptunaSearch(sampler=sampler, **options)
    for number in range(12):
        config = searcher.suggest(f"t{number}")
        searcher.on_trial_complete(f"t{number}", result={"loss": sum(config.values())})
    searcher.save(str(tmp_path / "searcher.pkl"))

    restored = OptunaSearch(**options)
    restored.restore(str(tmp_path / "searcher.pkl"))
    restored.suggest("after-restore")
    trials = restored._ot_study.trials
    assert len(trials) == 13
    assert trials[-1].system_attrs[MUTATION_KEY] != "random"
    assert trials[-1].system_attrs[PARENT_KEY] in range(12)


def test_ray_tune_run_with_trials_in_flight(example: types.ModuleType, tmp_path: Path) -> None:
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        study, results = example.run(
            num_samples=30,
            max_concurrent=4,
            seed=0,
            asha=False,
            storage=optuna.storages.InMemoryStorage(),
            study_name="ray-test",
            results_dir=str(tmp_path / "ray_results"),
        )
    finally:
        ray.shutdown()

    trials = study.trials
    assert len(trials) == 30 and all(t.state == TrialState.COMPLETE for t in trials)
    assert len(results) == 30 and not results.errors

    starts = sorted((t.datetime_start, t.number) for t in trials)
    in_flight_at_start = [
        sum(u.datetime_start <= start < u.datetime_complete for u in trials) for start, _ in starts
    ]
    assert max(in_flight_at_start) == 4 and min(in_flight_at_start) >= 1, in_flight_at_start
    by_completion = [t.number for t in sorted(trials, key=lambda t: t.datetime_complete)]
    assert by_completion != sorted(by_completion), by_completion

    _check_lineage(trials)
    # The search proper (evolution and TPE's early proposals) starts once 10 trials have
    # completed; up to 3 more were in flight by then.
    guided = [t for t in trials if t.system_attrs[MUTATION_KEY] != "random"]
    assert len(guided) >= 30 - 13
    random_values = [t.value for t in trials if t.system_attrs[MUTATION_KEY] == "random"]
    assert np.mean([t.value for t in guided]) > np.mean(random_values)

    best = results.get_best_result(metric="accuracy", mode="max")
    assert best.metrics["accuracy"] == study.best_value
    assert nasnet.Genotype.from_params(best.config) == nasnet.Genotype.from_params(
        study.best_params
    )
