"""What the sampler promises: population, tournament, mutation, dedup, lineage, seeds."""

from __future__ import annotations

import datetime
import pickle
from typing import Any

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
from optuna.trial import FrozenTrial
from optuna.trial import TrialState
import pytest

from optuna_amoeba import AgingEvolutionSampler
from optuna_amoeba import MUTATION_KEY
from optuna_amoeba import nasnet
from optuna_amoeba import PARENT_KEY
from optuna_amoeba._population import competing_values
from optuna_amoeba._population import params_key
from optuna_amoeba._population import PopulationTracker
from optuna_amoeba._population import PROPOSAL_KEY
from optuna_amoeba._reevaluation import unconfirmed_leader


optuna.logging.set_verbosity(optuna.logging.WARNING)

SMALL_SPACE = {
    "a": CategoricalDistribution(("x", "y", "z", "w", "v")),
    "b": IntDistribution(0, 4),
    "c": IntDistribution(1, 64, log=True),
    "d": FloatDistribution(0.0, 1.0, step=0.25),
}


def nasnet_objective(trial: optuna.Trial) -> float:
    genotype = nasnet.suggest_genotype(trial)
    return float(sum(b.op_a == "sep_conv_3x3" for _, c in genotype.cells() for b in c.blocks))


def evolved(study: optuna.Study) -> list[FrozenTrial]:
    return [
        t for t in study.get_trials(deepcopy=False) if t.system_attrs.get(PARENT_KEY) is not None
    ]


def eligible_before(
    trials: list[FrozenTrial], child: FrozenTrial, include_pruned: bool = False
) -> list[FrozenTrial]:
    """Trials that had entered the population when ``child`` was asked, oldest first
    (re-evaluations take no population slot)."""
    assert child.datetime_start is not None
    done = [
        t
        for t in trials
        if t.datetime_complete is not None
        and t.datetime_complete <= child.datetime_start
        and competing_values(t, include_pruned) is not None
        and t.system_attrs.get(MUTATION_KEY) != "reevaluation"
    ]
    return sorted(done, key=lambda t: (t.datetime_complete, t.number))


def test_parent_is_among_the_p_most_recently_completed_by_completion_order() -> None:
    population_size = 6
    study = optuna.create_study(
        direction="maximize",
        sampler=AgingEvolutionSampler(population_size=population_size, sample_size=3, seed=3),
    )
    rng = np.random.RandomState(0)
    # Ask (and sample) in batches, tell in shuffled order: completion order != numbers.
    for _ in range(25):
        batch = [study.ask() for _ in range(4)]
        values = [nasnet_objective(trial) for trial in batch]
        for index in rng.permutation(len(batch)):
            study.tell(batch[index], values[index])
    children = evolved(study)
    assert len(children) > 60
    trials = study.get_trials(deepcopy=False)
    for child in children:
        recent = eligible_before(trials, child)[-population_size:]
        assert child.system_attrs[PARENT_KEY] in {t.number for t in recent}


def test_random_until_startup_trials_completed_then_evolution() -> None:
    sampler = AgingEvolutionSampler(
        population_size=8, sample_size=4, n_startup_trials=5, tpe_probability=0.0, seed=0
    )
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(nasnet_objective, n_trials=20)
    kinds = [t.system_attrs[MUTATION_KEY] for t in study.trials]
    assert kinds[:5] == ["random"] * 5
    assert all(kind in {"hidden_state", "op", "reevaluation"} for kind in kinds[5:])
    # While the population fills up, the tournament draws from all completed trials.
    assert all(t.system_attrs[PARENT_KEY] < t.number for t in study.trials[5:])


@pytest.mark.parametrize("tpe_probability", [0.5, 1.0])
def test_tpe_proposes_at_its_rate_until_two_populations_completed(tpe_probability: float) -> None:
    population_size = 20
    sampler = AgingEvolutionSampler(
        population_size=population_size, tpe_probability=tpe_probability, seed=1
    )
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(noisy_objective(3), n_trials=120)
    trials = study.trials
    kinds = [t.system_attrs[MUTATION_KEY] for t in trials]
    phase = kinds[10 : 2 * population_size]
    assert kinds[:10] == ["random"] * 10
    assert "tpe" not in kinds[2 * population_size :]
    # A new leader's confirmation comes before TPE's turn is drawn.
    drawn = [kind for kind in phase if kind != "reevaluation"]
    share = drawn.count("tpe") / len(drawn)
    if tpe_probability == 1.0:
        # Every turn is TPE's unless its proposal was evaluated already (then evolution's).
        assert share > 0.8
    else:
        assert 0.25 < share < 0.75
    tpe_trials = [t for t in trials if t.system_attrs[MUTATION_KEY] == "tpe"]
    assert all(t.system_attrs[PARENT_KEY] is None for t in tpe_trials)
    # TPE's proposals are deduplicated like children: none repeats an earlier trial.
    for trial in tpe_trials:
        earlier = {tuple(sorted(t.params.items())) for t in trials[: trial.number]}
        assert tuple(sorted(trial.params.items())) not in earlier


