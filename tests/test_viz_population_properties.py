"""The replayed population agrees with the sampler's PopulationTracker on random studies.

The expected population after each trial is what a fresh tracker builds from the study as it
stood then (later trials still running), the way another process or a resumed run sees it.
"""

from __future__ import annotations

import copy
import datetime
import math

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
import optuna
from optuna.distributions import CategoricalDistribution
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_amoeba._population import PopulationTracker
from optuna_amoeba.visualization._history import population_history
from optuna_amoeba.visualization._history import value_function


optuna.logging.set_verbosity(optuna.logging.WARNING)
CHOICE = CategoricalDistribution((0, 1, 2))
START = datetime.datetime(2026, 1, 1)
FAIL = TrialState.FAIL


@st.composite
def studies(draw: st.DrawFn, num_objectives: int) -> optuna.Study:
    """Trials finishing in random order (ties too), some pruned or failed, params repeating."""
    directions = draw(
        st.lists(st.sampled_from(["minimize", "maximize"]), min_size=num_objectives,
                 max_size=num_objectives)
    )  # fmt: skip
    study = optuna.create_study(directions=directions)
    values = st.floats(-10, 10, allow_nan=False).map(lambda value: round(value, 1))
    for _ in range(draw(st.integers(1, 25))):
        state = draw(
            st.sampled_from([TrialState.COMPLETE] * 3 + [TrialState.PRUNED, TrialState.FAIL])
        )
        trial = optuna.trial.create_trial(
            state=state,
            params={"x": draw(st.sampled_from(CHOICE.choices))},
            distributions={"x": CHOICE},
            values=[draw(values) for _ in directions] if state == TrialState.COMPLETE else None,
            intermediate_values=(
                {step: draw(values) for step in range(draw(st.integers(0, 2)))}
                if state == TrialState.PRUNED
                else None
            ),
        )
        trial.datetime_complete = START + datetime.timedelta(seconds=draw(st.integers(0, 30)))
        study.add_trial(trial)
    return study


def _completion_key(trial: FrozenTrial) -> tuple[datetime.datetime, int]:
    assert trial.datetime_complete is not None
    return trial.datetime_complete, trial.number


def _as_running(trial: FrozenTrial) -> FrozenTrial:
    running = copy.copy(trial)
    running.state = TrialState.RUNNING
    running.datetime_complete = None
    return running


def assert_history_agrees_with_tracker(
    study: optuna.Study, population_size: int, aging: bool, include_pruned: bool
) -> None:
    value_of, _ = value_function(study, None, "value")
    history = population_history(
        study,
        population_size=population_size,
        aging=aging,
        target=value_of,
        include_pruned=include_pruned,
    )
    trials = study.get_trials(deepcopy=False)
    expected = []
    num_eligible = 0
    for trial in sorted(trials, key=_completion_key):
        snapshot = [
            other if _completion_key(other) <= _completion_key(trial) else _as_running(other)
            for other in trials
        ]
        tracker = PopulationTracker(
            population_size=population_size,
            aging=aging,
            include_pruned=include_pruned,
            directions=tuple(study.directions),
        )
        tracker.update(snapshot)
        if tracker.num_eligible == num_eligible:
            continue  # the trial could not enter the population
        num_eligible = tracker.num_eligible
        members = tracker.members
        values = [value_of(trials[m.number]) for m in members]
        values = [value for value in values if not math.isnan(value)]
        if values:
            maximize = study.directions[0] == optuna.study.StudyDirection.MAXIMIZE
            best = max(values) if maximize else min(values)
            expected.append((trial.number, best, sum(values) / len(values), len(members)))
    actual = [(point.trial.number, point.best, point.mean, point.size) for point in history]
    assert [row[0] for row in actual] == [row[0] for row in expected]
    for got, want in zip(actual, expected, strict=True):
        assert got[1] == want[1] and got[3] == want[3]
        assert math.isclose(got[2], want[2], rel_tol=1e-9, abs_tol=1e-12)


@settings(max_examples=60, deadline=None)
@given(studies(num_objectives=1), st.integers(1, 6), st.booleans(), st.booleans())
def test_single_objective_population_agrees_with_the_tracker(
    study: optuna.Study, population_size: int, aging: bool, include_pruned: bool
) -> None:
    assert_history_agrees_with_tracker(study, population_size, aging, include_pruned)


@settings(max_examples=40, deadline=None)
@given(studies(num_objectives=2), st.integers(1, 6))
def test_multi_objective_aging_population_agrees_with_the_tracker(
    study: optuna.Study, population_size: int
) -> None:
    # The sampler allows only aging and no pruned members with several objectives.
    assert_history_agrees_with_tracker(study, population_size, aging=True, include_pruned=False)
