"""The sampler variants tried against the early tail at σ = 0.3 (fifth, sixth and eleventh
rounds: kept in the library, as ``tpe_probability``, the confirmation of new leaders and
``mutation_candidates``).

Each variant is ``AgingEvolutionSampler`` with one rule changed, chosen by the environment
variable ``AMOEBA_VARIANT`` (a ``_``-joined list); ``base`` changes nothing.

Re-evaluation and tournaments (release 0.3.0's first round):

- ``pess``: tournaments by the pessimistic mean, the mean minus ``AMOEBA_PESSIMISM`` (default
  1) pooled standard errors;
- ``shrink``: tournaments by the mean shrunk towards the population's mean, as a normal
  posterior would (prior variance: the spread of the members' means less the pooled noise);
- ``fullpop``: no re-evaluation until the population is full;
- ``ramp``: re-evaluation probability scaled by how full the population is.

Proposals (second round, against the local optima that hold the tail):

- ``crossover``: with probability 0.5 the child takes each parameter from the tournament
  winner or from a second, independent tournament's winner (even odds); a child equal to a
  parent or already seen is mutated as usual;
- ``twostep``: with probability ``AMOEBA_TWO_STEP`` (default 0.3) the parent is mutated once
  before the usual mutation, so the child is two changes away;
- ``fresh``: tournaments skip members whose every one-change neighbour has been evaluated
  (categorical spaces; all members when every one is so exhausted);
- ``guided``: the changed parameter's new value is drawn in proportion to one plus its count
  among the best fifth of all completed trials, not uniformly (categorical spaces only; dedup
  as the sampler's: half the retries from the parent, then walking on).

Third round (2026-12-05): non-local proposals and re-evaluation for the incumbent:

- ``tpemix``: after the random start, with probability ``AMOEBA_TPE_MIX`` (default 0.2) the
  trial is Optuna's ``TPESampler`` proposal (fitted to every completed trial) instead of the
  sampler's own choice, a re-evaluation included; an already seen proposal falls back to it;
- ``tpechild``: the same, but only in place of a mutated child (re-evaluations unchanged);
- ``histre``: the re-evaluation target is the best upper confidence bound over every set the
  study evaluated, not only the population's;
- ``lucb``: the re-evaluation target is, of the leader (the best lower bound over the study,
  what ``recommend_by_mean`` keeps) and its strongest challenger (the best upper bound among
  the others), the one with fewer evaluations.

Fourth round (2026-12-05): how wide the re-evaluation target's upper bound is:

- ``ucb``: the library's re-evaluation target with the mean plus ``AMOEBA_UCB_WIDTH``
  (default 2) pooled standard errors instead of one.

Fifth round (2026-12-05): ``tpemix`` only early in a study, ``AMOEBA_TPE_FROM <= completed
trials < AMOEBA_TPE_UNTIL`` (defaults: from the random start, no end). ``AMOEBA_TPE_MIX=0.35
AMOEBA_TPE_UNTIL=100`` became the sampler's default (``tpe_probability=0.35``), so every
variant here passes ``tpe_probability=0`` unless told otherwise: they change the sampler as it
was before.

Sixth round (2026-12-05): a leader resting on one evaluation is re-evaluated at the next ask.
That rule (two evaluations) is now the sampler's, so every variant above runs with it today;
their figures in the README were measured before it (git 1283364). ``tpemix`` draws TPE's
turn before the confirmation, the sampler after it, so ``tpemix`` 35% until 100 no longer
reproduces the library's TPE phase (0 of 40 seeds at 17af52c). Here:

- ``confirm``: the leader is confirmed until it has ``AMOEBA_CONFIRMED_AFTER`` (default 3)
  evaluations instead of two.

Seventh round (2026-12-05), with ``tpe_probability=0.35`` passed where the library's TPE phase
is meant:

- ``tpechild`` (third round) now also keeps to the window ``AMOEBA_TPE_FROM <= completed
  trials < AMOEBA_TPE_UNTIL``: TPE's proposals in place of mutated children only, so they
  take no re-evaluations;
- ``phasecoin``: while fewer than 2P trials have completed (the TPE phase), the
  re-evaluation coin comes up with probability ``AMOEBA_PHASE_REEVALUATION`` (default 0)
  instead of ``reevaluation_probability``; new leaders are still confirmed.

Eighth round (2026-12-05), with ``tpe_probability=0.35``:

- ``fillpressure``: while the population fills, the tournament draws
  ``sample_size * members // AMOEBA_FILL_POPULATION`` members (default 50, the population
  size; at least one) instead of all of them, so its pressure stays ``sample_size / 50``.

Ninth round (2026-12-06), with ``tpe_probability=0.35``:

- ``cap``: the re-evaluation target is chosen among the sets evaluated fewer than
  ``AMOEBA_REEVALUATION_CAP`` (default 4) times; new leaders are still confirmed;
- ``noisytpe``: once repeats have differed (the objective is noisy), TPE's turns come up with
  probability ``AMOEBA_NOISY_TPE`` (default 0.65) instead of ``tpe_probability``; combined
  with ``phasecoin`` and ``confirm``;
- ``ttts``: the re-evaluation target by top-two Thompson sampling over the population's sets
  (each set's value drawn around its mean with the pooled noise over the square root of its
  count; the best draw's set with probability 1/2, else the best of a new draw that differs;
  its own generator, seeded by ``AMOEBA_TTTS_SEED``, so runs repeat with ``--jobs 1`` only);
- ``inflight`` (for the asynchronous simulator): of a tournament's drawn members, those with
  ``AMOEBA_INFLIGHT_CAP`` (default 2) or more mutated children still running lose to every
  other, so that a parent whose children are still training is not mutated again and again.

Eleventh round (2026-12-06), with ``tpe_probability=0.35``:

- ``screen``: with probability ``AMOEBA_SCREEN`` (default 1) a mutated child is, of
  ``AMOEBA_SCREEN_CANDIDATES`` (default 4) unseen one-change neighbours of the parent drawn
  at random, the one an additive model scores best: ridge regression (penalty
  ``AMOEBA_SCREEN_RIDGE``, default 1) on one-hot columns of the parameters, fitted to every
  evaluated set's mean weighted by its count (categorical spaces only). The library's
  ``mutation_candidates`` (kept) fits the same model to the population's sets only; variants
  here pass ``mutation_candidates=1`` so that ``screen`` is the only screening.

Thirteenth round (2026-12-07, for the asynchronous simulator under noise): which set a
re-evaluation repeats while others are being evaluated. The library then passed over sets
being evaluated now (the best upper bound among the rest); these take the best upper bound
over every set of the population:

- ``busyskip``: a new child instead when that set is being evaluated;
- ``busyrepeat``: that set, evaluated once more at the same time;
- ``busypending``: each set's bound counts its running evaluations as evaluations (the mean
  plus one pooled standard deviation over the square root of both counts), so that
  concurrent repeats of one set narrow its bound;
- ``busycap``: sets with ``AMOEBA_BUSY_CAP`` (default 2) or more running evaluations are
  passed over (the library's rule was a cap of 1, ``busyrepeat`` has no cap). Since the
  fourteenth round the library's rule is this one with a cap of 2.

Fourteenth round (2026-12-07): ``busycap`` with a cap of 2 only where it seemed to cost:

- ``busycapconf``: a cap of 1 for sets evaluated once, ``AMOEBA_BUSY_CAP`` for the others;
- ``busycaplate``: a cap of 1 until ``AMOEBA_BUSY_AFTER`` (default 1) populations of results
  have come back, ``AMOEBA_BUSY_CAP`` after.

Run one variant per ``benchmarks.compare`` call (``pess``, ``shrink``, ``fresh``, ``histre``,
``lucb``, ``ucb``, ``fillpressure``, ``cap``, ``ttts``, ``inflight`` and the thirteenth
round's patch the sampler's modules for the whole process),
from the repository root:

    AMOEBA_VARIANT=pess PYTHONPATH=benchmarks/results/noise_tuning:. \\
        python -m benchmarks.compare --problem nats-noisy --noise-sigma 0.3 \\
        --data ../shared/data/nats_tss_cifar10.csv \\
        --samplers variants:Variant --n-trials 300 --seeds 1000 --first-seed 30000 --jobs 2 \\
        --out /tmp/tune/s0.3_pess

Settings any user can pass need no code: ``--samplers 'amoeba[sample_size=10]'``. Results in
this folder's README.md.
"""

