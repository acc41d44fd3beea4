"""The history of an evolution read back from a study: lineages, changes and populations.

Shared by the matplotlib figures and the optuna-dashboard graph. Lineage comes from the
system attrs the sampler writes on every trial it proposes (``amoeba:parent``,
``amoeba:mutation``); the population over time is replayed by the sampler's own
:class:`~optuna_amoeba._population.PopulationTracker`.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
import math
import numbers
from typing import Any

import optuna
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_amoeba import nasnet
from optuna_amoeba._checks import check_bool
from optuna_amoeba._checks import check_int
from optuna_amoeba._population import check_aging
from optuna_amoeba._population import PopulationTracker
from optuna_amoeba._sampler import AgingEvolutionSampler
from optuna_amoeba._sampler import MUTATION_KEY
from optuna_amoeba._sampler import PARENT_KEY
from optuna_amoeba._sampler import REEVALUATION
from optuna_amoeba.nasnet._genotype import parse_param_name


Target = Callable[[FrozenTrial], float]

UNKNOWN_MUTATION = "unknown"
"""The mutation shown for a trial the sampler did not propose (no ``amoeba:mutation``)."""


def value_function(
    study: optuna.Study, target: Target | None, target_name: str
) -> tuple[Target, str]:
    """The value drawn per trial and its label: ``target`` labelled ``target_name``, else the
    objective value; a multi-objective study's first, labelled
    ``"{target_name} (objective 0)"``. A trial without values (running, failed, pruned) is NaN
    and is not passed to ``target``; ``target`` must return a number (``ValueError``)."""
    if not isinstance(target_name, str):
        raise ValueError(f"target_name must be a str, got {target_name!r}")
    if target is not None:
        if not callable(target):
            raise ValueError(f"target must be a function of a FrozenTrial, got {target!r}")
        user_target = target

        def checked(trial: FrozenTrial) -> float:
            if trial.values is None:
                return math.nan
            value = user_target(trial)
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise ValueError(
                    f"target must return a number, got {value!r} for trial {trial.number}"
                )
            return float(value)

        return checked, target_name

    def first_objective(trial: FrozenTrial) -> float:
        return math.nan if trial.values is None else float(trial.values[0])

    if len(study.directions) > 1:
        return first_objective, f"{target_name} (objective 0)"
    return first_objective, target_name


def mutation_of(trial: FrozenTrial) -> str:
    """The mutation that produced ``trial``, as the sampler recorded it."""
    return str(trial.system_attrs.get(MUTATION_KEY, UNKNOWN_MUTATION))


def group_by_mutation(trials: Iterable[FrozenTrial]) -> dict[str, list[FrozenTrial]]:
    """``trials`` by the mutation that produced them, in order of first appearance."""
    groups: dict[str, list[FrozenTrial]] = {}
    for trial in trials:
        groups.setdefault(mutation_of(trial), []).append(trial)
    return groups


def genotype_of(trial: FrozenTrial) -> nasnet.Genotype:
    """The genotype ``trial``'s parameters encode, checked against the operations its
    distributions allow; ``ValueError`` if they encode none."""
    space = nasnet.NASNetSpace.detect(trial.distributions)
    operations = nasnet.OPERATIONS if space is None else space.operations
    return nasnet.Genotype.from_params(trial.params, operations=operations)


def study_trials(
    study: optuna.Study, trials: Sequence[FrozenTrial] | None
) -> Sequence[FrozenTrial]:
    """``trials``, the study's trials as the caller read them (every state, in number order),
    or else a read of the study now: one read can serve a whole refresh."""
    return study.get_trials(deepcopy=False) if trials is None else trials


def resolve_trial(
    study: optuna.Study,
    trial: FrozenTrial | int,
    trials: Sequence[FrozenTrial] | None = None,
) -> FrozenTrial:
    """``trial`` as stored: found in ``trials`` (the study's, every state, as the caller read
    them) or else in a read of the study now."""
    trials = study_trials(study, trials)
    number = trial.number if isinstance(trial, FrozenTrial) else trial
    if (
        isinstance(number, bool)
        or not isinstance(number, numbers.Integral)
        or not 0 <= number < len(trials)
        or (isinstance(trial, FrozenTrial) and not _same_trial(trial, trials[number]))
    ):
        raise ValueError(
            f"trial must be a trial of study {study.study_name!r} or its number in "
            f"[0, {len(trials) - 1}], got {trial!r}"
        )
    return trials[int(number)]


def _same_trial(given: FrozenTrial, stored: FrozenTrial) -> bool:
    # Trial ids are unique within one storage only; two in-memory studies share them.
    return (given._trial_id, given.datetime_start) == (stored._trial_id, stored.datetime_start)


@dataclass(frozen=True)
class Step:
    """One trial of a lineage and how it differs from its parent."""

    trial: FrozenTrial
    mutation: str
    change: str


def lineage(
    study: optuna.Study,
    trial: FrozenTrial | int,
    trials: Sequence[FrozenTrial] | None = None,
) -> list[Step]:
    """The chain from the founder (first) to ``trial`` (last), following ``amoeba:parent``
    through ``trials`` (the study's, every state, as the caller read them; default: read now)."""
    trials = study_trials(study, trials)
    current: FrozenTrial | None = resolve_trial(study, trial, trials)
    chain: list[FrozenTrial] = []
    seen: set[int] = set()
    while current is not None and current.number not in seen:
        seen.add(current.number)
        chain.append(current)
        parent = current.system_attrs.get(PARENT_KEY)
        current = trials[parent] if isinstance(parent, int) and 0 <= parent < len(trials) else None
    chain.reverse()
    steps = []
    for index, member in enumerate(chain):
        change = describe_change(chain[index - 1].params, member.params) if index else ""
        steps.append(Step(trial=member, mutation=mutation_of(member), change=change))
    return steps


def describe_descent(steps: Sequence[Step]) -> str:
    """``3 mutations from founder trial 0``, counting re-evaluations apart."""
    repeats = sum(step.mutation == REEVALUATION for step in steps[1:])
    mutations = len(steps) - 1 - repeats
    text = f"{mutations} mutation{'' if mutations == 1 else 's'}"
    if repeats:
        text += f" and {repeats} re-evaluation{'' if repeats == 1 else 's'}"
    return f"{text} from founder trial {steps[0].trial.number}"


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _param_label(name: str) -> str:
    parsed = parse_param_name(name)
    if parsed is None:
        return name
    return f"{parsed.cell_type} b{parsed.block} {parsed.kind} {parsed.slot}"


def describe_change(parent: dict[str, Any], child: dict[str, Any]) -> str:
    """What a mutation changed, e.g. ``normal b2 op a: sep_conv_3x3 → identity``."""
    parts = []
    for name in sorted(parent.keys() | child.keys()):
        if name not in child:
            parts.append(f"−{_param_label(name)}")
        elif name not in parent:
            parts.append(f"+{_param_label(name)}={_format_value(child[name])}")
        elif parent[name] != child[name]:
            old, new = _format_value(parent[name]), _format_value(child[name])
            parsed = parse_param_name(name)
            if parsed is not None and parsed.kind == "input":
                old, new = f"h{old}", f"h{new}"
            parts.append(f"{_param_label(name)}: {old} → {new}")
    return "; ".join(parts) if parts else "no change"


def population_settings(
    study: optuna.Study, population_size: int | None, aging: bool | None
) -> tuple[int, bool]:
    """Explicit settings, else the study's sampler's, else :class:`AgingEvolutionSampler`'s
    defaults."""
    sampler = study.sampler
    if not isinstance(sampler, AgingEvolutionSampler):
        sampler = AgingEvolutionSampler()
    if population_size is None:
        population_size = sampler.population_size
    if aging is None:
        aging = sampler.aging
    aging = check_bool("aging", aging)
    check_aging(aging, len(study.directions))
    return check_int("population_size", population_size, 1), aging


@dataclass(frozen=True)
class PopulationPoint:
    """The population right after ``trial`` finished and was offered to it."""

    trial: FrozenTrial
    best: float
    mean: float
    size: int


_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def population_history(
    study: optuna.Study,
    *,
    population_size: int,
    aging: bool,
    target: Target,
    include_pruned: bool = False,
    trials: Sequence[FrozenTrial] | None = None,
) -> list[PopulationPoint]:
    """The population after each trial that could enter it, as the sampler saw it.

    The finished trials (of ``trials``, the study's as the caller read them, or else of a read
    of the study now) are fed in completion order to the sampler's own
    :class:`PopulationTracker`, so the members are exactly those the sampler would draw its
    tournaments from at that moment. ``best`` and ``mean`` are of ``target`` over the members
    (members whose ``target`` is not finite, NaN or infinite, are left out of both; a point
    with none is skipped).
    """
    maximize = study.directions[0] == optuna.study.StudyDirection.MAXIMIZE
    trials = study_trials(study, trials)
    finished = sorted(
        (
            trial
            for trial in trials
            if trial.state in _FINISHED and trial.datetime_complete is not None
        ),
        key=lambda trial: (trial.datetime_complete, trial.number),
    )
    by_number = {trial.number: trial for trial in finished}
    tracker = PopulationTracker(
        population_size=population_size,
        aging=aging,
        include_pruned=include_pruned,
        directions=tuple(study.directions),
    )
    seen: list[FrozenTrial] = []
    history = []
    for trial in finished:
        seen.append(trial)
        num_eligible = tracker.num_eligible
        tracker.update(seen)
        if tracker.num_eligible == num_eligible:
            continue
        members = tracker.members
        values = [
            value for member in members if math.isfinite(value := target(by_number[member.number]))
        ]
        if values:
            history.append(
                PopulationPoint(
                    trial=trial,
                    best=max(values) if maximize else min(values),
                    mean=sum(values) / len(values),
                    size=len(members),
                )
            )
    return history


def trial_title(study: optuna.Study, number: int, values: Sequence[float] | None) -> str:
    """The title of a trial's picture; it names the trial so a file can be traced back."""
    text = f"study {study.study_name!r} · trial {number}"
    if values:
        text += " · value " + ", ".join(f"{value:.6g}" for value in values)
    return text