def test_one_sampler_serves_two_studies_in_its_tpe_phase(tmp_path: Any) -> None:
    sampler = AgingEvolutionSampler(
        population_size=10, tpe_probability=1.0, reevaluation_probability=0.0, seed=6
    )
    storage = f"sqlite:///{tmp_path / 'two.db'}"
    studies = [optuna.create_study(storage=storage, sampler=sampler) for _ in range(2)]
    for _ in range(15):
        for study in studies:
            study.optimize(lambda t: t.suggest_float("x", 0, 1) + t.suggest_int("n", 1, 3), 1)
    for study in studies:
        kinds = [t.system_attrs[MUTATION_KEY] for t in study.trials]
        assert kinds[:10] == ["random"] * 10 and set(kinds[10:]) == {"tpe"}


def test_tpe_proposals_are_those_of_optunas_tpe_on_the_same_history() -> None:
    sampler = AgingEvolutionSampler(population_size=10, tpe_probability=1.0, seed=4)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(lambda t: -((t.suggest_float("x", -5, 5) - 1.0) ** 2), n_trials=20)
    trials = study.trials
    first_tpe = next(t for t in trials if t.system_attrs[MUTATION_KEY] == "tpe")
    # The same history given to a TPESampler seeded seed + 1 proposes the same value.
    replay = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=5))
    for trial in trials[: first_tpe.number]:
        replay.add_trial(trial)
    replayed = replay.ask()
    assert replayed.suggest_float("x", -5, 5) == pytest.approx(first_tpe.params["x"])


@pytest.mark.parametrize("identity_probability", [0.0, 0.5])
def test_nasnet_child_differs_from_parent_by_exactly_one_mutation(
    identity_probability: float,
) -> None:
    sampler = AgingEvolutionSampler(
        population_size=5,
        sample_size=2,
        dedup=False,
        identity_probability=identity_probability,
        reevaluation_probability=0.0,
        seed=1,
    )
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(nasnet_objective, n_trials=150)
    kinds = set()
    trials = study.get_trials(deepcopy=False)
    for child in evolved(study):
        parent = trials[child.system_attrs[PARENT_KEY]]
        changed = [name for name in child.params if child.params[name] != parent.params[name]]
        kind = child.system_attrs[MUTATION_KEY]
        kinds.add(kind)
        if kind == "identity":
            assert changed == []
            continue
        assert len(changed) == 1, (kind, changed)
        expected_part = "_input_" if kind == "hidden_state" else "_op_"
        assert expected_part in changed[0]
        nasnet.Genotype.from_params(child.params).validate()
    expected = {"hidden_state", "op"} | ({"identity"} if identity_probability else set())
    assert kinds == expected


def test_generic_space_child_changes_one_parameter_within_its_distribution() -> None:
    def objective(trial: optuna.Trial) -> float:
        values = [trial._suggest(name, dist) for name, dist in SMALL_SPACE.items()]
        return float(values[1] + np.log(values[2]) + values[3])

    sampler = AgingEvolutionSampler(
        population_size=4, sample_size=2, dedup=False, reevaluation_probability=0.0, seed=2
    )
    study = optuna.create_study(sampler=sampler)
    study.optimize(objective, n_trials=120)
    trials = study.get_trials(deepcopy=False)
    for child in evolved(study):
        parent = trials[child.system_attrs[PARENT_KEY]]
        changed = [name for name in SMALL_SPACE if child.params[name] != parent.params[name]]
        assert child.system_attrs[MUTATION_KEY] in {"param", "identity"}
        assert len(changed) == (0 if child.system_attrs[MUTATION_KEY] == "identity" else 1)
        for name, dist in SMALL_SPACE.items():
            assert dist._contains(dist.to_internal_repr(child.params[name]))


def test_dedup_never_proposes_an_evaluated_child_while_unseen_ones_exist() -> None:
    def objective(trial: optuna.Trial) -> float:
        return float(sum(hash(trial._suggest(n, d)) % 7 for n, d in SMALL_SPACE.items()))

    duplicates = {}
    for dedup in (True, False):
        sampler = AgingEvolutionSampler(
            population_size=2,
            sample_size=2,
            n_startup_trials=2,
            dedup=dedup,
            reevaluation_probability=0.0,
            seed=4,
        )
        study = optuna.create_study(sampler=sampler)
        study.optimize(objective, n_trials=150)
        seen: set[tuple[Any, ...]] = set()
        duplicates[dedup] = 0
        for trial in study.trials:
            key = tuple(sorted(trial.params.items()))
            duplicates[dedup] += key in seen and trial.system_attrs[PARENT_KEY] is not None
            seen.add(key)
    assert duplicates[True] == 0
    assert duplicates[False] > 10


