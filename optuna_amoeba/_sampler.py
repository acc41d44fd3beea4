"""Regularized (aging) evolution as an Optuna sampler."""

from __future__ import annotations

from collections.abc import Collection
from collections.abc import Hashable
from collections.abc import Sequence
import contextlib
import threading
from typing import Any
from typing import TYPE_CHECKING
import warnings
import weakref

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_amoeba._checks import check_bool
from optuna_amoeba._checks import check_int
from optuna_amoeba._checks import check_optional_int
from optuna_amoeba._checks import check_probability
from optuna_amoeba._mutation import mutate
from optuna_amoeba._mutation import MutationPlan
from optuna_amoeba._population import check_aging
from optuna_amoeba._population import distribution_key
from optuna_amoeba._population import Member
from optuna_amoeba._population import MUTATION_KEY as MUTATION_KEY
from optuna_amoeba._population import PopulationTracker
from optuna_amoeba._population import PROPOSAL_KEY as PROPOSAL_KEY
from optuna_amoeba._population import REEVALUATION as REEVALUATION
from optuna_amoeba._population import stored_proposal
from optuna_amoeba._random import sample_value
from optuna_amoeba._reevaluation import reevaluation_target
from optuna_amoeba._reevaluation import unconfirmed_leader
from optuna_amoeba._screening import CandidateScreen
from optuna_amoeba._selection import tournament
from optuna_amoeba._tpe import TPE_PHASE_POPULATIONS
from optuna_amoeba._tpe import tpe_proposal
from optuna_amoeba._tpe import tpe_sampler


if TYPE_CHECKING:
    from optuna.storages import BaseStorage
    from optuna.study import Study


_logger = optuna.logging.get_logger("optuna.amoeba")

PARENT_KEY = "amoeba:parent"
MUTATION_STEPS_KEY = "amoeba:mutation_steps"
RANDOM = "random"
ENQUEUED = "enqueued"
TPE = "tpe"
# Re-evaluation stops once this many repeats reproduced their first value exactly (and none
# differed): the objective is deterministic and a repeat would be wasted.
DETERMINISTIC_AFTER = 2
# sample_size's default before 0.3.0, kept (with a FutureWarning) where the new rule differs.
_FORMER_DEFAULT_SAMPLE_SIZE = 25


