"""The history of an evolution read back from a study: lineages, changes and populations.

Shared by the matplotlib figures and the optuna-dashboard graph. Lineage comes from the
system attrs the sampler writes on every trial it proposes (``amoeba:parent``,
``amoeba:mutation``); the population over time is replayed with the sampler's own rule.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
import math
import re
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from optuna_amoeba._checks import check_bool
from optuna_amoeba._checks import check_int
from optuna_amoeba._population import competing_values
from optuna_amoeba._sampler import AgingEvolutionSampler
from optuna_amoeba._sampler import MUTATION_KEY
from optuna_amoeba._sampler import PARENT_KEY
from optuna_amoeba._sampler import REEVALUATION


Target = Callable[[FrozenTrial], float]

_NASNET_PARAM = re.compile(r"^(normal|reduction)_b(\d+)_(input|op)_(a|b)$")


def target_of(study: optuna.Study, target: Target | None) -> Target:
    """The value to plot per trial: ``target`` or the single objective (NaN if none)."""
    if target is not None:
        return target
    if len(study.directions) > 1:
        raise ValueError(
            f"study {study.study_name!r} has {len(study.directions)} objectives; pass "
            "target=lambda t: t.values[i] to choose the value to plot"
        )

    def single_value(trial: FrozenTrial) -> float:
        return float("nan") if trial.value is None else float(trial.value)

    return single_value


def resolve_trial(study: optuna.Study, trial: FrozenTrial | int) -> FrozenTrial:
    trials = study.get_trials(deepcopy=False)
    number = trial.number if isinstance(trial, FrozenTrial) else trial
    if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number < len(trials):
        raise ValueError(
            f"trial must be a trial of study {study.study_name!r} or its number in "
            f"[0, {len(trials) - 1}], got {trial!r}"
        )
    return trials[number]


@dataclass(frozen=True)
class Step:
    """One trial of a lineage and how it differs from its parent."""

    trial: FrozenTrial
    mutation: str
    change: str


def lineage(study: optuna.Study, trial: FrozenTrial | int) -> list[Step]:
    """The chain from the founder (first) to ``trial`` (last), following ``amoeba:parent``."""
    trials = study.get_trials(deepcopy=False)
    current: FrozenTrial | None = resolve_trial(study, trial)
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
        mutation = str(member.system_attrs.get(MUTATION_KEY, "unknown"))
        change = describe_change(chain[index - 1].params, member.params) if index else ""
        steps.append(Step(trial=member, mutation=mutation, change=change))
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
    match = _NASNET_PARAM.match(name)
    if match is None:
        return name
    cell_type, block, kind, slot = match.groups()
    return f"{cell_type} b{block} {kind} {slot}"


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
            if _NASNET_PARAM.match(name) and name.split("_")[2] == "input":
                old, new = f"h{old}", f"h{new}"
            parts.append(f"{_param_label(name)}: {old} → {new}")
    return "; ".join(parts) if parts else "no change"


def population_settings(
    study: optuna.Study, population_size: int | None, aging: bool | None
) -> tuple[int, bool]:
    """Explicit settings, else the study's sampler's, else the sampler's defaults."""
    sampler = study.sampler if isinstance(study.sampler, AgingEvolutionSampler) else None
    if population_size is None:
        population_size = (sampler or AgingEvolutionSampler()).population_size
    population_size = check_int("population_size", population_size, 1)
    if aging is None:
        aging = sampler.aging if sampler else True
    return population_size, check_bool("aging", aging)


@dataclass(frozen=True)
class PopulationPoint:
    """The population right after ``trial`` finished and entered it."""

    trial: FrozenTrial
    best: float
    mean: float
    size: int


def population_history(
    study: optuna.Study,
    *,
    population_size: int,
    aging: bool,
    target: Target,
    include_pruned: bool = False,
) -> list[PopulationPoint]:
    """Replay the population: oldest (aging) or worst (non-aging) member leaves each time."""
    maximize = study.directions[0] == optuna.study.StudyDirection.MAXIMIZE
    eligible = [
        trial
        for trial in study.get_trials(deepcopy=False)
        if trial.datetime_complete is not None
        and competing_values(trial, include_pruned) is not None
        and not math.isnan(target(trial))
    ]
    eligible.sort(key=lambda trial: (trial.datetime_complete, trial.number))
    population: list[tuple[float, FrozenTrial]] = []
    history = []
    for trial in eligible:
        population.append((target(trial), trial))
        if len(population) > population_size:
            if aging:
                population.pop(0)
            else:
                # The worst leaves; among equals the oldest, as in the sampler.
                worst = (min if maximize else max)(population, key=lambda entry: entry[0])[0]
                population.pop(next(i for i, (v, _) in enumerate(population) if v == worst))
        values = [value for value, _ in population]
        history.append(
            PopulationPoint(
                trial=trial,
                best=max(values) if maximize else min(values),
                mean=sum(values) / len(values),
                size=len(values),
            )
        )
    return history


def trial_title(study: optuna.Study, number: int, values: Sequence[float] | None) -> str:
    """The title of a trial's picture; it names the trial so a file can be traced back."""
    text = f"study {study.study_name!r} · trial {number}"
    if values:
        text += " · value " + ", ".join(f"{value:.6g}" for value in values)
    return text
