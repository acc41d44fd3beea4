from __future__ import annotations

from typing import Any

import optuna
import pytest

from benchmarks.samplers import parse_sampler
from benchmarks.samplers import parse_samplers
from benchmarks.samplers import parse_value
from benchmarks.samplers import SamplerClock
from benchmarks.samplers import split_specs
from optuna_amoeba import AgingEvolutionSampler


def test_split_specs_respects_brackets() -> None:
    assert split_specs("amoeba[population_size=10,sample_size=3], tpe,random") == [
        "amoeba[population_size=10,sample_size=3]",
        "tpe",
        "random",
    ]
    for bad in ("amoeba[population_size=10", "amoeba]", "tpe,,random", "tpe,"):
        with pytest.raises(ValueError):
            split_specs(bad)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("3", 3),
        ("-2", -2),
        ("0.5", 0.5),
        ("1e-3", 1e-3),
        ("True", True),
        ("false", False),
        ("None", None),
        ("best", "best"),
        ("'7'", "7"),
    ],
)
def test_parse_value(text: str, value: Any) -> None:
    parsed = parse_value(text)
    assert parsed == value
    assert type(parsed) is type(value)


def test_registered_names_build_the_right_samplers() -> None:
    amoeba = parse_sampler("amoeba").build(seed=1)
    assert isinstance(amoeba, AgingEvolutionSampler)
    default = AgingEvolutionSampler()
    assert (amoeba.population_size, amoeba.sample_size) == (
        default.population_size,
        default.sample_size,
    )
    paper = parse_sampler("amoeba-paper").build(seed=1)
    assert isinstance(paper, AgingEvolutionSampler)
    assert (paper.population_size, paper.sample_size) == (100, 25)
    assert paper.reevaluation_probability == 0.0 < default.reevaluation_probability
    assert paper.tpe_probability == 0.0 < default.tpe_probability
    nonaging = parse_sampler("amoeba-nonaging").build(seed=1)
    assert isinstance(nonaging, AgingEvolutionSampler) and nonaging.aging is False
    assert isinstance(parse_sampler("tpe").build(1), optuna.samplers.TPESampler)
    assert isinstance(parse_sampler("random").build(1), optuna.samplers.RandomSampler)
    assert isinstance(parse_sampler("nsgaii").build(1), optuna.samplers.NSGAIISampler)
    assert parse_sampler("tpe-multivariate").kwargs == {"multivariate": True}


def test_overrides_and_labels() -> None:
    spec = parse_sampler("amoeba-paper[sample_size=10, aging=False]")
    assert spec.label == "amoeba-paper[sample_size=10,aging=False]"
    assert spec.kwargs == {
        "population_size": 100,
        "sample_size": 10,
        "n_startup_trials": 100,
        "reevaluation_probability": 0.0,
        "tpe_probability": 0.0,
        "aging": False,
    }
    sampler = spec.build(seed=0)
    assert isinstance(sampler, AgingEvolutionSampler)
    assert (sampler.sample_size, sampler.aging) == (10, False)

    by_path = parse_sampler("optuna.samplers:TPESampler[n_startup_trials=5]")
    assert by_path.label == "optuna.samplers:TPESampler[n_startup_trials=5]"
    assert by_path.target == "optuna.samplers:TPESampler"
    assert parse_sampler("optuna.samplers:RandomSampler").label == "optuna.samplers:RandomSampler"


def test_seed_makes_runs_reproducible() -> None:
    spec = parse_sampler("amoeba[population_size=4,sample_size=2]")

    def params(seed: int) -> list[dict[str, Any]]:
        study = optuna.create_study(sampler=spec.build(seed))
        study.optimize(lambda t: t.suggest_float("x", -1, 1) ** 2, n_trials=12)
        return [t.params for t in study.trials]

    assert params(3) == params(3)
    assert params(3) != params(4)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nope", "unknown sampler 'nope'"),
        ("amoeba[seed=3]", "seed is set per run"),
        ("amoeba[population_size]", "must be key=value"),
        ("amoeba[population_size=3,population_size=4]", "given twice"),
        ("no_such_module_xyz:Sampler", "cannot import no_such_module_xyz"),
        ("optuna.samplers:BaseSampler_missing", "not an optuna BaseSampler"),
        ("optuna:Study", "not an optuna BaseSampler"),
    ],
)
def test_bad_specs_are_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_sampler(text)


def test_bad_keyword_values_fail_at_build() -> None:
    with pytest.raises(ValueError, match="population_size"):
        parse_sampler("amoeba[population_size=0]").build(seed=0)
    with pytest.raises(ValueError, match="no_such_keyword"):
        parse_sampler("random[no_such_keyword=1]").build(seed=0)


def test_duplicate_labels_are_refused() -> None:
    with pytest.raises(ValueError, match="listed twice: tpe"):
        parse_samplers("tpe,random,tpe")


class _FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now


class _SteppingSampler(optuna.samplers.RandomSampler):
    """Advances a fake clock: 1 s in sample_relative, 2 s in each sample_independent."""

    def __init__(self, fake_time: _FakeTime) -> None:
        super().__init__(seed=0)
        self.fake_time = fake_time

    def sample_relative(self, study: Any, trial: Any, search_space: Any) -> dict[str, Any]:
        self.fake_time.now += 1
        # A nested call into another timed method must not be counted twice.
        self.sample_independent(
            study, trial, "unused", optuna.distributions.FloatDistribution(0, 1)
        )
        return {}

    def sample_independent(self, study: Any, trial: Any, name: str, dist: Any) -> Any:
        self.fake_time.now += 2
        return super().sample_independent(study, trial, name, dist)


def test_clock_counts_time_inside_sampler_methods_once(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_time = _FakeTime()
    monkeypatch.setattr("benchmarks.samplers.time", fake_time)
    sampler = _SteppingSampler(fake_time)
    clock = SamplerClock.attach(sampler)
    study = optuna.create_study(sampler=sampler)

    def objective(trial: optuna.Trial) -> float:
        value = trial.suggest_float("x", 0, 1)
        fake_time.now += 100  # the objective's own time is not the sampler's
        return value

    study.optimize(objective, n_trials=5)
    # Per trial: sample_relative 1 + its nested sample_independent 2, then one suggest 2.
    assert clock.seconds == 5 * (1 + 2 + 2)


def test_clock_times_storage_calls_made_inside_the_sampler_only() -> None:
    sampler = AgingEvolutionSampler(seed=0)
    clock = SamplerClock.attach(sampler)
    study = optuna.create_study(sampler=sampler)
    storage_seconds = clock.time_storage(study._storage, ("get_all_trials",))
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=15)
    assert 0 < storage_seconds[0] < clock.seconds
    before = storage_seconds[0]
    study.get_trials()  # outside the sampler: not counted
    assert storage_seconds[0] == before
    assert not clock.inside
