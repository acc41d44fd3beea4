"""Peers from other libraries (benchmarks.peers): Syne Tune's RegularizedEvolution and
Nevergrad, driven as Optuna samplers on the fake NATS table."""

from __future__ import annotations

import importlib.util
from pathlib import Path
import sys
from typing import Any

from benchmarks_support import write_fake_table
import numpy as np
import optuna
import pytest

from benchmarks import compare
from benchmarks.nats import EDGE_PARAMS
from benchmarks.peers import NevergradSampler
from benchmarks.peers import SyneTuneRegularizedEvolutionSampler
from benchmarks.problems import build_problem
from benchmarks.problems import ProblemSpec
from benchmarks.samplers import parse_sampler


pytestmark = pytest.mark.usefixtures("quiet_optuna")

needs_syne_tune = pytest.mark.skipif(
    importlib.util.find_spec("syne_tune") is None,
    reason="Syne Tune is not installed (pip install 'optuna-amoeba[peers]')",
)
needs_nevergrad = pytest.mark.skipif(
    importlib.util.find_spec("nevergrad") is None,
    reason="Nevergrad is not installed (pip install 'optuna-amoeba[peers]')",
)


@pytest.fixture(scope="module")
def table_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fake_table(tmp_path_factory.mktemp("nats") / "table.csv")


def _run(table_path: Path, sampler: optuna.samplers.BaseSampler, n_trials: int) -> optuna.Study:
    evaluate = build_problem(ProblemSpec(name="nats", data=str(table_path))).evaluation(0)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(lambda trial: evaluate(trial)[0], n_trials=n_trials)
    return study


def _params(study: optuna.Study) -> list[dict[str, Any]]:
    return [trial.params for trial in study.trials]


def _edges_changed(a: dict[str, Any], b: dict[str, Any]) -> int:
    return sum(a[name] != b[name] for name in EDGE_PARAMS)


@needs_syne_tune
def test_syne_tune_registered_with_its_defaults() -> None:
    spec = parse_sampler("synetune-re")
    assert spec.settings() == {"population_size": 100, "sample_size": 10}
    import inspect

    from syne_tune.optimizer.schedulers.searchers.regularized_evolution import RegularizedEvolution

    defaults = inspect.signature(RegularizedEvolution).parameters
    assert defaults["population_size"].default == 100
    assert defaults["sample_size"].default == 10


@needs_syne_tune
def test_syne_tune_seeded_runs_repeat(table_path: Path) -> None:
    def run(seed: int, earlier_global_seed: int) -> list[dict[str, Any]]:
        # Its random phase draws from NumPy's global generator: the seed must cover it.
        np.random.seed(earlier_global_seed)
        sampler = SyneTuneRegularizedEvolutionSampler(population_size=6, sample_size=3, seed=seed)
        return _params(_run(table_path, sampler, 25))

    first, again, other = run(1, 0), run(1, 99), run(2, 0)
    assert first == again
    assert first != other


@needs_syne_tune
def test_syne_tune_evolves_by_single_mutations_of_its_population(table_path: Path) -> None:
    population = 6
    sampler = SyneTuneRegularizedEvolutionSampler(
        population_size=population, sample_size=3, seed=0
    )
    study = _run(table_path, sampler, 30)
    trials = study.trials
    # Once P results came in, each child is one edge away from a member of the population
    # (its parent, among the P most recently completed trials).
    for index in range(population, len(trials)):
        members = trials[index - population : index]
        assert 1 in [_edges_changed(trials[index].params, m.params) for m in members]
    # The searcher saw every completion in order, as a loss to minimise (the last trial is
    # told at the next ask).
    told = trials[-population - 1 : -1]
    searcher_population = list(sampler._searcher.population)
    assert [e.config for e in searcher_population] == [t.params for t in told]
    assert [e.score for e in searcher_population] == [-t.value for t in told]


@needs_syne_tune
def test_syne_tune_refuses_multi_objective_and_odd_spaces() -> None:
    study = optuna.create_study(
        directions=["maximize", "minimize"], sampler=SyneTuneRegularizedEvolutionSampler(seed=0)
    )
    study.optimize(lambda t: (t.suggest_categorical("x", ["a", "b"]), 0.0), n_trials=1)
    with pytest.raises(ValueError, match="single-objective studies only"):
        study.optimize(lambda t: (t.suggest_categorical("x", ["a", "b"]), 0.0), n_trials=1)
    mixed = optuna.create_study(sampler=SyneTuneRegularizedEvolutionSampler(seed=0))
    with pytest.raises(ValueError, match="choices of one type"):
        mixed.optimize(lambda t: float(t.suggest_categorical("x", [1, "b"]) == 1), n_trials=1)
    with pytest.raises(ValueError, match="population_size must be an int >= 1"):
        SyneTuneRegularizedEvolutionSampler(population_size=0)


@needs_nevergrad
def test_nevergrad_seeded_runs_repeat(table_path: Path) -> None:
    def run(seed: int) -> list[dict[str, Any]]:
        return _params(_run(table_path, NevergradSampler(seed=seed), 30))

    first, again, other = run(3), run(3), run(4)
    assert first == again
    assert first != other
    with pytest.raises(ValueError, match=r"nevergrad\.optimizers\.registry"):
        NevergradSampler(optimizer="NoSuchOptimizer")


@needs_nevergrad
def test_nevergrad_is_told_every_completion(table_path: Path) -> None:
    n_trials = 30
    sampler = NevergradSampler(seed=0)
    study = _run(table_path, sampler, n_trials)
    assert len(study.trials) == n_trials
    # Trial 0 came before the search space was known (random, told as a new point); each
    # later trial was asked of the optimizer after every earlier one was told.
    assert sampler._optimizer.num_ask == n_trials - 1
    assert sampler._optimizer.num_tell == n_trials - 1
    best = sampler._optimizer.provide_recommendation().value
    assert study.trials[0].value <= max(t.value for t in study.trials if t.params == best)


@pytest.mark.parametrize(
    ("name", "module", "library"),
    [("synetune-re", "syne_tune", "Syne Tune"), ("nevergrad", "nevergrad", "Nevergrad")],
)
def test_missing_library_fails_in_one_line_naming_the_extra(
    table_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    module: str,
    library: str,
) -> None:
    for loaded in [m for m in sys.modules if m == module or m.startswith(module + ".")]:
        monkeypatch.delitem(sys.modules, loaded)
    monkeypatch.setitem(sys.modules, module, None)  # import raises ImportError
    argv = ["--problem", "nats", "--data", str(table_path), "--samplers", f"{name},random"]
    with pytest.raises(SystemExit) as exit_info:
        compare.main([*argv, "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert f"{library} is not installed" in error
    assert "pip install 'optuna-amoeba[peers]'" in error
    assert not (tmp_path / "out").exists()