from __future__ import annotations

from collections.abc import Collection
from collections.abc import Hashable
from collections.abc import Mapping
from collections.abc import Sequence
import functools
import math
import os
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalDistribution
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_amoeba import _reevaluation
from optuna_amoeba import _sampler
from optuna_amoeba import AgingEvolutionSampler
from optuna_amoeba._mutation import mutate
from optuna_amoeba._mutation import MutationPlan
from optuna_amoeba._population import Member
from optuna_amoeba._population import Observations
from optuna_amoeba._population import params_key
from optuna_amoeba._population import PopulationTracker
from optuna_amoeba._reevaluation import MAX_RUNNING_EVALUATIONS
from optuna_amoeba._reevaluation import reevaluation_target
from optuna_amoeba._selection import tournament
from optuna_amoeba._tpe import TPE_PHASE_POPULATIONS
from optuna_amoeba._tpe import tpe_proposal


VARIANT = set(os.environ.get("AMOEBA_VARIANT", "base").split("_"))
PESSIMISM = float(os.environ.get("AMOEBA_PESSIMISM", "1.0"))
TWO_STEP = float(os.environ.get("AMOEBA_TWO_STEP", "0.3"))
CROSSOVER = 0.5
GUIDE_FRACTION = 0.2
TPE_MIX = float(os.environ.get("AMOEBA_TPE_MIX", "0.2"))
TPE_UNTIL = int(os.environ.get("AMOEBA_TPE_UNTIL", "1000000000"))
TPE_FROM = int(os.environ.get("AMOEBA_TPE_FROM", "0"))
UCB_WIDTH = float(os.environ.get("AMOEBA_UCB_WIDTH", "2.0"))
CONFIRMED_AFTER = int(os.environ.get("AMOEBA_CONFIRMED_AFTER", "3"))
PHASE_REEVALUATION = float(os.environ.get("AMOEBA_PHASE_REEVALUATION", "0.0"))
FILL_POPULATION = int(os.environ.get("AMOEBA_FILL_POPULATION", "50"))
NOISY_TPE = float(os.environ.get("AMOEBA_NOISY_TPE", "0.65"))
INFLIGHT_CAP = int(os.environ.get("AMOEBA_INFLIGHT_CAP", "2"))
REEVALUATION_CAP = int(os.environ.get("AMOEBA_REEVALUATION_CAP", "4"))
SCREEN = float(os.environ.get("AMOEBA_SCREEN", "1.0"))
SCREEN_CANDIDATES = int(os.environ.get("AMOEBA_SCREEN_CANDIDATES", "4"))
SCREEN_RIDGE = float(os.environ.get("AMOEBA_SCREEN_RIDGE", "1.0"))
BUSY_CAP = int(os.environ.get("AMOEBA_BUSY_CAP", "2"))
BUSY_AFTER = float(os.environ.get("AMOEBA_BUSY_AFTER", "1"))