def test_dedup_redraws_random_start_up_proposals_equal_to_a_finished_or_running_trial() -> None:
    choices = {"a": CategoricalDistribution((0, 1, 2)), "b": CategoricalDistribution((0, 1, 2))}

    def start_up(dedup: bool, seed: int) -> list[tuple[Any, Any]]:
        sampler = AgingEvolutionSampler(
            population_size=9,
            n_startup_trials=9,
            dedup=dedup,
            max_dedup_retries=200,
            reevaluation_probability=0.0,
            seed=seed,
        )
        study = optuna.create_study(sampler=sampler)
        first = study.ask(choices)
        study.tell(first, 0.0)
        # Eight more asks while the first is the only result: all random, the rest running.
        for _ in range(8):
            study.ask(choices)
        assert all(t.system_attrs[MUTATION_KEY] == "random" for t in study.trials)
        assert [t.state for t in study.trials[1:]] == [TrialState.RUNNING] * 8
        return [(t.params["a"], t.params["b"]) for t in study.trials]

    for seed in range(5):
        assert len(set(start_up(True, seed))) == 9
    # Without dedup, nine uniform draws of nine cells repeat one almost surely.
    assert all(len(set(start_up(False, seed))) < 9 for seed in range(5))


def test_dedup_covers_the_trials_asked_before_any_has_finished() -> None:
    choices = {"a": CategoricalDistribution((0, 1, 2)), "b": CategoricalDistribution((0, 1, 2))}

    def first_wave(dedup: bool, seed: int) -> list[tuple[Any, Any]]:
        sampler = AgingEvolutionSampler(dedup=dedup, max_dedup_retries=200, seed=seed)
        study = optuna.create_study(sampler=sampler)
        for _ in range(9):
            study.ask(choices)
        assert [t.state for t in study.trials] == [TrialState.RUNNING] * 9
        return [(t.params["a"], t.params["b"]) for t in study.trials]

    for seed in range(5):
        assert len(set(first_wave(True, seed))) == 9
    assert all(len(set(first_wave(False, seed))) < 9 for seed in range(5))


def test_first_wave_draws_are_unchanged_where_none_repeats() -> None:
    # 40 parameters: a repeat is impossible in practice, so dedup must not touch the draws.
    space = {f"x{i}": CategoricalDistribution(tuple(range(10))) for i in range(40)}

    def first_wave(dedup: bool) -> list[dict[str, Any]]:
        study = optuna.create_study(sampler=AgingEvolutionSampler(dedup=dedup, seed=3))
        params = [study.ask(space).params for _ in range(20)]
        # With dedup, every trial after the first was drawn whole, over the running space.
        drawn_whole = [PROPOSAL_KEY in t.system_attrs for t in study.trials]
        assert drawn_whole == [False] + [dedup] * 19
        return params

    assert first_wave(True) == first_wave(False)


def test_only_the_first_trial_to_suggest_is_drawn_parameter_by_parameter() -> None:
    study = optuna.create_study(sampler=AgingEvolutionSampler(seed=0))
    trials = [study.ask() for _ in range(3)]
    # Optuna draws a trial's proposal at its first suggestion: trial 0 sees no parameters
    # suggested, trials 1 and 2 see the running trials' space, none finished yet.
    for trial in trials:
        trial.suggest_int("x", 0, 100)
    for trial in trials:
        study.tell(trial, 0.0)
    assert all(t.system_attrs[MUTATION_KEY] == "random" for t in study.trials)
    proposals = [t.system_attrs.get(PROPOSAL_KEY) for t in study.trials]
    assert proposals == [
        None,
        {"x": study.trials[1].params["x"]},
        {"x": study.trials[2].params["x"]},
    ]


