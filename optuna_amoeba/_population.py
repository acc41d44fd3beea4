"""The population, derived incrementally from the study's trials.

Every ask re-reads the study's trial list (the storage read, which Optuna's storages cache)
but examines only trials that are new or were unfinished at the previous ask, so the cost of
an ask does not grow with the history. Nothing here is authoritative: a new tracker rebuilds
the same population from storage, which is what lets several processes and a resumed run
share one evolution.
"""

from __future__ import annotations

from bisect import insort
from collections import Counter
from collections.abc import Collection
from collections.abc import Hashable
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
import datetime
import math
from typing import Any

from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState


MUTATION_KEY = "amoeba:mutation"
REEVALUATION = "reevaluation"
PROPOSAL_KEY = "amoeba:proposal"
_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


@dataclass(frozen=True)
class Member:
    """A population member: a finished trial and the values it competes with."""

    number: int
    values: tuple[float, ...]
    params: dict[str, Any]
    distributions: dict[str, BaseDistribution]
    completed_at: datetime.datetime
    identity: Hashable  # params_key(params), computed once


def distribution_key(distribution: BaseDistribution) -> Hashable:
    """A cheap hashable identity of a distribution.

    Optuna's ``CategoricalDistribution.__eq__`` compares choices one by one in Python; this
    key compares them as a tuple (with their types, so ``1`` and ``True`` stay apart), which
    keeps the population's bookkeeping far below the cost of a trial.
    """
    if isinstance(distribution, CategoricalDistribution):
        choices = distribution.choices
        return ("categorical", choices, tuple(map(type, choices)))
    if isinstance(distribution, (FloatDistribution, IntDistribution)):
        return (
            type(distribution).__name__,
            distribution.low,
            distribution.high,
            distribution.log,
            distribution.step,
        )
    return (type(distribution).__name__, repr(distribution))


def stored_proposal(trial: FrozenTrial) -> dict[str, Any] | None:
    """The parameters the sampler proposed for ``trial`` (its ``amoeba:proposal``), or
    ``None`` where it holds none."""
    proposal = trial.system_attrs.get(PROPOSAL_KEY)
    return proposal if isinstance(proposal, dict) and proposal else None


def params_key(params: dict[str, Any]) -> Hashable:
    """A hashable identity of a parameter assignment, for duplicate detection (unhashable
    for a value no Optuna distribution holds, such as a list in a hand-edited proposal)."""
    return tuple(sorted(params.items()))


def check_aging(aging: bool, num_objectives: int) -> None:
    """Refuse ``aging=False`` (remove the worst member) for a multi-objective study."""
    if not aging and num_objectives > 1:
        raise ValueError(
            "aging=False (remove the worst member) is defined for single-objective studies "
            f"only; this study has {num_objectives} objectives. Use aging=True."
        )


def competing_values(trial: FrozenTrial, include_pruned: bool) -> tuple[float, ...] | None:
    """The values ``trial`` competes with, or ``None`` if it does not enter the population."""
    if trial.state == TrialState.COMPLETE:
        assert trial.values is not None
        return tuple(trial.values)
    if include_pruned and trial.state == TrialState.PRUNED and trial.intermediate_values:
        last_step = max(trial.intermediate_values)
        value = trial.intermediate_values[last_step]
        if not math.isnan(value):
            return (value,)
    return None


@dataclass
class Observations:
    """The values one parameter assignment has received (single-objective studies).

    Infinite values count by order only: ``estimate`` is ``+inf`` (``-inf``) when some value
    was ``+inf`` (``-inf``), NaN when both were, and otherwise the mean of the finite values;
    only finite values enter the mean and the spread.
    """

    count: int = 0
    finite_count: int = 0
    mean: float = 0.0
    first: float = math.nan
    squares: float = 0.0
    positive_infinities: int = 0
    negative_infinities: int = 0

    @property
    def estimate(self) -> float:
        """What the assignment competes with: the mean, or an infinity (see the class)."""
        if self.positive_infinities and self.negative_infinities:
            return math.nan
        if self.positive_infinities:
            return math.inf
        if self.negative_infinities:
            return -math.inf
        return self.mean

    def add(self, value: float) -> float:
        """Take in ``value``; return how much the sum of squared deviations grew."""
        if self.count == 0:
            self.first = value
        self.count += 1
        if value == math.inf:
            self.positive_infinities += 1
            return 0.0
        if value == -math.inf:
            self.negative_infinities += 1
            return 0.0
        self.finite_count += 1
        delta = value - self.mean
        self.mean += delta / self.finite_count
        growth = delta * (value - self.mean)
        self.squares += growth
        return growth