def _pessimistic_mean(self: PopulationTracker, member: Member) -> float:
    """Mean minus PESSIMISM pooled standard errors (the NATS tables maximise)."""
    observations = self.observations[member.identity]
    count = max(observations.count, 1)
    return observations.estimate - PESSIMISM * self.noise_std / math.sqrt(count)


def _shrunk_mean(self: PopulationTracker, member: Member) -> float:
    """Posterior mean of a normal model: the member's mean pulled towards the population's."""
    observations = self.observations[member.identity]
    estimate, noise = observations.estimate, self.noise_std
    if not math.isfinite(estimate) or noise == 0:
        return estimate
    means = [self.observations[other.identity].estimate for other in self.members]
    means = [mean for mean in means if math.isfinite(mean)]
    centre = sum(means) / len(means)
    spread = sum((mean - centre) ** 2 for mean in means) / max(1, len(means) - 1)
    prior_variance = max(spread - noise**2, 1e-6)
    precision = observations.count / noise**2
    weight = precision / (precision + 1 / prior_variance)
    return weight * estimate + (1 - weight) * centre


_plain_tournament = tournament
_evaluated: set[Any] = set()


def _exhausted(member: Member) -> bool:
    """Whether every parameter set one categorical change from ``member`` was evaluated."""
    for name, distribution in member.distributions.items():
        if not isinstance(distribution, CategoricalDistribution):
            return False
        for choice in distribution.choices:
            if choice != member.params[name]:
                neighbour = {**member.params, name: choice}
                if params_key(neighbour) not in _evaluated:
                    return False
    return True