def test_aging_false_drops_the_worst_and_aging_drops_the_oldest() -> None:
    def run(aging: bool) -> list[int]:
        sampler = AgingEvolutionSampler(
            population_size=3,
            sample_size=3,
            n_startup_trials=3,
            aging=aging,
            reevaluation_probability=0.0,
            seed=0,
        )
        study = optuna.create_study(direction="maximize", sampler=sampler)
        parents = []
        for number in range(12):
            trial = study.ask()
            trial.suggest_float("x", 0, 1)
            parents.append(study._storage.get_trial(trial._trial_id).system_attrs[PARENT_KEY])
            # Trial 0 is the best ever; every later value is worse than all before it.
            study.tell(trial, 100.0 if number == 0 else -float(number))
        return parents

    aging_parents, non_aging_parents = run(True), run(False)
    # S = P: the parent is the population's best. Non-aging keeps the all-time best, trial 0.
    assert non_aging_parents[3:] == [0] * 9
    # Aging: trial 0 leaves after 3 newer completions; the best of the last 3 is the oldest.
    assert aging_parents[3:] == [0, 1, 2, 3, 4, 5, 6, 7, 8]


def test_failed_and_pruned_trials_never_become_parents_by_default() -> None:
    def objective(trial: optuna.Trial) -> float:
        value = nasnet_objective(trial)
        if trial.number % 3 == 1:
            raise RuntimeError("simulated crash")
        if trial.number % 3 == 2:
            trial.report(value + 100, step=0)
            raise optuna.TrialPruned()
        return value

    sampler = AgingEvolutionSampler(population_size=4, sample_size=4, seed=5)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective, n_trials=60, catch=(RuntimeError,))
    children = evolved(study)
    assert children
    trials = study.get_trials(deepcopy=False)
    assert all(trials[c.system_attrs[PARENT_KEY]].state == TrialState.COMPLETE for c in children)


def test_include_pruned_uses_the_last_reported_value() -> None:
    def objective(trial: optuna.Trial) -> float:
        value = nasnet_objective(trial)
        if trial.number % 2 == 1:
            trial.report(value - 50, step=0)
            trial.report(value + 50, step=1)  # the last report is the one that counts
            raise optuna.TrialPruned()
        return value

    sampler = AgingEvolutionSampler(
        population_size=4,
        sample_size=4,
        include_pruned=True,
        reevaluation_probability=0.0,  # a repeat completes with an even number: no +50
        seed=6,
    )
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective, n_trials=40)
    trials = study.get_trials(deepcopy=False)
    parents = [trials[c.system_attrs[PARENT_KEY]] for c in evolved(study)]
    # With S = P and +50 on pruned trials, the winner is always a pruned trial.
    assert parents and all(p.state == TrialState.PRUNED for p in parents)


def test_resume_with_a_new_sampler_instance_continues_the_evolution(tmp_path: Any) -> None:
    storage = f"sqlite:///{tmp_path / 'resume.db'}"
    population_size = 5
    first = optuna.create_study(
        study_name="s",
        storage=storage,
        direction="maximize",
        sampler=AgingEvolutionSampler(population_size=population_size, sample_size=2, seed=7),
    )
    first.optimize(nasnet_objective, n_trials=12)
    resumed = optuna.load_study(
        study_name="s",
        storage=storage,
        sampler=AgingEvolutionSampler(population_size=population_size, sample_size=2, seed=8),
    )
    resumed.optimize(nasnet_objective, n_trials=1)
    child = resumed.trials[-1]
    assert child.system_attrs[MUTATION_KEY] in {"hidden_state", "op"}
    assert child.system_attrs[PARENT_KEY] in {t.number for t in first.trials[-population_size:]}


def test_threads_n_jobs_4_share_one_population() -> None:
    def objective(trial: optuna.Trial) -> float:
        # Sampling happens at the first suggest, between these two timestamps.
        trial.set_user_attr("before_sampling", datetime.datetime.now().isoformat())
        value = nasnet_objective(trial)
        trial.set_user_attr("after_sampling", datetime.datetime.now().isoformat())
        return value

    population_size = 6
    sampler = AgingEvolutionSampler(population_size=population_size, sample_size=3, seed=9)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective, n_trials=80, n_jobs=4)
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == 80 and all(t.state == TrialState.COMPLETE for t in trials)
    assert all(MUTATION_KEY in t.system_attrs for t in trials)
    children = evolved(study)
    assert len(children) > 50
    for child in children:
        before = datetime.datetime.fromisoformat(child.user_attrs["before_sampling"])
        after = datetime.datetime.fromisoformat(child.user_attrs["after_sampling"])
        completed = sorted(
            (
                t
                for t in trials
                if t.datetime_complete is not None
                and t.system_attrs[MUTATION_KEY] != "reevaluation"
            ),
            key=lambda t: t.datetime_complete,
        )
        # The population at sampling time is within the last P completed before `before`
        # plus whatever completed while this trial was sampling.
        allowed = [t for t in completed if t.datetime_complete <= before][-population_size:]
        allowed += [t for t in completed if before < t.datetime_complete <= after]
        assert child.system_attrs[PARENT_KEY] in {t.number for t in allowed}
    # Dedup holds across threads; re-evaluations repeat a member on purpose.
    keys = [
        tuple(sorted(t.params.items()))
        for t in children
        if t.system_attrs[MUTATION_KEY] != "reevaluation"
    ]
    assert len(set(keys)) == len(keys)