def default_sample_size(population_size: int) -> int:
    """The tournament size ``sample_size=None`` stands for: ``max(1, population_size // 2)``.

    A selection pressure S/P of about 1/2, that of the defaults P=50, S=25 (see
    docs/choosing-settings.md). The ``optuna-amoeba search`` command uses this rule too.
    """
    population_size = check_int("population_size", population_size, 1)
    return max(1, population_size // 2)


class AgingEvolutionSampler(BaseSampler):
    """Regularized (aging) evolution, Real et al. 2019, Algorithm 1.

    The population is the ``population_size`` (P) most recently completed trials, read from
    the study's storage at every ask, so threads, processes and machines sharing a storage
    evolve one population and a crashed run resumes where it stopped. Until
    ``n_startup_trials`` trials have completed, trials are sampled at random (enqueued trials
    run as given). Then each new trial is a mutation of a tournament winner: ``sample_size``
    (S) distinct members are drawn uniformly (all of them while fewer than S) and the best
    one is the parent. Members leave the population by age: the oldest
    completed trial drops out when a new one completes. ``aging=False`` drops the worst member
    instead (the paper's non-aging control).

    Sampling without replacement makes S/P exactly the selection pressure (S = P always
    picks the population's best). The paper's pseudo-code draws with replacement; for S much
    smaller than P the two agree closely.

    Mutation: when the search space holds :mod:`optuna_amoeba.nasnet`'s encoding, the paper's
    NASNet mutation (pick the normal or the reduction cell, then a hidden-state mutation with
    probability ``hidden_state_probability``, otherwise an op mutation); every other
    parameter is one more unit that a mutation may pick, changing to another value of its
    distribution (another choice; a fresh uniform or log-uniform draw for numbers). With
    probability ``identity_probability`` the child repeats its parent. Parameters outside the
    population's common search space (define-by-run branches) are sampled at random. In
    single-objective studies the parent is mutated ``mutation_candidates`` times (distinct
    unseen children, with dedup) and the child is the one an additive model of the
    population's values scores best (docs/algorithm.md, "Screened mutation").

    Each trial the sampler proposes records in its system attrs ``amoeba:parent`` (the parent
    trial's number or ``None``) and ``amoeba:mutation`` (``random``, ``enqueued``, ``tpe``,
    ``reevaluation``, ``identity``, ``hidden_state``, ``op`` or ``param``: the last mutation
    applied), ``amoeba:proposal`` (the proposed parameters, so that other workers see the
    whole proposal while the objective is still suggesting them), plus
    ``amoeba:mutation_steps`` when dedup had to walk more than one mutation away from the
    parent to find an unseen child. A trial that already carries a proposal (a crashed trial
    re-run by Optuna's stale-trial retry, which copies these attrs) gets the rest of it.

    Args:
        population_size: P, the number of most recently completed trials that form the
            population (``>= 1``). Default 50.
        sample_size: S, the tournament size, in ``[1, population_size]``. Default ``None``:
            :func:`default_sample_size`, ``max(1, population_size // 2)`` (25 for the default
            P=50). Until 0.4.0, a ``population_size`` of 25 or more for which that rule
            differs from 25 (the default before 0.3.0) keeps S=25 with a ``FutureWarning``;
            pass ``sample_size`` to choose and silence it.
        n_startup_trials: How many trials must complete before evolution starts, in
            ``[1, population_size]``; until the population is full it holds every completed
            trial. Default ``min(10, population_size)``; ``n_startup_trials=population_size``
            is the paper's schedule (random until P trials have completed).

            Why these defaults: on NATS-Bench CIFAR-10 (seeds 1000-1049, disjoint from the
            published comparison's seeds) the paper's P=100, S=25 is random search for its
            first 100 evaluations, and the textbook P=20, S=5 trails TPE at 50 and 100.
            Starting evolution after 10 random trials with a selection pressure S/P = 1/2
            did best on the exact table (P=50, S=25: the lowest regret at 100 evaluations,
            the optimum in every run by 300), was in the better half under noise, and beat
            TPE on the 40-parameter synthetic NASNet problem; the sweep is in
            ``benchmarks/results/defaults/``. For budgets of tens of thousands of
            evaluations the paper's setting remains a sound choice.
        aging: Remove the oldest member (``True``, regularized evolution) or the worst one.
        identity_probability: Probability that a child repeats its parent (paper: 0.05).
            With ``dedup`` on, a repeat is a duplicate and gets mutated again, so identity
            children only occur with ``dedup=False``.
        hidden_state_probability: For NASNet genotypes, the probability of a hidden-state
            mutation rather than an op mutation (paper: 0.5).
        dedup: Re-mutate a child, or draw again a random start-up proposal, whose parameters
            equal a finished or running trial's: in NAS, a repeated architecture is wasted
            training. Before any trial has completed, the draw covers the parameters the
            running trials have suggested (Optuna draws a trial's proposal at its first
            suggestion), so only the first trial to suggest is drawn parameter by parameter.
        max_dedup_retries: How many further mutations (or random draws) ``dedup`` tries
            before accepting a duplicate. The first half of the mutations restart from the
            parent (one mutation away); the rest walk on from the last candidate, when every
            neighbour of the parent was seen.
        reevaluation_probability: Probability, in ``[0, 1]``, that an evolved trial re-
            evaluates promising parameters instead of a new child (single-objective studies;
            ignored with several objectives). Default 0.3; 0 turns re-evaluation off,
            the confirmation of new leaders included (the paper's algorithm). Measured
            effect on NATS-Bench CIFAR-10 under noise: docs/choosing-settings.md. On
            deterministic objectives it costs two trials.
        tpe_probability: Probability, in ``[0, 1]``, that a trial after the random start and
            before ``2 * population_size`` trials have completed is proposed by Optuna's
            ``TPESampler`` (its defaults, seeded ``seed + 1``) instead of evolved: a
            re-evaluation or a child (single-objective studies; ignored with several
            objectives). A proposal already evaluated or running falls back to evolution.
            Default 0.35; 0 turns it off (the paper's algorithm). Early on, TPE's model
            reaches good regions that single mutations reach slowly; measured effect:
            docs/choosing-settings.md.
        mutation_candidates: How many distinct mutations of the parent are drawn for each
            child (``>= 1``; single-objective studies, ignored with several objectives): the
            child is the one that a ridge regression of the population's values on their
            parameters' values (one effect per choice, or per tenth of a numeric range) scores
            best. Default 4; 1 is the paper's algorithm (the child is the mutation drawn).
            Measured effect: docs/choosing-settings.md.
        include_pruned: Let pruned trials enter the population with their last reported
            intermediate value (single-objective studies). Off by default: a pruned trial's
            value is measured on a smaller budget than a completed one's, so it would
            compete unfairly; turn it on when pruning is rare and each pruned value is a
            fair, if early, estimate.
        seed: Seed of the sampler's random number generator.

    Evaluation noise (single-objective studies): an architecture's measured accuracy varies
    from one training run to the next, so a lucky evaluation can win tournaments and end up
    as the study's best trial. With probability ``reevaluation_probability`` an evolved
    trial therefore evaluates again the population's most promising parameters (see
    :func:`~optuna_amoeba._reevaluation.reevaluation_target`) instead of a new child, and
    tournaments compare members by the mean of every evaluation of their parameters. A set
    that leads the population on a single evaluation (by the lower bound
    :func:`optuna_amoeba.recommend_by_mean` ranks by) is re-evaluated at the next ask, before
    any other choice (see :func:`~optuna_amoeba._reevaluation.unconfirmed_leader`). With
    several workers, at most two trials evaluate one parameter set at once (docs/algorithm.md,
    "Many workers"). A re-evaluation adds to its parameters' observations but takes no
    population slot and does not renew their age: a parameter set leaves the population
    ``population_size`` members after its first evaluation, however often it was repeated.
    The sampler stops re-evaluating and confirming once repeats have reproduced their first
    value exactly twice with none differing: the objective is deterministic. To choose the
    parameters to keep, use :func:`optuna_amoeba.recommend_by_mean` (docs/algorithm.md,
    "Reading a noisy study").

    Infinite values (Optuna stores them as completed trials) count by order only: a set with a
    ``+inf`` value competes as better than any finite mean, one with ``-inf`` as worse
    (directions apply), one with both is NaN and loses every tournament; infinite values
    enter neither means nor the noise estimate.

    Multi-objective studies are supported with ``aging=True``: the tournament winner has the
    lowest non-domination rank within the population, ties broken by the largest crowding
    distance. ``aging=False`` is defined for single-objective studies only and is refused at
    the first ask of a multi-objective study.
    """

    def __init__(
        self,
        *,
        population_size: int = 50,
        sample_size: int | None = None,
        aging: bool = True,
        identity_probability: float = 0.05,
        hidden_state_probability: float = 0.5,
        dedup: bool = True,
        max_dedup_retries: int = 20,
        include_pruned: bool = False,
        n_startup_trials: int | None = None,
        reevaluation_probability: float = 0.3,
        tpe_probability: float = 0.35,
        mutation_candidates: int = 4,
        seed: int | None = None,
    ) -> None:
        self._population_size = check_int("population_size", population_size, 1)
        self._sample_size = self._resolve_sample_size(sample_size)
        self._aging = check_bool("aging", aging)
        self._identity_probability = check_probability(
            "identity_probability", identity_probability
        )
        self._hidden_state_probability = check_probability(
            "hidden_state_probability", hidden_state_probability
        )
        self._dedup = check_bool("dedup", dedup)
        self._max_dedup_retries = check_int("max_dedup_retries", max_dedup_retries, 0)
        self._include_pruned = check_bool("include_pruned", include_pruned)
        self._reevaluation_probability = check_probability(
            "reevaluation_probability", reevaluation_probability
        )
        self._tpe_probability = check_probability("tpe_probability", tpe_probability)
        self._mutation_candidates = check_int("mutation_candidates", mutation_candidates, 1)
        startup = check_optional_int(
            "n_startup_trials", n_startup_trials, 1, self._population_size
        )
        self._n_startup_trials = min(10, self._population_size) if startup is None else startup
        seed = check_optional_int("seed", seed, 0, 2**32 - 1)
        self._rng = np.random.RandomState(seed)
        self._tpe = tpe_sampler(seed)
        self._lock = threading.RLock()
        self._trackers: weakref.WeakKeyDictionary[BaseStorage, dict[int, PopulationTracker]] = (
            weakref.WeakKeyDictionary()
        )
        self._plans: dict[
            frozenset[tuple[str, Hashable]], tuple[MutationPlan, CandidateScreen]
        ] = {}
        # What infer_relative_search_space read for a trial, which sample_relative, called next
        # for the same trial, reuses: (trial id, tracker, trials, search space).
        self._inferred: (
            tuple[int, PopulationTracker, Sequence[FrozenTrial], dict[str, BaseDistribution]]
            | None
        ) = None

    def _resolve_sample_size(self, sample_size: object) -> int:
        if sample_size is not None:
            return check_int("sample_size", sample_size, 1, self._population_size)
        rule = default_sample_size(self._population_size)
        former = _FORMER_DEFAULT_SAMPLE_SIZE
        if self._population_size < former or rule == former:
            return rule
        warnings.warn(
            f"AgingEvolutionSampler(population_size={self._population_size}) uses "
            f"sample_size={former}, the default before 0.3.0; from 0.4.0 the default "
            f"(sample_size=None) will be max(1, population_size // 2) = {rule}. Pass "
            f"sample_size={former} to keep the current behaviour or sample_size={rule} to "
            "adopt the new one.",
            FutureWarning,
            stacklevel=3,
        )
        return former

    def __getstate__(self) -> dict[str, Any]:
        # The lock cannot be pickled and the trackers are caches of storage: drop both.
        state = self.__dict__.copy()
        del state["_lock"], state["_trackers"]
        state["_inferred"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()
        self._trackers = weakref.WeakKeyDictionary()

    @property
    def population_size(self) -> int:
        return self._population_size

    @property
    def sample_size(self) -> int:
        return self._sample_size

    @property
    def aging(self) -> bool:
        return self._aging

    @property
    def reevaluation_probability(self) -> float:
        return self._reevaluation_probability

    @property
    def tpe_probability(self) -> float:
        return self._tpe_probability

    @property
    def mutation_candidates(self) -> int:
        return self._mutation_candidates

    def reseed_rng(self) -> None:
        with self._lock:
            self._rng.seed()
            self._tpe.reseed_rng()

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        if trial.system_attrs.get("fixed_params"):
            # Enqueued trials may never reach sample_relative: record their lineage here.
            with self._lock:
                self._record_enqueued(study, trial, study._get_trials(deepcopy=False))

    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        with self._lock:
            tracker, trials = self._refresh(study)
            search_space = tracker.intersection_search_space()
            if not search_space and self._dedup and not tracker.members:
                # No trial has finished: the running trials' space, so that a random draw
                # equal to one of theirs can be drawn again.
                search_space = tracker.running_search_space(trials, trial.number)
            self._inferred = (trial._trial_id, tracker, trials, search_space)
            return search_space

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        with self._lock:
            inferred, self._inferred = self._inferred, None
            if (
                inferred is not None
                and inferred[0] == trial._trial_id
                and inferred[3] is search_space
            ):
                _, tracker, trials, _ = inferred
            else:
                tracker, trials = self._refresh(study)
            if trial.system_attrs.get("fixed_params"):
                return {}
            copied = stored_proposal(trial)
            if copied is not None:
                # A crashed trial re-run by Optuna's stale-trial retry, which copies its
                # system attrs: the rest of its architecture, and its lineage, stay.
                return _within(copied, search_space)
            if (
                tracker.num_eligible < self._n_startup_trials
                or not tracker.members
                or not search_space
            ):
                proposal = self._random_proposal(search_space, tracker, trials, trial.number)
                self._record(study, trial, parent=None, mutation=RANDOM, steps=0)
                self._publish(study, trial, tracker, proposal)
                return proposal

            running = tracker.running_counts(trials, trial.number)
            single_objective = len(study.directions) == 1
            reevaluating = single_objective and self._noise_possible(tracker)
            if reevaluating:
                leader = unconfirmed_leader(tracker, study.direction, running)
                if leader is not None and _covers(leader, search_space):
                    return self._reevaluate(study, trial, tracker, leader)
            if single_objective and self._tpe_turn(tracker):
                proposal = tpe_proposal(self._tpe, study, trial, search_space, self._rng)
                if not tracker.is_seen(proposal, running):
                    self._record(study, trial, parent=None, mutation=TPE, steps=0)
                    self._publish(study, trial, tracker, proposal)
                    return proposal

            members = tracker.members
            fitness = None
            if single_objective:
                if reevaluating and self._rng.rand() < self._reevaluation_probability:
                    target = reevaluation_target(tracker, study.direction, running)
                    if target is not None and _covers(target, search_space):
                        return self._reevaluate(study, trial, tracker, target)
                fitness = [tracker.mean_value(member) for member in members]
            parent = tournament(members, self._sample_size, study.directions, self._rng, fitness)
            space_key = tracker.space_key(search_space)
            if space_key is not None:
                # The population's own space: the parent, a member, holds all of it.
                base = {name: parent.params[name] for name in search_space}
            else:
                keys = {name: distribution_key(d) for name, d in search_space.items()}
                space_key = frozenset(keys.items())
                base = {}
                for name, distribution in search_space.items():
                    parent_distribution = parent.distributions.get(name)
                    if parent_distribution is not None and (
                        parent_distribution is distribution
                        or distribution_key(parent_distribution) == keys[name]
                    ):
                        base[name] = parent.params[name]
                    else:
                        base[name] = sample_value(distribution, self._rng)
            child, mutation, steps = self._screened_child(
                base,
                search_space,
                space_key,
                tracker,
                running,
                study.direction if single_objective else None,
            )
            self._record(study, trial, parent=parent.number, mutation=mutation, steps=steps)
            self._publish(study, trial, tracker, child)
            return child

    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        with self._lock:
            return sample_value(param_distribution, self._rng)

    def _tpe_turn(self, tracker: PopulationTracker) -> bool:
        if self._tpe_probability == 0:
            return False
        if tracker.num_eligible >= TPE_PHASE_POPULATIONS * self._population_size:
            return False
        return bool(self._rng.rand() < self._tpe_probability)

    def _noise_possible(self, tracker: PopulationTracker) -> bool:
        """Whether re-evaluation is on and the objective not yet known to be deterministic."""
        if self._reevaluation_probability == 0:
            return False
        return tracker.differing_repeats > 0 or tracker.identical_repeats < DETERMINISTIC_AFTER

    def _reevaluate(
        self, study: Study, trial: FrozenTrial, tracker: PopulationTracker, target: Member
    ) -> dict[str, Any]:
        self._record(study, trial, parent=target.number, mutation=REEVALUATION, steps=0)
        self._publish(study, trial, tracker, target.params)
        return dict(target.params)

    def _refresh(self, study: Study) -> tuple[PopulationTracker, Sequence[FrozenTrial]]:
        check_aging(self._aging, len(study.directions))
        if self._include_pruned and len(study.directions) > 1:
            raise ValueError(
                "include_pruned=True needs a single-objective study (pruned trials report one "
                f"value); this study has {len(study.directions)} objectives."
            )
        per_storage = self._trackers.setdefault(study._storage, {})
        tracker = per_storage.get(study._study_id)
        if tracker is None:
            tracker = PopulationTracker(
                population_size=self._population_size,
                aging=self._aging,
                include_pruned=self._include_pruned,
                directions=tuple(study.directions),
            )
            per_storage[study._study_id] = tracker
        trials = study._get_trials(deepcopy=False, use_cache=True)
        if len(trials) < tracker.scanned:
            # Another thread handed the tracker a newer list than this thread's cached one.
            trials = study._get_trials(deepcopy=False, use_cache=False)
        tracker.update(trials)
        return tracker, trials

    def _plan_and_screen(
        self, search_space: dict[str, BaseDistribution], key: frozenset[tuple[str, Hashable]]
    ) -> tuple[MutationPlan, CandidateScreen]:
        """What can mutate in ``search_space``, and the screen of its candidates, cached by
        ``key``, its names and :func:`distribution_key` (Optuna's own comparison of
        distributions is slow)."""
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = (
                MutationPlan.for_space(search_space),
                CandidateScreen(search_space),
            )
        return plan

    def _screened_child(
        self,
        parent: dict[str, Any],
        search_space: dict[str, BaseDistribution],
        space_key: frozenset[tuple[str, Hashable]],
        tracker: PopulationTracker,
        running: Collection[Hashable],
        direction: StudyDirection | None,
    ) -> tuple[dict[str, Any], str, int]:
        """The child of ``parent``: of up to ``mutation_candidates`` distinct unseen mutations
        (one with several objectives, ``direction=None``), the one the population's additive
        model scores best (:class:`~optuna_amoeba._screening.CandidateScreen`)."""
        plan, screen = self._plan_and_screen(search_space, space_key)
        child, mutation, steps, key = self._mutate_without_repeats(
            parent, search_space, plan, tracker, running
        )
        first = (child, mutation, steps)
        if self._dedup and key is None:
            if plan.num_units:
                _logger.debug(
                    f"No unseen child found in {self._max_dedup_retries} retries; "
                    "proposing a repeat."
                )
            return first
        if direction is None or self._mutation_candidates == 1:
            return first
        candidates = [first]
        taken = set(running)
        while len(candidates) < self._mutation_candidates:
            if key is not None:
                taken.add(key)
            child, mutation, steps, key = self._mutate_without_repeats(
                parent, search_space, plan, tracker, taken
            )
            if self._dedup and key is None:
                break
            candidates.append((child, mutation, steps))
        chosen = screen.best([child for child, _, _ in candidates], tracker, direction)
        return candidates[chosen]

    def _mutate_without_repeats(
        self,
        parent: dict[str, Any],
        search_space: dict[str, BaseDistribution],
        plan: MutationPlan,
        tracker: PopulationTracker,
        running: Collection[Hashable],
    ) -> tuple[dict[str, Any], str, int, Hashable | None]:
        """A mutation of ``parent``, its kind and its steps from the parent, and with dedup its
        ``params_key`` when it is unseen (``None`` when dedup is off or found none)."""
        identity_probability = 0.0 if self._dedup else self._identity_probability
        child, mutation = mutate(
            parent,
            search_space,
            plan,
            self._rng,
            identity_probability=identity_probability,
            hidden_state_probability=self._hidden_state_probability,
        )
        if not self._dedup or plan.num_units == 0:
            return child, mutation, 1, None
        steps = 1
        for retry in range(self._max_dedup_retries):
            key = tracker.unseen_key(child, running)
            if key is not None:
                return child, mutation, steps, key
            restart = retry < self._max_dedup_retries // 2
            base = parent if restart else child
            steps = 1 if restart else steps + 1
            child, mutation = mutate(
                base,
                search_space,
                plan,
                self._rng,
                identity_probability=0.0,
                hidden_state_probability=self._hidden_state_probability,
            )
        return child, mutation, steps, tracker.unseen_key(child, running)

    def _random_proposal(
        self,
        search_space: dict[str, BaseDistribution],
        tracker: PopulationTracker,
        trials: Sequence[FrozenTrial],
        number: int,
    ) -> dict[str, Any]:
        """A uniform draw of ``search_space``; with dedup, drawn again (up to
        ``max_dedup_retries`` times) while it equals a finished or running trial's parameters."""
        dedup = self._dedup and bool(search_space)
        running: Collection[Hashable] = tracker.running_counts(trials, number) if dedup else ()
        for _ in range(1 + (self._max_dedup_retries if dedup else 0)):
            proposal = {name: sample_value(d, self._rng) for name, d in search_space.items()}
            if not dedup or not tracker.is_seen(proposal, running):
                break
        return proposal

    def _record_enqueued(
        self, study: Study, trial: FrozenTrial, trials: Sequence[FrozenTrial]
    ) -> None:
        # A trial re-run by RetryFailedTrialCallback keeps the lineage of the one it retries.
        failed_number = trial.system_attrs.get("failed_trial")
        if isinstance(failed_number, int) and 0 <= failed_number < len(trials):
            original = trials[failed_number].system_attrs
            if MUTATION_KEY in original:
                self._record(
                    study,
                    trial,
                    parent=original.get(PARENT_KEY),
                    mutation=original[MUTATION_KEY],
                    steps=original.get(MUTATION_STEPS_KEY, 0),
                )
                return
        self._record(study, trial, parent=None, mutation=ENQUEUED, steps=0)

    @staticmethod
    def _publish(
        study: Study, trial: FrozenTrial, tracker: PopulationTracker, proposal: dict[str, Any]
    ) -> None:
        # Optuna writes a running trial's parameters one by one as the objective suggests
        # them; the whole proposal, stored now, is what other workers' dedup compares with.
        # This process's later asks may read a trial list cached before it was stored (a
        # batch of asks), so the tracker keeps it too.
        if proposal and trial.state == TrialState.RUNNING:
            study._storage.set_trial_system_attr(trial._trial_id, PROPOSAL_KEY, proposal)
            tracker.note_proposal(trial.number, proposal)

    @staticmethod
    def _record(
        study: Study, trial: FrozenTrial, *, parent: int | None, mutation: str, steps: int
    ) -> None:
        if trial.state != TrialState.RUNNING:
            return
        storage = study._storage
        storage.set_trial_system_attr(trial._trial_id, PARENT_KEY, parent)
        storage.set_trial_system_attr(trial._trial_id, MUTATION_KEY, mutation)
        if steps > 1:
            storage.set_trial_system_attr(trial._trial_id, MUTATION_STEPS_KEY, steps)


def _within(params: dict[str, Any], search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
    """The values of ``params`` that ``search_space``'s distributions hold."""
    kept = {}
    for name, distribution in search_space.items():
        if name in params:
            with contextlib.suppress(ValueError, TypeError):
                if distribution._contains(distribution.to_internal_repr(params[name])):
                    kept[name] = params[name]
    return kept


def _covers(member: Member, search_space: dict[str, BaseDistribution]) -> bool:
    """Whether ``member`` has exactly the parameters of ``search_space``, same distributions."""
    if member.params.keys() != search_space.keys():
        return False
    return all(
        member.distributions[name] is distribution
        or distribution_key(member.distributions[name]) == distribution_key(distribution)
        for name, distribution in search_space.items()
    )