def _fresh_tournament(
    population: Sequence[Member],
    sample_size: int,
    directions: Sequence[Any],
    rng: np.random.RandomState,
    fitness: Sequence[float] | None = None,
) -> Member:
    keep = [index for index, member in enumerate(population) if not _exhausted(member)]
    if keep and len(keep) < len(population):
        population = [population[index] for index in keep]
        if fitness is not None:
            fitness = [fitness[index] for index in keep]
    return _plain_tournament(population, sample_size, directions, rng, fitness)


_history: dict[Any, Member] = {}


def _history_target(
    tracker: PopulationTracker, direction: Any, busy: Collection[Any]
) -> Member | None:
    """Re-evaluation over every set the study evaluated, not only the population's.

    ``histre``: the highest upper confidence bound; ``lucb``: of the leader (the best lower
    bound, the set ``recommend_by_mean`` would keep) and its strongest challenger (the best
    upper bound among the others), the one with fewer evaluations.
    """
    noise = tracker.noise_std
    sign = 1.0 if direction == StudyDirection.MAXIMIZE else -1.0
    candidates = [
        (key, tracker.observations[key])
        for key in _history
        if key not in busy and math.isfinite(tracker.observations[key].estimate)
    ]
    if not candidates:
        return None

    def upper(item: tuple[Any, Observations]) -> float:
        return sign * item[1].mean + noise / math.sqrt(item[1].count)

    def lower(item: tuple[Any, Observations]) -> float:
        return sign * item[1].mean - noise / math.sqrt(item[1].count)

    if "lucb" not in VARIANT:
        return _history[max(candidates, key=upper)[0]]
    leader = max(candidates, key=lower)
    others = [item for item in candidates if item[0] != leader[0]]
    if not others:
        return _history[leader[0]]
    challenger = max(others, key=upper)
    chosen = leader if leader[1].count < challenger[1].count else challenger
    return _history[chosen[0]]


def _capped_target(
    tracker: PopulationTracker, direction: Any, running: Mapping[Hashable, int]
) -> Member | None:
    """``cap``: the library's re-evaluation target among the sets evaluated fewer than
    ``AMOEBA_REEVALUATION_CAP`` times (confirmation of new leaders unchanged)."""
    skipped = dict(running)
    for member in tracker.members:
        if tracker.observations[member.identity].count >= REEVALUATION_CAP:
            skipped[member.identity] = MAX_RUNNING_EVALUATIONS
    return reevaluation_target(tracker, direction, skipped)


_ttts_rng = np.random.RandomState(int(os.environ.get("AMOEBA_TTTS_SEED", "0")))