def test_lineage_records_random_enqueued_and_mutations() -> None:
    sampler = AgingEvolutionSampler(population_size=3, sample_size=2, seed=10)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.enqueue_trial(nasnet.AMOEBANET_A.to_params())
    study.optimize(nasnet_objective, n_trials=10)
    attrs = [(t.system_attrs[PARENT_KEY], t.system_attrs[MUTATION_KEY]) for t in study.trials]
    assert attrs[0] == (None, "enqueued")
    assert attrs[1:3] == [(None, "random"), (None, "random")]
    assert all(
        (parent is None and kind == "tpe")
        or (parent is not None and kind in {"hidden_state", "op", "reevaluation"})
        for parent, kind in attrs[3:]
    )


def test_same_seed_same_trials_and_reseed_changes_them() -> None:
    def params(seed: int, reseed: bool = False) -> list[dict[str, Any]]:
        sampler = AgingEvolutionSampler(population_size=5, sample_size=2, seed=seed)
        if reseed:
            sampler.reseed_rng()
        study = optuna.create_study(direction="maximize", sampler=sampler)
        study.optimize(nasnet_objective, n_trials=30)
        return [t.params for t in study.trials]

    assert params(11) == params(11)
    assert params(11) != params(12)
    assert params(11) != params(11, reseed=True)


def test_define_by_run_branches_are_sampled_at_random() -> None:
    def objective(trial: optuna.Trial) -> float:
        kind = trial.suggest_categorical("kind", ["small", "large"])
        if kind == "small":
            return trial.suggest_float("small_x", 0, 1)
        return trial.suggest_int("large_n", 1, 100, log=True) / 100

    sampler = AgingEvolutionSampler(population_size=4, sample_size=2, dedup=False, seed=12)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective, n_trials=60)
    assert len(study.trials) == 60
    assert {t.params["kind"] for t in study.trials} == {"small", "large"}
    # Every member has a branch parameter outside the common space {kind}, so none can be
    # repeated exactly, and none is "re-evaluated" with its branch redrawn.
    assert "reevaluation" not in {t.system_attrs[MUTATION_KEY] for t in study.trials}


def test_multi_objective_tournament_prefers_the_pareto_front() -> None:
    sampler = AgingEvolutionSampler(population_size=6, sample_size=6, n_startup_trials=6, seed=13)
    study = optuna.create_study(directions=["minimize", "maximize"], sampler=sampler)
    values = [(5, 0), (1, 9), (6, 1), (7, 2), (8, 3), (9, 4)]  # trial 1 dominates all others
    for first, second in values:
        trial = study.ask()
        trial.suggest_float("x", 0, 1)
        study.tell(trial, (first, second))
    child = study.ask()
    child.suggest_float("x", 0, 1)
    assert study._storage.get_trial(child._trial_id).system_attrs[PARENT_KEY] == 1


