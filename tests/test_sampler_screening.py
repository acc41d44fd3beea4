"""Screening of mutated children by the population's additive model (``mutation_candidates``)."""

from __future__ import annotations

import datetime
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
from optuna.study import StudyDirection
from optuna.trial import create_trial
import pytest

from optuna_amoeba import AgingEvolutionSampler
from optuna_amoeba import MUTATION_KEY
from optuna_amoeba import MUTATION_STEPS_KEY
from optuna_amoeba import PARENT_KEY
from optuna_amoeba._population import PopulationTracker
from optuna_amoeba._screening import CandidateScreen
from optuna_amoeba._screening import NUMERIC_BINS
from optuna_amoeba._screening import RIDGE
from optuna_amoeba._screening import value_code


SPACE: dict[str, BaseDistribution] = {
    "op": CategoricalDistribution(["conv", "pool", "skip", None]),
    "width": IntDistribution(8, 64, log=True),
    "rate": FloatDistribution(0.0, 1.0),
    "depth": IntDistribution(1, 4),
}


def _tracker(
    rows: list[tuple[dict[str, Any], float]], direction: StudyDirection
) -> PopulationTracker:
    start = datetime.datetime(2026, 1, 1)
    trials = []
    for number, (params, value) in enumerate(rows):
        trial = create_trial(params=params, distributions=SPACE, value=value)
        trial.number = number
        trial._trial_id = number
        trial.datetime_complete = start + datetime.timedelta(seconds=number)
        trials.append(trial)
    tracker = PopulationTracker(
        population_size=len(rows), aging=True, include_pruned=False, directions=(direction,)
    )
    tracker.update(trials)
    return tracker


def _random_params(rng: np.random.RandomState) -> dict[str, Any]:
    return {
        "op": SPACE["op"].choices[rng.randint(4)],  # type: ignore[attr-defined]
        "width": int(rng.randint(8, 65)),
        "rate": float(rng.uniform()),
        "depth": int(rng.randint(1, 5)),
    }


def _primal_scores(
    tracker: PopulationTracker, candidates: list[dict[str, Any]], sign: float
) -> np.ndarray:
    """Weighted ridge regression on one-hot columns, solved directly."""
    sets = {member.identity: member.params for member in tracker.members}
    columns: dict[tuple[str, Any], int] = {}
    for params in [*sets.values(), *candidates]:
        for name, distribution in SPACE.items():
            columns.setdefault((name, value_code(distribution, params[name])), len(columns))

    def encode(params: dict[str, Any]) -> np.ndarray:
        row = np.zeros(len(columns))
        for name, distribution in SPACE.items():
            row[columns[name, value_code(distribution, params[name])]] = 1.0
        return row

    design = np.array([encode(params) for params in sets.values()])
    values = sign * np.array([tracker.observations[key].mean for key in sets])
    weights = np.array([tracker.observations[key].count for key in sets], dtype=float)
    centre = weights @ design / weights.sum()
    centred = design - centre
    target = values - weights @ values / weights.sum()
    gram = centred.T @ (weights[:, None] * centred) + RIDGE * np.eye(len(columns))
    coefficients = np.linalg.solve(gram, centred.T @ (weights * target))
    return np.array([(encode(candidate) - centre) @ coefficients for candidate in candidates])


@pytest.mark.parametrize("direction", [StudyDirection.MAXIMIZE, StudyDirection.MINIMIZE])
@pytest.mark.parametrize("seed", range(5))
def test_screen_is_the_ridge_regressions_best(direction: StudyDirection, seed: int) -> None:
    rng = np.random.RandomState(seed)
    distinct = [_random_params(rng) for _ in range(15)]
    # Repeats give some sets several evaluations, hence more weight; each repeat is a member
    # of its own here (as with dedup=False), and the set still counts once.
    rows = [(distinct[rng.randint(15)], float(rng.normal())) for _ in range(30)]
    tracker = _tracker(rows, direction)
    assert len({member.identity for member in tracker.members}) < len(tracker.members)
    candidates = [_random_params(rng) for _ in range(12)]
    sign = 1.0 if direction == StudyDirection.MAXIMIZE else -1.0
    expected = _primal_scores(tracker, candidates, sign)
    screen = CandidateScreen(SPACE)
    np.testing.assert_allclose(screen.scores(candidates, tracker, direction), expected, atol=1e-9)
    assert screen.best(candidates, tracker, direction) == int(np.argmax(expected))


def test_screen_follows_the_values_effects() -> None:
    rng = np.random.RandomState(0)
    rows = []
    for _ in range(40):
        params = _random_params(rng)
        value = {"conv": 2.0, "pool": 1.0, "skip": 0.0, None: -1.0}[params["op"]]
        rows.append((params, value + 0.1 * rng.normal()))
    base = _random_params(rng)
    candidates = [{**base, "op": op} for op in ("skip", None, "conv", "pool")]
    maximize = _tracker(rows, StudyDirection.MAXIMIZE)
    minimize = _tracker(rows, StudyDirection.MINIMIZE)
    assert CandidateScreen(SPACE).best(candidates, maximize, StudyDirection.MAXIMIZE) == 2
    assert CandidateScreen(SPACE).best(candidates, minimize, StudyDirection.MINIMIZE) == 1


def test_screen_takes_the_first_without_two_finite_sets() -> None:
    rng = np.random.RandomState(0)
    candidates = [_random_params(rng) for _ in range(3)]
    lone = _tracker([(candidates[2], 5.0)], StudyDirection.MAXIMIZE)
    assert CandidateScreen(SPACE).best(candidates, lone, StudyDirection.MAXIMIZE) == 0
    infinite = _tracker(
        [(candidates[2], 5.0), (candidates[1], float("inf"))], StudyDirection.MAXIMIZE
    )
    assert CandidateScreen(SPACE).best(candidates, infinite, StudyDirection.MAXIMIZE) == 0