def _top_two_target(
    tracker: PopulationTracker, direction: Any, busy: Collection[Any]
) -> Member | None:
    """``ttts``: top-two Thompson sampling over the population's sets: draw each set's value
    from a normal around its mean (pooled noise over the square root of its count); the
    set drawn best is re-evaluated with probability 1/2, else the best of a fresh draw that
    differs from it (up to 20 draws)."""
    sign = 1.0 if direction == StudyDirection.MAXIMIZE else -1.0
    newest: dict[Any, Member] = {}
    for member in tracker.members:
        observations = tracker.observations[member.identity]
        if (
            member.identity not in busy
            and member.identity not in tracker.unrepeatable
            and math.isfinite(observations.estimate)
        ):
            newest[member.identity] = member
    if not newest:
        return None
    keys = list(newest)
    means = np.array([sign * tracker.observations[key].mean for key in keys])
    spread = np.array(
        [tracker.noise_std / math.sqrt(tracker.observations[key].count) for key in keys]
    )

    def draw() -> int:
        return int(np.argmax(means + spread * _ttts_rng.standard_normal(len(keys))))

    leader = draw()
    if _ttts_rng.rand() < 0.5:
        return newest[keys[leader]]
    for _ in range(20):
        challenger = draw()
        if challenger != leader:
            return newest[keys[challenger]]
    return newest[keys[leader]]


def _busy_cap(tracker: PopulationTracker, observations: Observations) -> float:
    """Running evaluations at which a set is passed over: ``busycap`` ``AMOEBA_BUSY_CAP``;
    ``busycapconf`` that for sets evaluated twice or more, else 1; ``busycaplate`` that once
    ``AMOEBA_BUSY_AFTER`` populations have finished, else 1; no cap otherwise."""
    if "busycap" in VARIANT:
        return BUSY_CAP
    if "busycapconf" in VARIANT:
        return BUSY_CAP if observations.count >= 2 else 1
    if "busycaplate" in VARIANT:
        return BUSY_CAP if tracker.num_eligible >= BUSY_AFTER * tracker.population_size else 1
    return math.inf


def _busy_target(
    tracker: PopulationTracker, direction: Any, running: Mapping[Hashable, int]
) -> Member | None:
    """``busyskip``, ``busyrepeat``, ``busypending``, ``busycap``: the best upper bound over
    every set, those being evaluated now included. ``busyskip``: ``None`` (a new child) when
    that set is being evaluated; ``busyrepeat``: that set, evaluated once more at the same
    time; ``busypending``: each set's bound counts its running evaluations as evaluations
    (the mean plus one pooled standard deviation over the square root of evaluations plus
    running ones), so that concurrent repeats of one set narrow its bound; ``busycap``,
    ``busycapconf``, ``busycaplate``: ``busyrepeat`` passing over sets with as many running
    evaluations as :func:`_busy_cap` allows."""
    sign = 1.0 if direction == StudyDirection.MAXIMIZE else -1.0
    newest: dict[Hashable, Member] = {}
    for member in tracker.members:
        if math.isfinite(tracker.observations[member.identity].estimate):
            newest[member.identity] = member
    best: tuple[float, Member] | None = None
    for key, member in newest.items():
        if key in tracker.unrepeatable:
            continue
        observations = tracker.observations[key]
        if running.get(key, 0) >= _busy_cap(tracker, observations):
            continue
        count = observations.count + (running.get(key, 0) if "busypending" in VARIANT else 0)
        bound = sign * observations.mean + tracker.noise_std / math.sqrt(count)
        if best is None or bound > best[0]:
            best = (bound, member)
    if best is None or ("busyskip" in VARIANT and best[1].identity in running):
        return None
    return best[1]


if "ttts" in VARIANT:
    _sampler.reevaluation_target = _top_two_target  # type: ignore[attr-defined,assignment]
if VARIANT & {"busyskip", "busyrepeat", "busypending", "busycap", "busycapconf", "busycaplate"}:
    _sampler.reevaluation_target = _busy_target  # type: ignore[attr-defined,assignment]
if "cap" in VARIANT:
    _sampler.reevaluation_target = _capped_target  # type: ignore[attr-defined,assignment]
if "ucb" in VARIANT:
    _sampler.reevaluation_target = functools.partial(  # type: ignore[attr-defined]
        reevaluation_target, width=UCB_WIDTH
    )