def test_non_aging_is_refused_for_multi_objective_studies_at_first_ask() -> None:
    study = optuna.create_study(
        directions=["minimize", "minimize"], sampler=AgingEvolutionSampler(aging=False)
    )
    with pytest.raises(ValueError, match=r"aging=False .* single-objective"):
        study.optimize(lambda t: (t.suggest_float("x", 0, 1), 0.0), n_trials=1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"population_size": 0}, r"population_size must be an int >= 1, got 0"),
        ({"population_size": 2.5}, r"population_size must be an int >= 1, got 2.5"),
        ({"sample_size": 0}, r"sample_size must be an int in \[1, 50\], got 0"),
        ({"population_size": 10, "sample_size": 11}, r"sample_size .* \[1, 10\], got 11"),
        ({"identity_probability": -0.1}, r"identity_probability .* \[0, 1\], got -0.1"),
        ({"hidden_state_probability": 1.5}, r"hidden_state_probability .* \[0, 1\], got 1.5"),
        ({"reevaluation_probability": 1.5}, r"reevaluation_probability .* \[0, 1\], got 1.5"),
        ({"tpe_probability": -0.5}, r"tpe_probability .* \[0, 1\], got -0.5"),
        ({"max_dedup_retries": -1}, r"max_dedup_retries must be an int >= 0, got -1"),
        ({"mutation_candidates": 0}, r"mutation_candidates must be an int >= 1, got 0"),
        ({"mutation_candidates": True}, r"mutation_candidates must be an int >= 1, got True"),
        ({"n_startup_trials": 0}, r"n_startup_trials must be None or an int in \[1, 50\], got 0"),
        ({"n_startup_trials": 51}, r"n_startup_trials .* \[1, 50\], got 51"),
        ({"aging": "yes"}, r"aging must be True or False, got 'yes'"),
        ({"seed": -1}, r"seed must be None or an int in \[0, 4294967295\], got -1"),
    ],
)
def test_bad_arguments_raise_value_errors_naming_them(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        AgingEvolutionSampler(**kwargs)


def test_constructor_arguments_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        AgingEvolutionSampler(10)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("options", "in_tpe_phase"),
    [({"population_size": 4, "sample_size": 2}, False), ({"tpe_probability": 1.0}, True)],
    ids=["evolution", "tpe-phase"],
)
def test_pickled_sampler_continues_with_the_same_random_stream(
    options: dict[str, Any], in_tpe_phase: bool
) -> None:
    sampler = AgingEvolutionSampler(**options, seed=14)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(nasnet_objective, n_trials=12)
    restored = pickle.loads(pickle.dumps(sampler))
    copy = optuna.create_study(direction="maximize", sampler=restored)
    copy.add_trials(study.get_trials())
    study.optimize(nasnet_objective, n_trials=5)
    copy.optimize(nasnet_objective, n_trials=5)
    kinds = {t.system_attrs[MUTATION_KEY] for t in study.trials[12:]}
    assert (kinds == {"tpe"}) == in_tpe_phase
    assert [t.params for t in study.trials[12:]] == [t.params for t in copy.trials[12:]]


def noisy_objective(seed: int) -> Any:
    noise = np.random.RandomState(seed)

    def objective(trial: optuna.Trial) -> float:
        return nasnet_objective(trial) + float(noise.normal(0.0, 1.0))

    return objective


def tracker_of(study: optuna.Study, trials: list[FrozenTrial]) -> PopulationTracker:
    """The population ``study``'s sampler (aging) forms from ``trials``."""
    sampler = study.sampler
    assert isinstance(sampler, AgingEvolutionSampler)
    tracker = PopulationTracker(
        population_size=sampler.population_size,
        aging=True,
        include_pruned=False,
        directions=tuple(study.directions),
    )
    tracker.update(trials)
    return tracker


def unconfirmed_leader_before(study: optuna.Study, child: FrozenTrial) -> dict[str, Any] | None:
    """The leader the sampler had to confirm when ``child`` was asked (trials told in order)."""
    tracker = tracker_of(study, study.get_trials(deepcopy=False)[: child.number])
    leader = unconfirmed_leader(tracker, study.direction, running=set())
    return None if leader is None else leader.params


def test_noisy_objective_confirms_new_leaders_then_reevaluates_at_the_set_rate() -> None:
    population_size = 10
    sampler = AgingEvolutionSampler(
        population_size=population_size, sample_size=5, reevaluation_probability=0.3, seed=15
    )
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(noisy_objective(0), n_trials=300)
    trials = study.get_trials(deepcopy=False)
    children = evolved(study)
    leaders = [(child, unconfirmed_leader_before(study, child)) for child in children]
    confirmations = [child for child, leader in leaders if leader is not None]
    # A set that takes the lead on one evaluation is evaluated again at the next ask.
    assert 5 < len(confirmations) < len(children) / 3
    for child, leader in leaders:
        if leader is not None:
            assert child.system_attrs[MUTATION_KEY] == "reevaluation" and child.params == leader
    # The other evolved trials re-evaluate at the set rate.
    others = [child for child, leader in leaders if leader is None]
    repeats = [t for t in others if t.system_attrs[MUTATION_KEY] == "reevaluation"]
    assert 0.2 < len(repeats) / len(others) < 0.4
    for repeat in repeats + confirmations:
        parent = trials[repeat.system_attrs[PARENT_KEY]]
        assert repeat.params == parent.params
        population = eligible_before(trials, repeat)[-population_size:]
        assert parent.number in {t.number for t in population}
    # Children stay new: dedup still applies to everything but re-evaluations.
    keys = [
        tuple(sorted(t.params.items()))
        for t in children
        if t.system_attrs[MUTATION_KEY] != "reevaluation"
    ]
    assert len(set(keys)) == len(keys)


def test_reevaluation_stops_on_a_deterministic_objective() -> None:
    sampler = AgingEvolutionSampler(
        population_size=10,
        sample_size=5,
        reevaluation_probability=1.0,
        tpe_probability=0.0,
        seed=16,
    )
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(nasnet_objective, n_trials=60)
    kinds = [t.system_attrs[MUTATION_KEY] for t in study.trials]
    # Two repeats that reproduce their first value exactly show the objective is deterministic.
    assert kinds.count("reevaluation") == 2
    assert kinds[10:12] == ["reevaluation", "reevaluation"]


