"""Infinite values, concurrent proposals, default tournament size, numpy arguments, estimates."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
import math
import pathlib
import tracemalloc
import warnings

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution
from optuna.distributions import IntDistribution
from optuna.study import StudyDirection
from optuna.trial import create_trial
from optuna.trial import TrialState
import pytest

from optuna_amoeba import _sampler
from optuna_amoeba import AgingEvolutionSampler
from optuna_amoeba import default_sample_size
from optuna_amoeba import estimate_by_params
from optuna_amoeba import MUTATION_KEY
from optuna_amoeba import PARENT_KEY
from optuna_amoeba import rank_by_mean
from optuna_amoeba import rank_estimates
from optuna_amoeba import recommend_by_mean
from optuna_amoeba._population import distribution_key
from optuna_amoeba._population import params_key
from optuna_amoeba._population import PopulationTracker
from optuna_amoeba._population import PROPOSAL_KEY
from optuna_amoeba._random import sample_different_value
from optuna_amoeba._reevaluation import reevaluation_target
from optuna_amoeba._storage import retry_trial


optuna.logging.set_verbosity(optuna.logging.WARNING)

SPACE = {"x": CategoricalDistribution(("a", "b", "c", "d"))}


def _study_with(values: list[tuple[str, float]], sampler: AgingEvolutionSampler) -> optuna.Study:
    study = optuna.create_study(direction="maximize", sampler=sampler)
    for x, value in values:
        study.add_trial(create_trial(params={"x": x}, distributions=SPACE, value=value))
    return study


def _tracker(study: optuna.Study, population_size: int = 10) -> PopulationTracker:
    tracker = PopulationTracker(population_size, True, False, tuple(study.directions))
    tracker.update(study.get_trials(deepcopy=False))
    return tracker


def test_infinite_values_leave_the_noise_estimate_finite() -> None:
    sampler = AgingEvolutionSampler(seed=0)
    study = _study_with(
        [("a", math.inf), ("a", math.inf), ("b", -math.inf), ("b", 1.0), ("c", 1.0), ("c", 2.0)],
        sampler,
    )
    tracker = _tracker(study)
    # Only c's finite repeat measures the noise: squares 0.5 over one degree of freedom.
    assert tracker.noise_std == pytest.approx(math.sqrt(0.5))


def test_a_set_scored_minus_infinity_twice_is_the_worst_not_nan() -> None:
    study = _study_with([("a", -math.inf), ("a", -math.inf), ("b", 1.0)], AgingEvolutionSampler())
    tracker = _tracker(study)
    means = {member.params["x"]: tracker.mean_value(member) for member in tracker.members}
    assert means == {"a": -math.inf, "b": 1.0}


@pytest.mark.parametrize("worst", [[-math.inf, -math.inf], [math.inf, -math.inf]])
def test_tournament_never_picks_an_infinitely_bad_or_undefined_set(worst: list[float]) -> None:
    # S = P: the tournament always sees every member, so its winner is the best one.
    sampler = AgingEvolutionSampler(
        population_size=5,
        sample_size=5,
        n_startup_trials=1,
        reevaluation_probability=0.0,
        tpe_probability=0.0,
    )
    study = _study_with([("a", worst[0]), ("a", worst[1]), ("b", 1.0), ("c", 0.5)], sampler)
    parents = []
    for seed in range(10):
        sampler._rng = np.random.RandomState(seed)
        trial = study.ask(SPACE)
        parents.append(study.trials[trial._trial_id].system_attrs[PARENT_KEY])
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
    assert parents == [2] * 10


def test_plus_infinity_wins_by_order() -> None:
    sampler = AgingEvolutionSampler(
        population_size=5,
        sample_size=5,
        n_startup_trials=1,
        reevaluation_probability=0.0,
        tpe_probability=0.0,
    )
    study = _study_with([("a", 1.0), ("b", math.inf), ("c", 0.5)], sampler)
    trial = study.ask(SPACE)
    assert study.trials[trial.number].system_attrs[PARENT_KEY] == 1


def test_estimates_keep_infinities_out_of_the_arithmetic() -> None:
    estimates = estimate_by_params(
        [(0, {"x": "a"}, -math.inf), (1, {"x": "a"}, -math.inf), (2, {"x": "b"}, 1.0)],
        StudyDirection.MAXIMIZE,
    )
    assert [(e.params["x"], e.mean, e.count) for e in estimates] == [
        ("a", -math.inf, 2),
        ("b", 1.0, 1),
    ]


@pytest.mark.parametrize("on_sqlite", [False, True])
def test_two_interleaved_asks_never_propose_the_same_child(
    on_sqlite: bool, tmp_path: pathlib.Path
) -> None:
    # 7 of 9 sets evaluated: two unseen children remain. Trial A has written only its first
    # parameter when trial B asks; B must still see A's whole proposal.
    space = {"x": IntDistribution(0, 2), "y": IntDistribution(0, 2)}
    seen = [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (2, 0), (2, 2)]
    for seed in range(20):
        sampler = AgingEvolutionSampler(
            population_size=10,
            sample_size=3,
            n_startup_trials=1,
            reevaluation_probability=0.0,
            tpe_probability=0.0,
            seed=seed,
        )
        storage = f"sqlite:///{tmp_path / f'{seed}.db'}" if on_sqlite else None
        study = optuna.create_study(sampler=sampler, storage=storage)
        for x, y in seen:
            study.add_trial(create_trial(params={"x": x, "y": y}, distributions=space, value=x))
        first = study.ask()
        first_child = (first.suggest_int("x", 0, 2), None)
        second = study.ask()
        second_child = (second.suggest_int("x", 0, 2), second.suggest_int("y", 0, 2))
        first_child = (first_child[0], first.suggest_int("y", 0, 2))
        assert first_child in {(1, 2), (2, 1)}
        assert second_child != first_child, seed


def test_a_tpe_proposal_running_elsewhere_is_not_proposed_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # TPE proposes the same parameters at every ask; the second, interleaved ask must see
    # the first's whole proposal and fall back to evolution.
    monkeypatch.setattr(_sampler, "tpe_proposal", lambda *args: {"x": 1, "y": 2})
    space = {"x": IntDistribution(0, 2), "y": IntDistribution(0, 2)}
    sampler = AgingEvolutionSampler(
        n_startup_trials=1, tpe_probability=1.0, reevaluation_probability=0.0, seed=0
    )
    study = optuna.create_study(sampler=sampler)
    study.add_trial(create_trial(params={"x": 0, "y": 0}, distributions=space, value=0.0))
    first = study.ask()
    first.suggest_int("x", 0, 2)
    second = study.ask()
    second_child = (second.suggest_int("x", 0, 2), second.suggest_int("y", 0, 2))
    assert (first.suggest_int("y", 0, 2), first.params["x"]) == (2, 1)
    kinds = [
        study._storage.get_trial(t._trial_id).system_attrs[MUTATION_KEY] for t in (first, second)
    ]
    assert kinds[0] == "tpe" and kinds[1] != "tpe"
    assert second_child != (1, 2)


def test_sample_size_defaults_to_half_the_population() -> None:
    assert default_sample_size(20) == 10 and default_sample_size(1) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert AgingEvolutionSampler(population_size=20).sample_size == 10
        assert AgingEvolutionSampler().sample_size == 25
        assert AgingEvolutionSampler(population_size=100, sample_size=50).sample_size == 50


def test_a_population_whose_default_changes_keeps_25_with_a_future_warning() -> None:
    with pytest.warns(
        FutureWarning, match=r"sample_size=25, the default before 0\.3\.0; from 0\.4\.0 .* = 50"
    ):
        sampler = AgingEvolutionSampler(population_size=100)
    assert sampler.sample_size == 25


def test_default_sample_size_refuses_a_bad_population() -> None:
    with pytest.raises(ValueError, match=r"population_size must be an int >= 1, got 0"):
        default_sample_size(0)


def test_numpy_probability_is_accepted() -> None:
    sampler = AgingEvolutionSampler(reevaluation_probability=np.float32(0.3))
    assert sampler.reevaluation_probability == pytest.approx(0.3)
    assert type(sampler.reevaluation_probability) is float


def test_recommended_set_is_not_a_single_lucky_draw() -> None:
    # "a" once at 1.93; "b" three times around 1.9 with noise 0.1: by mean "a" is first, the
    # recommendation discounts a's single evaluation by the pooled standard error.
    study = _study_with([("a", 1.93), ("b", 1.8), ("b", 2.0), ("b", 1.9)], AgingEvolutionSampler())
    assert [e.params["x"] for e in rank_by_mean(study)] == ["a", "b"]
    recommended = recommend_by_mean(study)
    assert [e.params["x"] for e in recommended] == ["b", "a"]
    assert recommended[1].pessimistic_mean == pytest.approx(1.93 - 0.1)


def test_reevaluation_takes_no_population_slot() -> None:
    sampler = AgingEvolutionSampler(population_size=3, reevaluation_probability=0.0)
    study = _study_with([("a", 1.0), ("b", 2.0), ("c", 3.0)], sampler)
    repeat = create_trial(
        params={"x": "a"},
        distributions=SPACE,
        value=1.5,
        system_attrs={MUTATION_KEY: "reevaluation", PARENT_KEY: 0},
    )
    study.add_trial(repeat)
    tracker = _tracker(study, population_size=3)
    assert [m.params["x"] for m in tracker.members] == ["a", "b", "c"]
    assert tracker.mean_value(tracker.members[0]) == pytest.approx(1.25)


def test_a_reevaluation_the_objective_does_not_repeat_is_a_new_member() -> None:
    # Proposed as a re-evaluation of "a", but the objective suggested "b" (its space changed).
    sampler = AgingEvolutionSampler(population_size=3, reevaluation_probability=0.0)
    study = _study_with([("a", 1.0), ("c", 3.0)], sampler)
    study.add_trial(
        create_trial(
            params={"x": "b"},
            distributions=SPACE,
            value=2.0,
            system_attrs={MUTATION_KEY: "reevaluation", PARENT_KEY: 0, PROPOSAL_KEY: {"x": "a"}},
        )
    )
    tracker = _tracker(study, population_size=3)
    assert [m.params["x"] for m in tracker.members] == ["a", "c", "b"]
    assert tracker.unrepeatable == {params_key({"x": "a"})}
    assert reevaluation_target(tracker, StudyDirection.MAXIMIZE, {}).params == {"x": "c"}


def test_a_parameter_added_mid_study_does_not_stop_evolution() -> None:
    # The leader holds x only; re-evaluating it now draws lr too, a new set every time. Each
    # set a re-evaluation could not repeat is tried once, and evolution goes on.
    noise = np.random.RandomState(0)

    def before(trial: optuna.Trial) -> float:
        return trial.suggest_float("x", 0, 1) + noise.normal(0, 0.1)

    def after(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        return x + trial.suggest_float("lr", 1e-4, 1e-1, log=True) + noise.normal(0, 0.1)

    study = optuna.create_study(sampler=AgingEvolutionSampler(population_size=10, seed=0))
    study.optimize(before, n_trials=30)
    study.optimize(after, n_trials=100)
    later = study.trials[30:]
    failed = [
        t.system_attrs[PARENT_KEY]
        for t in later
        if t.system_attrs[MUTATION_KEY] == "reevaluation"
        and t.params != study.trials[t.system_attrs[PARENT_KEY]].params
    ]
    assert failed and len(failed) == len(set(failed))
    assert sum(t.system_attrs[MUTATION_KEY] == "param" for t in later) >= 50


def test_a_batch_of_asks_on_sqlite_gets_distinct_proposals(tmp_path: pathlib.Path) -> None:
    # Optuna caches the trial list per thread until the next ask or tell: the batch's later
    # trials read a list from before their batch-mates' proposals were stored. New proposals
    # are distinct; a re-evaluated set runs in at most two trials at once.
    noise = np.random.RandomState(0)
    sampler = AgingEvolutionSampler(population_size=20, seed=0)
    study = optuna.create_study(sampler=sampler, storage=f"sqlite:///{tmp_path / 'b.db'}")
    repeated_in_a_batch = 0
    for _ in range(6):
        batch = [study.ask() for _ in range(8)]
        proposals = [(t.suggest_int("x", 0, 9), t.suggest_int("y", 0, 9)) for t in batch]
        kinds = [study._storage.get_trial(t._trial_id).system_attrs[MUTATION_KEY] for t in batch]
        new = [p for p, kind in zip(proposals, kinds, strict=True) if kind != "reevaluation"]
        assert len(set(new)) == len(new)
        assert max(Counter(proposals).values()) <= 2
        repeated_in_a_batch += max(Counter(proposals).values()) == 2
        for trial, (x, y) in zip(batch, proposals, strict=True):
            study.tell(trial, (x - 3) ** 2 + (y - 6) ** 2 + noise.normal())
    assert repeated_in_a_batch


def test_a_thread_with_an_older_trial_list_does_not_rebuild_the_population() -> None:
    sampler = AgingEvolutionSampler(population_size=5, seed=0)
    study = optuna.create_study(sampler=sampler)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=12)
    tracker, _ = sampler._refresh(study)
    members = tracker.members
    study._thread_local.cached_all_trials = study.get_trials(deepcopy=False)[:8]
    refreshed, trials = sampler._refresh(study)
    assert refreshed is tracker and tracker.scanned == len(trials) == 12
    assert tracker.members == members


def test_a_retried_crashed_trial_keeps_its_architecture_and_lineage() -> None:
    def objective(trial: optuna.Trial) -> float:
        return trial.suggest_int("x", 0, 30) - trial.suggest_int("y", 0, 30)

    study = optuna.create_study(sampler=AgingEvolutionSampler(population_size=10, seed=0))
    study.optimize(objective, n_trials=40)
    crashed = study.ask()
    crashed.suggest_int("x", 0, 30)
    study.tell(crashed, state=optuna.trial.TrialState.FAIL)
    original = study.trials[crashed.number]
    retry_trial(study, original)
    study.optimize(objective, n_trials=1)
    retried = study.trials[-1]
    assert retried.system_attrs["failed_trial"] == original.number
    assert retried.params == original.system_attrs[PROPOSAL_KEY]
    for key in (PARENT_KEY, MUTATION_KEY, PROPOSAL_KEY):
        assert retried.system_attrs[key] == original.system_attrs[key]


def test_an_empty_common_space_gives_random_trials_without_a_parent() -> None:
    # x's range widens at trial 20: old and new members share no distribution until the
    # old ones age out, and every parameter is drawn at random.
    def objective(trial: optuna.Trial) -> float:
        return trial.suggest_float("x", 0.0, 1.0 if trial.number < 20 else 2.0)

    sampler = AgingEvolutionSampler(population_size=10, reevaluation_probability=0, seed=0)
    study = optuna.create_study(sampler=sampler)
    study.optimize(objective, n_trials=40)
    kinds = [t.system_attrs[MUTATION_KEY] for t in study.trials[20:]]
    assert "identity" not in kinds and "random" in kinds
    assert all(
        t.system_attrs[PARENT_KEY] is None
        for t in study.trials[20:]
        if t.system_attrs[MUTATION_KEY] == "random"
    )


@pytest.mark.parametrize(
    ("distribution", "current", "allowed"),
    [
        (IntDistribution(0, 10, step=5), 5, {0, 10}),
        (IntDistribution(3, 5), 3, {4, 5}),
        # Off the grid or out of range (an enqueued value): any grid value.
        (IntDistribution(0, 9, step=3), 4, {0, 3, 6, 9}),
        (IntDistribution(0, 4), 9, {0, 1, 2, 3, 4}),
        (IntDistribution(0, 4), -2, {0, 1, 2, 3, 4}),
        (IntDistribution(0, 3 * 10**7, step=3), 3, None),
    ],
)
def test_an_int_mutation_draws_another_grid_value_by_index(
    distribution: IntDistribution, current: int, allowed: set[int] | None
) -> None:
    # A list of the range's 10**7 values would take hundreds of MB; a draw by index, nothing.
    rng = np.random.RandomState(0)
    tracemalloc.start()
    try:
        values = [sample_different_value(distribution, current, rng) for _ in range(50)]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000
    for value in values:
        assert value != current and distribution.low <= value <= distribution.high
        assert (value - distribution.low) % distribution.step == 0
        assert allowed is None or value in allowed
    assert allowed is None or set(values) == allowed


@pytest.mark.parametrize(
    "suggest",
    [
        # Ranges past numpy's randint (2**63 values or more), which Optuna's samplers draw.
        lambda trial: trial.suggest_int("x", -(2**62), 2**62),
        lambda trial: trial.suggest_int("x", -(2**63) + 1, 2**63 - 1),
        lambda trial: trial.suggest_float("x", 0.0, 1.0, step=1e-19),
        # Choices Optuna takes for one value (1 == True, 0 == False == 0.0).
        lambda trial: float(trial.suggest_categorical("x", [1, True])),
        lambda trial: float(trial.suggest_categorical("x", [0, False, 0.0, 1])),
    ],
)
def test_every_distribution_optuna_accepts_is_sampled_and_mutated(
    suggest: Callable[[optuna.Trial], float],
) -> None:
    study = optuna.create_study(sampler=AgingEvolutionSampler(population_size=5, seed=0))
    study.optimize(suggest, n_trials=30)
    trials = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(trials) == 30
    assert (
        sum(trial.system_attrs.get(MUTATION_KEY) not in ("random", "tpe") for trial in trials) > 0
    )
    for trial in trials:
        assert trial.distributions["x"]._contains(
            trial.distributions["x"].to_internal_repr(trial.params["x"])
        )


@pytest.mark.parametrize("maximize", [StudyDirection.MAXIMIZE, "maximize"])
def test_estimates_take_the_direction_by_name_too(maximize: StudyDirection | str) -> None:
    evaluations = [(0, {"a": 1}, 1.0), (1, {"a": 2}, 9.0)]
    ranked = rank_estimates(estimate_by_params(evaluations, maximize), maximize)
    assert [estimate.params for estimate in ranked] == [{"a": 2}, {"a": 1}]
    ranked = rank_estimates(estimate_by_params(evaluations, "minimize"), "minimize")
    assert [estimate.params for estimate in ranked] == [{"a": 1}, {"a": 2}]


@pytest.mark.parametrize("direction", [None, 3, "max", "MAXIMIZE", StudyDirection.NOT_SET])
def test_estimates_refuse_an_unknown_direction(direction: object) -> None:
    with pytest.raises(ValueError, match=r"direction must be StudyDirection.MINIMIZE or MAXIMIZE"):
        estimate_by_params([(0, {"a": 1}, 1.0)], direction)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"direction must be StudyDirection.MINIMIZE or MAXIMIZE"):
        rank_estimates([], direction)  # type: ignore[arg-type]


@pytest.mark.parametrize("function", [rank_by_mean, recommend_by_mean])
def test_ranking_refuses_what_is_not_a_study(function: Callable[..., object]) -> None:
    with pytest.raises(ValueError, match=r"needs an optuna.Study, got None"):
        function(None)


def test_a_hand_edited_proposal_does_not_stop_the_study() -> None:
    study = optuna.create_study(sampler=AgingEvolutionSampler(population_size=5, seed=0))
    study.add_trial(
        create_trial(
            value=0.0,
            params={"x": 1},
            distributions={"x": IntDistribution(0, 9)},
            system_attrs={MUTATION_KEY: "reevaluation", "amoeba:proposal": {"x": [1]}},
        )
    )
    running = study.ask()
    study._storage.set_trial_system_attr(running._trial_id, "amoeba:proposal", {"x": [2]})
    study.optimize(lambda trial: trial.suggest_int("x", 0, 9), n_trials=20)
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 21


@pytest.mark.parametrize("aging", [True, False])
def test_common_search_space_follows_the_population_however_many_trials_finish_per_update(
    aging: bool,
) -> None:
    # Define-by-run spaces: each trial has x, and y or z with one of two ranges, suggested in
    # either order. Trials finish in batches of 1 to 30 between updates, as when many workers
    # report between two asks; the common space is in the last member's order.
    rng = np.random.RandomState(0)
    study = optuna.create_study(direction="maximize")
    tracker = PopulationTracker(8, aging, False, (StudyDirection.MAXIMIZE,))
    for _ in range(40):
        for _ in range(rng.randint(1, 31)):
            name = "y" if rng.rand() < 0.8 else "z"
            distributions = {
                "x": CategoricalDistribution(("a", "b")),
                name: IntDistribution(0, int(rng.choice([3, 9]))),
            }
            if rng.rand() < 0.5:
                distributions = dict(reversed(distributions.items()))
            params = {"x": "a", name: 0}
            study.add_trial(
                create_trial(params=params, distributions=distributions, value=rng.rand())
            )
        tracker.update(study.get_trials(deepcopy=False))
        members = tracker.members
        expected = [
            (name, distribution)
            for name, distribution in members[-1].distributions.items()
            if all(member.distributions.get(name) == distribution for member in members)
        ]
        space = tracker.intersection_search_space()
        assert list(space.items()) == expected
        # The space's key is known while the population stays as it was, for that dict only.
        key = tracker.space_key(space)
        assert key == frozenset((name, distribution_key(d)) for name, d in expected)
        assert tracker.space_key(dict(space)) is None
        tracker.update(study.get_trials(deepcopy=False))
        assert tracker.space_key(space) == key
        study.add_trial(
            create_trial(
                params={"x": "a"},
                distributions={"x": CategoricalDistribution(("a", "b"))},
                value=2.0,  # above every other value: it enters the population either way
            )
        )
        tracker.update(study.get_trials(deepcopy=False))
        assert tracker.space_key(space) is None


def test_a_space_other_than_the_inferred_one_gets_values_of_its_own_distributions() -> None:
    sampler = AgingEvolutionSampler(seed=0, n_startup_trials=2, tpe_probability=0.0)
    study = optuna.create_study(sampler=sampler)
    study.optimize(lambda t: t.suggest_int("a", 0, 9) + t.suggest_int("b", 0, 9), n_trials=12)
    trial = study._storage.get_trial(study.ask()._trial_id)
    inferred = sampler.infer_relative_search_space(study, trial)
    assert set(inferred) == {"a", "b"}
    other = {"a": IntDistribution(0, 4), "b": inferred["b"], "c": IntDistribution(100, 103)}
    for _ in range(20):
        sampler.infer_relative_search_space(study, trial)
        proposal = sampler.sample_relative(study, trial, other)
        assert set(proposal) == {"a", "b", "c"}
        assert 0 <= proposal["a"] <= 4 and 0 <= proposal["b"] <= 9
        assert 100 <= proposal["c"] <= 103