if "histre" in VARIANT or "lucb" in VARIANT:
    _sampler.reevaluation_target = _history_target  # type: ignore[attr-defined,assignment]
if "pess" in VARIANT:
    PopulationTracker.mean_value = _pessimistic_mean  # type: ignore[method-assign]
if "shrink" in VARIANT:
    PopulationTracker.mean_value = _shrunk_mean  # type: ignore[method-assign]
if "fresh" in VARIANT:
    _sampler.tournament = _fresh_tournament  # type: ignore[attr-defined]
if "confirm" in VARIANT:
    _reevaluation.CONFIRMED_AFTER = CONFIRMED_AFTER


def _fill_tournament(
    population: Sequence[Member],
    sample_size: int,
    directions: Sequence[Any],
    rng: np.random.RandomState,
    fitness: Sequence[float] | None = None,
) -> Member:
    """A tournament whose size follows the population's fill, so that its pressure stays
    ``sample_size / FILL_POPULATION`` while the population fills."""
    size = max(1, sample_size * len(population) // FILL_POPULATION)
    return _plain_tournament(population, min(size, sample_size), directions, rng, fitness)


if "fillpressure" in VARIANT:
    _sampler.tournament = _fill_tournament  # type: ignore[attr-defined]

_children_in_flight: dict[int, int] = {}


def _inflight_tournament(
    population: Sequence[Member],
    sample_size: int,
    directions: Sequence[Any],
    rng: np.random.RandomState,
    fitness: Sequence[float] | None = None,
) -> Member:
    """``inflight``: of the drawn members, those with ``AMOEBA_INFLIGHT_CAP`` or more mutated
    children still running lose to every other (among themselves, by fitness as usual)."""
    if fitness is None or not _children_in_flight:
        return _plain_tournament(population, sample_size, directions, rng, fitness)
    worse = -1e9 if directions[0] == StudyDirection.MAXIMIZE else 1e9
    shifted = [
        value + worse if _children_in_flight.get(member.number, 0) >= INFLIGHT_CAP else value
        for member, value in zip(population, fitness, strict=True)
    ]
    return _plain_tournament(population, sample_size, directions, rng, shifted)


if "inflight" in VARIANT:
    _sampler.tournament = _inflight_tournament  # type: ignore[attr-defined]


class Variant(AgingEvolutionSampler):
    def __init__(self, *, seed: int | None = None, **kwargs: Any) -> None:
        # The variants change the sampler as it was before the fifth round (no TPE phase)
        # and before the eleventh (no screened mutation).
        kwargs.setdefault("tpe_probability", 0.0)
        kwargs.setdefault("mutation_candidates", 1)
        super().__init__(seed=seed, **kwargs)
        self._asking: tuple[Any, FrozenTrial] | None = None
        self._trials: Sequence[FrozenTrial] = ()
        self._set_reevaluation = self.reevaluation_probability
        self._set_tpe = self.tpe_probability

    def sample_relative(
        self, study: Any, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if "tpemix" in VARIANT and not trial.system_attrs.get("fixed_params"):
            tracker, trials = self._refresh(study)
            if self._tpe_draw(tracker):
                proposal = tpe_proposal(self._tpe, study, trial, search_space, self._rng)
                if not tracker.is_seen(proposal, tracker.running_counts(trials, trial.number)):
                    self._record(study, trial, parent=None, mutation="tpe", steps=0)
                    self._publish(study, trial, tracker, proposal)
                    return proposal
        self._asking = (study, trial)
        if "phasecoin" in VARIANT:
            self._reevaluation_probability = self._set_reevaluation
        return super().sample_relative(study, trial, search_space)

    def _tpe_draw(self, tracker: PopulationTracker) -> bool:
        """Whether ``tpemix`` / ``tpechild`` hand this trial to TPE: inside the window of
        completed trials, with probability ``AMOEBA_TPE_MIX`` (no draw outside it)."""
        if not max(self._n_startup_trials, TPE_FROM) <= tracker.num_eligible < TPE_UNTIL:
            return False
        return bool(self._rng.rand() < TPE_MIX)

    def _tpe_turn(self, tracker: PopulationTracker) -> bool:
        if (
            "phasecoin" in VARIANT
            and tracker.num_eligible < TPE_PHASE_POPULATIONS * self.population_size
        ):
            # This ask's re-evaluation coin; restored at the next ask, before confirmation.
            self._reevaluation_probability = PHASE_REEVALUATION
        if "noisytpe" in VARIANT:
            noisy = tracker.differing_repeats > 0
            self._tpe_probability = NOISY_TPE if noisy else self._set_tpe
        return super()._tpe_turn(tracker)

    def _refresh(self, study: Any) -> tuple[PopulationTracker, Sequence[FrozenTrial]]:
        tracker, trials = super()._refresh(study)
        self._trials = trials
        global _evaluated
        _evaluated = tracker.evaluated
        if "inflight" in VARIANT:
            _children_in_flight.clear()
            for trial in trials:
                parent = trial.system_attrs.get(_sampler.PARENT_KEY)
                mutation = trial.system_attrs.get(_sampler.MUTATION_KEY)
                if (
                    trial.state == TrialState.RUNNING
                    and isinstance(parent, int)
                    and mutation in ("identity", "hidden_state", "op", "param")
                ):
                    _children_in_flight[parent] = _children_in_flight.get(parent, 0) + 1
        if "histre" in VARIANT or "lucb" in VARIANT:
            _history.clear()
            for trial in trials:
                if trial.state == TrialState.COMPLETE and trial.datetime_complete is not None:
                    key = params_key(trial.params)
                    _history[key] = Member(
                        number=trial.number,
                        values=tuple(trial.values),
                        params=trial.params,
                        distributions=trial.distributions,
                        completed_at=trial.datetime_complete,
                        identity=key,
                    )
        return tracker, trials

    def _noise_possible(self, tracker: PopulationTracker) -> bool:
        if "fullpop" in VARIANT and tracker.num_eligible < self.population_size:
            return False
        if "ramp" in VARIANT:
            fullness = min(1.0, tracker.num_eligible / self.population_size)
            self._reevaluation_probability = self._set_reevaluation * fullness
        return super()._noise_possible(tracker)

    def _mutate_without_repeats(
        self,
        parent: dict[str, Any],
        search_space: dict[str, BaseDistribution],
        plan: MutationPlan,
        tracker: PopulationTracker,
        running: Collection[Hashable],
    ) -> tuple[dict[str, Any], str, int, Hashable | None]:
        trials = self._trials

        def seen(params: dict[str, Any]) -> bool:
            return tracker.is_seen(params, running)

        if "screen" in VARIANT and self._rng.rand() < SCREEN:
            screened = self._screened(parent, search_space, trials, seen)
            if screened is not None:
                return screened, "param", 1, params_key(screened)
        if "tpechild" in VARIANT and self._tpe_draw(tracker):
            assert self._asking is not None
            study, trial = self._asking
            proposal = tpe_proposal(self._tpe, study, trial, search_space, self._rng)
            if not seen(proposal):
                return proposal, "tpe", 1, params_key(proposal)
        if "guided" in VARIANT:
            child = self._guided(parent, search_space, trials, seen)
            return child, "param", 1, tracker.unseen_key(child, running)
        if "crossover" in VARIANT and self._rng.rand() < CROSSOVER:
            members = tracker.members
            fitness = [tracker.mean_value(member) for member in members]
            other = tournament(members, self.sample_size, tracker.directions, self._rng, fitness)
            child = {
                name: other.params[name]
                if name in other.params and self._rng.rand() < 0.5
                else value
                for name, value in parent.items()
            }
            if child != parent and not seen(child):
                return child, "crossover", 1, params_key(child)
            parent = child
        if "twostep" in VARIANT and self._rng.rand() < TWO_STEP:
            parent, _ = mutate(
                parent,
                search_space,
                plan,
                self._rng,
                identity_probability=0.0,
                hidden_state_probability=self._hidden_state_probability,
            )
        return super()._mutate_without_repeats(parent, search_space, plan, tracker, running)

    def _screened(
        self,
        parent: dict[str, Any],
        search_space: dict[str, BaseDistribution],
        trials: Sequence[FrozenTrial],
        seen: Any,
    ) -> dict[str, Any] | None:
        """``screen``: of ``AMOEBA_SCREEN_CANDIDATES`` unseen one-change neighbours of the
        parent drawn at random, the one an additive model of the parameters' values scores
        best (ridge regression on one-hot columns over every evaluated set's mean, weighted by
        its count); ``None`` outside categorical spaces or when every neighbour was seen."""
        if not all(isinstance(d, CategoricalDistribution) for d in search_space.values()):
            return None
        neighbours = [
            {**parent, name: choice}
            for name, distribution in search_space.items()
            for choice in distribution.choices  # type: ignore[attr-defined]
            if choice != parent[name]
        ]
        unseen = [neighbour for neighbour in neighbours if not seen(neighbour)]
        if not unseen:
            return None
        drawn = self._rng.choice(
            len(unseen), size=min(SCREEN_CANDIDATES, len(unseen)), replace=False
        )
        candidates = [unseen[int(index)] for index in drawn]
        if len(candidates) == 1:
            return candidates[0]
        columns = {
            (name, choice): column
            for column, (name, choice) in enumerate(
                (name, choice)
                for name, distribution in search_space.items()
                for choice in distribution.choices  # type: ignore[attr-defined]
            )
        }

        def encode(params: dict[str, Any]) -> np.ndarray:
            row = np.zeros(len(columns))
            for name in search_space:
                row[columns[(name, params[name])]] = 1.0
            return row

        sets: dict[Any, list[Any]] = {}
        for trial in trials:
            if trial.state != TrialState.COMPLETE or not math.isfinite(trial.values[0]):
                continue
            if any(name not in trial.params for name in search_space):
                continue
            entry = sets.setdefault(params_key(trial.params), [trial.params, 0.0, 0])
            entry[1] += trial.values[0]
            entry[2] += 1
        if len(sets) < 2:
            return candidates[0]
        design = np.array([encode(params) for params, _, _ in sets.values()])
        means = np.array([total / count for _, total, count in sets.values()])
        weights = np.array([count for _, _, count in sets.values()], dtype=float)
        centre = float(np.average(means, weights=weights))
        gram = design.T @ (design * weights[:, None]) + SCREEN_RIDGE * np.eye(len(columns))
        coefficients = np.linalg.solve(gram, design.T @ (weights * (means - centre)))
        assert self._asking is not None
        sign = 1.0 if self._asking[0].direction == StudyDirection.MAXIMIZE else -1.0
        scores = [sign * float(encode(candidate) @ coefficients) for candidate in candidates]
        return candidates[int(np.argmax(scores))]

    def _guided(
        self,
        parent: dict[str, Any],
        search_space: dict[str, BaseDistribution],
        trials: Sequence[FrozenTrial],
        seen: Any,
    ) -> dict[str, Any]:
        completed = [trial for trial in trials if trial.state == TrialState.COMPLETE]
        completed.sort(key=lambda trial: -trial.values[0])
        best = completed[: max(1, int(len(completed) * GUIDE_FRACTION))]
        names = list(search_space)
        child = dict(parent)
        retries = self._max_dedup_retries
        for attempt in range(retries + 1):
            base = parent if attempt < retries // 2 else child
            child = dict(base)
            name = names[self._rng.randint(len(names))]
            distribution = search_space[name]
            assert isinstance(distribution, CategoricalDistribution)
            choices = [choice for choice in distribution.choices if choice != base[name]]
            weights = np.array(
                [
                    1.0 + sum(trial.params.get(name) == choice for trial in best)
                    for choice in choices
                ]
            )
            child[name] = choices[self._rng.choice(len(choices), p=weights / weights.sum())]
            if not seen(child):
                break
        return child