def test_reevaluation_and_tpe_probability_zero_is_the_paper_algorithm() -> None:
    sampler = AgingEvolutionSampler(
        population_size=10,
        sample_size=5,
        reevaluation_probability=0.0,
        tpe_probability=0.0,
        seed=17,
    )
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(noisy_objective(1), n_trials=100)
    kinds = {t.system_attrs[MUTATION_KEY] for t in study.trials}
    assert kinds == {"random", "hidden_state", "op"}
    assert len({tuple(sorted(t.params.items())) for t in study.trials}) == 100


def test_multi_objective_studies_are_neither_reevaluated_nor_proposed_by_tpe() -> None:
    sampler = AgingEvolutionSampler(
        population_size=6,
        sample_size=3,
        reevaluation_probability=1.0,
        tpe_probability=1.0,
        seed=18,
    )
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    noise = np.random.RandomState(2)
    study.optimize(lambda t: (nasnet_objective(t), float(noise.normal())), n_trials=40)
    kinds = {t.system_attrs[MUTATION_KEY] for t in study.trials}
    assert kinds == {"random", "hidden_state", "op"}


def tell_fixed(study: optuna.Study, x: str, value: float) -> None:
    trial = study.ask({"x": CategoricalDistribution(("a", "b", "c", "d"))})
    assert trial.params["x"] == x
    study.tell(trial, value)


def study_with_values(direction: str, values: list[tuple[str, float]]) -> optuna.Study:
    study = optuna.create_study(
        direction=direction,
        sampler=AgingEvolutionSampler(
            population_size=10, sample_size=10, n_startup_trials=1, seed=19
        ),
    )
    for x, value in values:
        study.enqueue_trial({"x": x})
        tell_fixed(study, x, value)
    return study


def measured_study(direction: str) -> optuna.Study:
    """ "a" is well measured (mean 1.0, noise 0.163); "b" was seen once, a little lower; "c" is
    far worse (values negated for ``minimize``)."""
    sign = 1.0 if direction == "maximize" else -1.0
    values = [("a", 1.2), ("a", 0.8), ("a", 1.0), ("a", 1.0), ("b", 0.95), ("c", 0.5)]
    return study_with_values(direction, [(x, sign * value) for x, value in values])


def test_tournament_compares_members_by_the_mean_of_their_evaluations() -> None:
    # "a" had one lucky evaluation (10) and two poor ones: mean 10/3 < 5, "b"'s single value.
    study = study_with_values("maximize", [("a", 10.0), ("b", 5.0), ("a", 0.0), ("a", 0.0)])
    sampler = study.sampler
    assert isinstance(sampler, AgingEvolutionSampler)
    sampler._reevaluation_probability = 0.0  # the tournament alone, S = P
    trial = study.ask({"x": CategoricalDistribution(("a", "b", "c", "d"))})
    assert study._storage.get_trial(trial._trial_id).system_attrs[PARENT_KEY] == 1


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_reevaluation_target_is_the_best_upper_confidence_bound(direction: str) -> None:
    from optuna_amoeba._reevaluation import reevaluation_target

    study = measured_study(direction)
    tracker = tracker_of(study, study.get_trials(deepcopy=False))
    repeats = np.array([1.2, 0.8, 1.0, 1.0])
    assert tracker.noise_std == pytest.approx(np.sqrt(((repeats - 1.0) ** 2).sum() / 3))
    assert tracker.differing_repeats == 3 and tracker.identical_repeats == 0
    # Upper bounds: a = 1.0 + 0.163 / 2 = 1.08 < b = 0.95 + 0.163 = 1.11.
    target = reevaluation_target(tracker, study.direction, running={})
    assert target is not None and target.params == {"x": "b"}
    # One evaluation of b running: b may be evaluated a second time at once; two: passed over.
    running = {params_key({"x": "b"}): 1, params_key({"x": "a"}): 0}
    target = reevaluation_target(tracker, study.direction, running=running)
    assert target is not None and target.params == {"x": "b"}
    running[params_key({"x": "b"})] = 2
    target = reevaluation_target(tracker, study.direction, running=running)
    assert target is not None and target.params == {"x": "a"} and target.number == 3