def test_numbers_are_told_apart_by_a_tenth_of_their_range() -> None:
    assert value_code(FloatDistribution(0.0, 1.0), 0.05) == 0
    assert value_code(FloatDistribution(0.0, 1.0), 0.95) == NUMERIC_BINS - 1
    assert value_code(FloatDistribution(0.0, 1.0), 1.0) == NUMERIC_BINS - 1
    assert value_code(IntDistribution(1, 1000, log=True), 10) == 3  # a third of the log range
    assert value_code(IntDistribution(3, 3), 3) == 0
    assert value_code(CategoricalDistribution(["a", "b"]), "b") == "b"


def _additive(trial: optuna.Trial) -> float:
    effects = {"a": 3.0, "b": 1.0, "c": 0.0, "d": -1.0}
    return sum(effects[trial.suggest_categorical(f"x{i}", list(effects))] for i in range(6))


def _child_values(mutation_candidates: int, seed: int) -> list[float]:
    sampler = AgingEvolutionSampler(
        mutation_candidates=mutation_candidates,
        tpe_probability=0.0,
        reevaluation_probability=0.0,
        seed=seed,
    )
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(_additive, n_trials=40)
    mutated = ("op", "param")
    return [t.value for t in study.trials if t.system_attrs[MUTATION_KEY] in mutated]


def test_screened_children_score_higher_on_an_additive_objective() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    plain = [np.mean(_child_values(1, seed)) for seed in range(5)]
    screened = [np.mean(_child_values(4, seed)) for seed in range(5)]
    assert all(s > p for s, p in zip(screened, plain, strict=True)), (screened, plain)


def test_screened_children_are_unseen_mutations() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = AgingEvolutionSampler(
        mutation_candidates=8, tpe_probability=0.0, reevaluation_probability=0.0, seed=3
    )
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(_additive, n_trials=60)
    trials = study.trials
    seen = set()
    walked = 0
    for trial in trials:
        key = tuple(sorted(trial.params.items()))
        assert key not in seen
        seen.add(key)
        if trial.system_attrs[MUTATION_KEY] == "param":
            parent = trials[trial.system_attrs[PARENT_KEY]]
            changed = [name for name in trial.params if trial.params[name] != parent.params[name]]
            # Dedup walks on from a seen candidate when the parent's neighbours run short.
            steps = trial.system_attrs.get(MUTATION_STEPS_KEY, 1)
            assert 1 <= len(changed) <= steps
            walked += steps > 1
    assert walked < len(trials) / 2


def _two_objectives(trial: optuna.Trial) -> tuple[float, float]:
    return _additive(trial), float(trial.suggest_int("size", 1, 10))


def test_screening_is_off_with_two_objectives() -> None:
    def numbers(mutation_candidates: int) -> list[dict[str, Any]]:
        sampler = AgingEvolutionSampler(mutation_candidates=mutation_candidates, seed=0)
        study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
        study.optimize(_two_objectives, n_trials=40)
        return [trial.params for trial in study.trials]

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    assert numbers(4) == numbers(1)


def test_a_screen_reused_across_populations_ranks_as_a_fresh_one() -> None:
    rng = np.random.RandomState(7)
    screen = CandidateScreen(SPACE)
    for _ in range(4):
        # Each population numbers its members from 0 again, with other parameters.
        rows = [(_random_params(rng), float(rng.normal())) for _ in range(12)]
        tracker = _tracker(rows, StudyDirection.MAXIMIZE)
        candidates = [_random_params(rng) for _ in range(6)]
        expected = CandidateScreen(SPACE).best(candidates, tracker, StudyDirection.MAXIMIZE)
        assert screen.best(candidates, tracker, StudyDirection.MAXIMIZE) == expected


def test_a_screen_kept_while_the_population_ages_ranks_as_a_fresh_one() -> None:
    # Members leave and join between asks (one to five at a time), and some values are
    # infinite: the rows the screen keeps for members are freed and reused.
    rng = np.random.RandomState(3)
    start = datetime.datetime(2026, 1, 1)
    tracker = PopulationTracker(
        population_size=12, aging=True, include_pruned=False, directions=(StudyDirection.MAXIMIZE,)
    )
    screen = CandidateScreen(SPACE)
    trials: list[optuna.trial.FrozenTrial] = []
    while len(trials) < 120:
        for _ in range(rng.randint(1, 6)):
            value = float("inf") if rng.rand() < 0.05 else float(rng.normal())
            trial = create_trial(params=_random_params(rng), distributions=SPACE, value=value)
            trial.number = trial._trial_id = len(trials)
            trial.datetime_complete = start + datetime.timedelta(seconds=len(trials))
            trials.append(trial)
        tracker.update(trials)
        candidates = [_random_params(rng) for _ in range(5)]
        expected = CandidateScreen(SPACE).best(candidates, tracker, StudyDirection.MAXIMIZE)
        assert screen.best(candidates, tracker, StudyDirection.MAXIMIZE) == expected


def test_values_outside_a_range_and_missing_parameters_are_encoded() -> None:
    rng = np.random.RandomState(1)
    rows = [(_random_params(rng), float(rng.normal())) for _ in range(10)]
    tracker = _tracker(rows, StudyDirection.MAXIMIZE)
    odd = [{**_random_params(rng), "width": 0, "rate": float("nan")}, {"op": "conv"}]
    assert CandidateScreen(SPACE).best(odd, tracker, StudyDirection.MAXIMIZE) in (0, 1)
    assert value_code(IntDistribution(8, 64, log=True), 0) == value_code(SPACE["rate"], 2.0)