@dataclass
class PopulationTracker:
    """Keeps the population of one study up to date.

    ``aging=True``: the ``population_size`` most recently finished eligible trials (by
    completion time, then number), re-evaluations excepted: a trial the sampler proposed as a
    re-evaluation adds its value to its parameters' observations but takes no population
    slot, so a parameter set ages out ``population_size`` members after its first
    evaluation however often it was re-evaluated. A re-evaluation whose objective suggested
    other parameters than proposed is a new member, and the proposed set goes into
    ``unrepeatable``. ``aging=False``: the ``population_size`` best ones; removing the worst
    after each addition, as the paper's non-aging control does, leaves exactly the best
    ``population_size`` of all eligible trials seen (ties: the older one leaves).
    """

    population_size: int
    aging: bool
    include_pruned: bool
    directions: Sequence[StudyDirection]
    scanned: int = 0
    num_eligible: int = 0
    unfinished: set[int] = field(default_factory=set)
    evaluated: set[Hashable] = field(default_factory=set)
    first_trial_id: int | None = None
    observations: dict[Hashable, Observations] = field(default_factory=dict)
    unrepeatable: set[Hashable] = field(default_factory=set)
    own_proposals: dict[int, Hashable] = field(default_factory=dict)
    identical_repeats: int = 0
    differing_repeats: int = 0
    _repeat_squares: float = 0.0
    _noise_degrees: int = 0
    _ranked: list[tuple[tuple[Any, ...], Member]] = field(default_factory=list)
    _space_counts: Counter[tuple[str, Hashable]] = field(default_factory=Counter)
    _counted: dict[int, list[tuple[str, Hashable]]] = field(default_factory=dict)
    # The search space last handed out and its (name, key) items, while the population stays
    # as it was.
    _space: tuple[dict[str, BaseDistribution], list[tuple[str, Hashable]]] | None = None

    def update(self, trials: Sequence[FrozenTrial]) -> None:
        """Take in trials that finished since the last update."""
        if trials and self.first_trial_id not in (None, trials[0]._trial_id):
            self._reset()
        if len(trials) < self.scanned:
            self._reset()
        if trials and self.first_trial_id is None:
            self.first_trial_id = trials[0]._trial_id
        changed = False
        for index in sorted(self.unfinished):
            if trials[index].state in _FINISHED:
                self.unfinished.discard(index)
                changed |= self._add(trials[index])
        for index in range(self.scanned, len(trials)):
            if trials[index].state in _FINISHED:
                changed |= self._add(trials[index])
            else:
                self.unfinished.add(index)
        self.scanned = len(trials)
        if changed:
            self._space = None
            self._count_space()

    @property
    def members(self) -> list[Member]:
        """The population, oldest (aging) or worst (non-aging) first."""
        return [member for _, member in self._ranked]

    def intersection_search_space(self) -> dict[str, BaseDistribution]:
        """Parameters every member has, with the same distribution, in the order of the last
        member in population order (the newest under aging): the order does not depend on
        how members came and went."""
        size = len(self._ranked)
        if size == 0:
            return {}
        last = self._ranked[-1][1]
        items = [item for item in self._counted[last.number] if self._space_counts[item] == size]
        space = {name: last.distributions[name] for name, _ in items}
        self._space = (space, items)
        return space

    def space_key(
        self, search_space: dict[str, BaseDistribution]
    ) -> frozenset[tuple[str, Hashable]] | None:
        """The names and :func:`distribution_key` of ``search_space`` when it is the space
        :meth:`intersection_search_space` returned last and the population has not changed
        since, so that every member holds these distributions (by key); else ``None``."""
        if self._space is None or self._space[0] is not search_space:
            return None
        return frozenset(self._space[1])

    def mean_value(self, member: Member) -> float:
        """The mean of every value ``member``'s parameters have received (an infinity or NaN
        where some were infinite: see :class:`Observations`)."""
        return self.observations[member.identity].estimate

    @property
    def noise_std(self) -> float:
        """Pooled standard deviation of repeated finite evaluations (0 until there are any)."""
        if not self._noise_degrees:
            return 0.0
        return math.sqrt(self._repeat_squares / self._noise_degrees)

    def running_counts(
        self, trials: Sequence[FrozenTrial], exclude_number: int
    ) -> Counter[Hashable]:
        """How many trials still running (other than ``exclude_number``) hold each parameter
        key: the whole proposal the sampler stored at ask time where there is one, else the
        parameters suggested so far; and every unfinished proposal of this process
        (:meth:`note_proposal`), which ``trials`` may predate. Each trial counts once."""
        keys = {
            number: key for number, key in self.own_proposals.items() if number != exclude_number
        }
        for trial in self._running(trials, exclude_number):
            params = stored_proposal(trial) or trial.params
            if params:
                key = params_key(params)
                try:
                    hash(key)
                except TypeError:  # a hand-edited proposal
                    continue
                keys[trial.number] = key
        return Counter(keys.values())

    def running_search_space(
        self, trials: Sequence[FrozenTrial], exclude_number: int
    ) -> dict[str, BaseDistribution]:
        """Parameters every running trial (other than ``exclude_number``) that has suggested
        any holds, with the same distribution, in the order of the newest of them: the space
        of the trials asked before any finished; ``{}`` where none has suggested yet."""
        suggested = [
            trial for trial in self._running(trials, exclude_number) if trial.distributions
        ]
        if not suggested:
            return {}
        newest = max(suggested, key=lambda trial: trial.number).distributions
        keys = {name: distribution_key(d) for name, d in newest.items()}
        for trial in suggested:
            keys = {
                name: key
                for name, key in keys.items()
                if name in trial.distributions
                and distribution_key(trial.distributions[name]) == key
            }
        return {name: newest[name] for name in keys}

    def _running(
        self, trials: Sequence[FrozenTrial], exclude_number: int
    ) -> Iterator[FrozenTrial]:
        """The trials still running, other than ``exclude_number``."""
        for index in self.unfinished:
            if index != exclude_number and trials[index].state == TrialState.RUNNING:
                yield trials[index]

    def note_proposal(self, number: int, params: dict[str, Any]) -> None:
        """Remember what this process proposed for trial ``number`` until the trial finishes."""
        self.own_proposals[number] = params_key(params)

    def is_seen(self, params: dict[str, Any], running: Collection[Hashable]) -> bool:
        """The dedup test: whether ``params`` were evaluated, or are being evaluated by a
        running trial (``running``: the keys of :meth:`running_counts`, read once per ask)."""
        return self.unseen_key(params, running) is None

    def unseen_key(self, params: dict[str, Any], running: Collection[Hashable]) -> Hashable | None:
        """``params_key(params)`` where :meth:`is_seen` is false, else ``None``."""
        key = params_key(params)
        return None if key in self.evaluated or key in running else key

    def _reset(self) -> None:
        self.scanned = 0
        self.num_eligible = 0
        self.unfinished.clear()
        self.evaluated.clear()
        self.first_trial_id = None
        self.observations.clear()
        self.unrepeatable.clear()
        self.own_proposals.clear()
        self.identical_repeats = 0
        self.differing_repeats = 0
        self._repeat_squares = 0.0
        self._noise_degrees = 0
        self._ranked.clear()
        self._space_counts.clear()
        self._counted.clear()
        self._space = None

    def _add(self, trial: FrozenTrial) -> bool:
        """Take in one finished trial; return whether the population changed."""
        self.own_proposals.pop(trial.number, None)
        identity = params_key(trial.params)
        if trial.params:
            self.evaluated.add(identity)
        values = competing_values(trial, self.include_pruned)
        if values is None or trial.datetime_complete is None:
            return False
        self.num_eligible += 1
        if len(values) == 1:
            self._observe(identity, values[0])
            if trial.system_attrs.get(MUTATION_KEY) == REEVALUATION and self._repeated(
                trial, identity
            ):
                return False
        member = Member(
            number=trial.number,
            values=values,
            params=trial.params,
            distributions=trial.distributions,
            completed_at=trial.datetime_complete,
            identity=identity,
        )
        key = self._rank_key(member)
        if len(self._ranked) == self.population_size and key <= self._ranked[0][0]:
            return False
        insort(self._ranked, (key, member), key=lambda entry: entry[0])
        if len(self._ranked) > self.population_size:
            self._ranked.pop(0)
        return True

    def _count_space(self) -> None:
        """Bring the search-space counts in line with the population, once per update: when
        many trials finish between two asks, most of them pass through the population
        within one update and never need counting."""
        present = {member.number: member for _, member in self._ranked}
        for number in [number for number in self._counted if number not in present]:
            for item in self._counted.pop(number):
                self._space_counts[item] -= 1
                if self._space_counts[item] == 0:
                    del self._space_counts[item]
        for number, member in present.items():
            if number in self._counted:
                continue
            items = []
            for name, distribution in member.distributions.items():
                item = (name, distribution_key(distribution))
                self._space_counts[item] += 1
                items.append(item)
            self._counted[number] = items

    def _repeated(self, trial: FrozenTrial, identity: Hashable) -> bool:
        """Whether re-evaluation ``trial`` evaluated the set it was proposed for. When the
        objective suggested other parameters (its search space changed), the proposed set
        is recorded as unrepeatable and the trial counts as a new member."""
        proposal = stored_proposal(trial)
        if proposal is None or params_key(proposal) == identity:
            return True
        try:
            self.unrepeatable.add(params_key(proposal))
        except TypeError:  # a hand-edited proposal
            pass
        return False

    def _observe(self, key: Hashable, value: float) -> None:
        observations = self.observations.get(key)
        if observations is None:
            observations = self.observations[key] = Observations()
        elif value == observations.first:
            self.identical_repeats += 1
        else:
            self.differing_repeats += 1
        repeated_finite = observations.finite_count > 0 and math.isfinite(value)
        self._repeat_squares += observations.add(value)
        self._noise_degrees += repeated_finite

    def _rank_key(self, member: Member) -> tuple[Any, ...]:
        age_key = (member.completed_at, member.number)
        if self.aging:
            return age_key
        value = member.values[0]
        fitness = value if self.directions[0] == StudyDirection.MAXIMIZE else -value
        return (fitness, *age_key)