def test_concurrent_workers_evaluate_one_set_at_most_twice_at_once() -> None:
    study = measured_study("maximize")
    sampler = study.sampler
    assert isinstance(sampler, AgingEvolutionSampler)
    sampler._reevaluation_probability = 1.0
    sampler._tpe_probability = 0.0
    space = {"x": CategoricalDistribution(("a", "b", "c", "d"))}
    # b has the best upper bound (test above); the trials stay running, as on K workers.
    running = [study.ask(space) for _ in range(4)]
    assert [trial.params["x"] for trial in running] == ["b", "b", "a", "a"]
    tracker = tracker_of(study, study.get_trials(deepcopy=False))
    counts = tracker.running_counts(study.get_trials(deepcopy=False), running[3].number)
    assert counts == {params_key({"x": "b"}): 2, params_key({"x": "a"}): 1}


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_unconfirmed_leader_is_the_best_lower_bound_on_one_evaluation(direction: str) -> None:
    sign = 1.0 if direction == "maximize" else -1.0
    study = measured_study(direction)
    tracker = tracker_of(study, study.get_trials(deepcopy=False))
    # Lower bounds (noise 0.163): a = 1.0 - 0.163 / 2 = 0.92 leads b = 0.95 - 0.163 = 0.79,
    # and a has four evaluations: nothing to confirm.
    assert unconfirmed_leader(tracker, study.direction, running=set()) is None
    study.enqueue_trial({"x": "d"})
    tell_fixed(study, "d", sign * 1.1)
    tracker.update(study.get_trials(deepcopy=False))
    # d = 1.1 - 0.163 = 0.94 leads on one evaluation, unless it is being evaluated already.
    leader = unconfirmed_leader(tracker, study.direction, running=set())
    assert leader is not None and leader.params == {"x": "d"}
    assert unconfirmed_leader(tracker, study.direction, running={params_key({"x": "d"})}) is None
    study.enqueue_trial({"x": "d"})
    tell_fixed(study, "d", sign * 1.1)
    tracker.update(study.get_trials(deepcopy=False))
    assert unconfirmed_leader(tracker, study.direction, running=set()) is None


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_rank_by_mean_groups_repeats_and_orders_by_direction(direction: str) -> None:
    from optuna_amoeba import rank_by_mean

    sign = 1.0 if direction == "maximize" else -1.0
    values = [("a", 9.0), ("b", 6.0), ("a", 1.0), ("c", 4.0), ("a", 2.0)]
    study = study_with_values(direction, [(x, sign * value) for x, value in values])
    failed = study.ask()
    study.tell(failed, state=TrialState.FAIL)
    ranked = rank_by_mean(study)
    # "a" had the best single value (9) but its mean is 4: "b" leads, then "a" ties "c"
    # on 4 and keeps its first-seen place (the sort is stable).
    assert [(e.params["x"], e.count) for e in ranked] == [("b", 1), ("a", 3), ("c", 1)]
    assert ranked[1].mean == pytest.approx(sign * 4.0)
    assert ranked[1].trial_numbers == (0, 2, 4)
    assert ranked[1].std_error == pytest.approx(np.std([9.0, 1.0, 2.0], ddof=1) / np.sqrt(3))
    assert np.isnan(ranked[0].std_error)
    assert [e.params["x"] for e in rank_by_mean(study, min_evaluations=2)] == ["a"]


def test_rank_by_mean_rejects_bad_input() -> None:
    from optuna_amoeba import rank_by_mean

    with pytest.raises(ValueError, match=r"min_evaluations must be an int >= 1, got 0"):
        rank_by_mean(optuna.create_study(), min_evaluations=0)
    with pytest.raises(ValueError, match=r"single-objective study; .* has 2 objectives"):
        rank_by_mean(optuna.create_study(directions=["minimize", "maximize"]))


def test_rank_trials_takes_a_direction_by_name_and_checks_min_evaluations() -> None:
    from optuna.study import StudyDirection

    from optuna_amoeba import rank_trials

    study = study_with_values("maximize", [("a", 9.0), ("b", 6.0), ("a", 1.0)])
    trials = study.get_trials(states=(TrialState.COMPLETE,))
    by_enum = rank_trials(trials, StudyDirection.MAXIMIZE, by="mean")
    assert [e.params["x"] for e in rank_trials(trials, "maximize", by="mean")] == ["b", "a"]
    assert [e.params["x"] for e in by_enum] == ["b", "a"]
    assert [e.params["x"] for e in rank_trials(trials, "minimize", by="mean")] == ["a", "b"]
    assert [e.params["x"] for e in rank_trials(trials, "maximize", min_evaluations=2)] == ["a"]
    for bad in (0, 1.5, "2", True):
        with pytest.raises(ValueError, match=r"min_evaluations must be an int >= 1, got"):
            rank_trials(trials, "maximize", min_evaluations=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"direction must be"):
        rank_trials(trials, "up")
