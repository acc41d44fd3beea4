"""Searchers from other libraries, driven through their own ask/tell APIs as Optuna samplers.

- :class:`SyneTuneRegularizedEvolutionSampler`: Syne Tune's ``RegularizedEvolution``
  searcher (``suggest`` / ``on_trial_complete``; no Syne Tune backend or scheduler).
- :class:`NevergradSampler`: a Nevergrad optimizer (``ask`` / ``tell``), by default
  ``DiscreteOnePlusOne``, the (1+1) evolutionary algorithm with discrete mutations.

Both libraries are optional (``pip install 'optuna-amoeba[peers]'``); the samplers raise a
``ValueError`` naming the extra when theirs is missing. They need a fixed search space: the
first trial that holds parameters defines it, and trials are proposed at random (each
library's own way) until one does. Every completed trial, in completion order, is told to
the searcher before it is asked for the next one, whoever proposed it; running trials are
not told (neither searcher models pending evaluations). Single-objective studies only.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
from optuna.samplers import BaseSampler
from optuna.samplers import RandomSampler
from optuna.study import Study
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState


PEERS_EXTRA = "pip install 'optuna-amoeba[peers]'"


def _missing(library: str, package: str) -> ValueError:
    return ValueError(
        f"{library} is not installed: {PEERS_EXTRA} (or pip install {package}) to use it"
    )


def _check_int(name: str, value: int, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")


def _check_seed(seed: int | None) -> None:
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32
    ):
        raise ValueError(f"seed must be None or an int in [0, 2**32 - 1], got {seed!r}")


class _SearcherSampler(BaseSampler):
    """Shared plumbing: a fixed search space, completions told in order, random fallback."""

    def __init__(self, seed: int | None) -> None:
        self._seed = seed
        self._space: dict[str, BaseDistribution] | None = None
        self._built = False
        self._told: set[int] = set()
        self._random = RandomSampler(seed=seed)

    def reseed_rng(self) -> None:
        self._random.reseed_rng()

    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        if self._space is None:
            for other in study.get_trials(deepcopy=False):
                if other.number != trial.number and other.distributions:
                    self._space = dict(other.distributions)
                    break
        return dict(self._space or {})

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        if len(study.directions) != 1:
            raise ValueError(
                f"{type(self).__name__} supports single-objective studies only, got "
                f"{len(study.directions)} objectives"
            )
        if not self._built:
            self._build(search_space)
            self._built = True
        sign = 1.0 if study.direction == StudyDirection.MINIMIZE else -1.0
        completed = [
            t
            for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.number not in self._told
        ]
        completed.sort(key=lambda t: (t.datetime_complete is None, t.datetime_complete, t.number))
        for done in completed:
            self._told.add(done.number)
            value = done.value
            if value is None or not math.isfinite(value):
                continue
            if all(name in done.params for name in search_space):
                config = {name: done.params[name] for name in search_space}
                self._tell(done.number, config, sign * value)
        return self._ask(trial.number)

    def _build(self, search_space: dict[str, BaseDistribution]) -> None:
        raise NotImplementedError

    def _ask(self, number: int) -> dict[str, Any]:
        raise NotImplementedError

    def _tell(self, number: int, config: dict[str, Any], loss: float) -> None:
        raise NotImplementedError

    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        return self._random.sample_independent(study, trial, param_name, param_distribution)


class SyneTuneRegularizedEvolutionSampler(_SearcherSampler):
    """Syne Tune's ``RegularizedEvolution`` searcher as an Optuna sampler.

    Syne Tune's algorithm as it is: random configurations until ``population_size``
    results have come in, then a mutation (one parameter resampled to a different value) of
    the best of ``sample_size`` members drawn with replacement; the oldest member leaves.
    Its random phase draws from NumPy's *global* generator, so a ``seed`` also seeds
    ``np.random`` (a side effect on the process). Parameters the searcher does not cover
    are drawn the same way.

    Args:
        population_size: P, Syne Tune's default 100.
        sample_size: S, Syne Tune's default 10.
        seed: Seeds the searcher and NumPy's global generator.

    Raises:
        ValueError: Syne Tune is not installed, or an argument is out of range.
    """

    def __init__(
        self, *, population_size: int = 100, sample_size: int = 10, seed: int | None = None
    ) -> None:
        _check_int("population_size", population_size, 1)
        _check_int("sample_size", sample_size, 1)
        _check_seed(seed)
        try:
            from syne_tune.optimizer.schedulers.searchers.regularized_evolution import (
                RegularizedEvolution,
            )
        except ImportError:
            raise _missing("Syne Tune", "syne-tune") from None
        super().__init__(seed)
        self._searcher_class = RegularizedEvolution
        self._population_size = population_size
        self._sample_size = sample_size
        self._searcher: Any = None
        if seed is not None:
            np.random.seed(seed)

    def _build(self, search_space: dict[str, BaseDistribution]) -> None:
        config_space = {name: _syne_tune_domain(name, d) for name, d in search_space.items()}
        self._searcher = self._searcher_class(
            config_space,
            population_size=self._population_size,
            sample_size=self._sample_size,
            random_seed=self._seed,
        )

    def _ask(self, number: int) -> dict[str, Any]:
        config = self._searcher.suggest()
        return {} if config is None else dict(config)

    def _tell(self, number: int, config: dict[str, Any], loss: float) -> None:
        self._searcher.on_trial_complete(number, config, loss)

    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        return _syne_tune_domain(param_name, param_distribution).sample()


def _syne_tune_domain(name: str, distribution: BaseDistribution) -> Any:
    from syne_tune import config_space as cs

    if isinstance(distribution, CategoricalDistribution):
        choices = list(distribution.choices)
        if len({type(choice) for choice in choices}) != 1 or choices[0] is None:
            raise ValueError(
                f"parameter {name!r}: Syne Tune needs categorical choices of one type "
                f"(str, int, float or bool), got {choices!r}"
            )
        return cs.choice(choices)
    if isinstance(distribution, IntDistribution) and distribution.step == 1:
        make = cs.lograndint if distribution.log else cs.randint
        return make(distribution.low, distribution.high)
    if isinstance(distribution, FloatDistribution) and distribution.step is None:
        make = cs.loguniform if distribution.log else cs.uniform
        return make(distribution.low, distribution.high)
    raise ValueError(
        f"parameter {name!r}: {distribution!r} is not supported (categorical, int with "
        "step 1, or float without step)"
    )


class NevergradSampler(_SearcherSampler):
    """A Nevergrad optimizer, driven by ``ask`` / ``tell``, as an Optuna sampler.

    Categorical parameters become deterministic ``ng.p.Choice``, numbers ``ng.p.Scalar``
    (``ng.p.Log`` on a log scale). Parameters outside the fixed search space, and the
    trials before it is known, are drawn by a seeded :class:`~optuna.samplers.RandomSampler`.

    Args:
        optimizer: A name in ``nevergrad.optimizers.registry``. Default
            ``DiscreteOnePlusOne``: a (1+1) evolutionary algorithm with uniform discrete
            mutations, the family Nevergrad suggests for discrete spaces.
        budget: The number of evaluations, for optimizers that plan by it (``None``:
            unknown).
        num_workers: Evaluations that may run at once (asynchronous workers).
        seed: Seeds the parametrization's generator, which the optimizer draws from.

    Raises:
        ValueError: Nevergrad is not installed, the optimizer is unknown, or an argument is
            out of range.
    """

    def __init__(
        self,
        *,
        optimizer: str = "DiscreteOnePlusOne",
        budget: int | None = None,
        num_workers: int = 1,
        seed: int | None = None,
    ) -> None:
        if budget is not None:
            _check_int("budget", budget, 1)
        _check_int("num_workers", num_workers, 1)
        _check_seed(seed)
        try:
            import nevergrad
        except ImportError:
            raise _missing("Nevergrad", "nevergrad") from None
        if optimizer not in nevergrad.optimizers.registry:
            raise ValueError(
                f"optimizer must be a name in nevergrad.optimizers.registry (e.g. "
                f"DiscreteOnePlusOne, NGOpt, TwoPointsDE), got {optimizer!r}"
            )
        super().__init__(seed)
        self._ng = nevergrad
        self._optimizer_name = optimizer
        self._budget = budget
        self._num_workers = num_workers
        self._optimizer: Any = None
        self._candidates: dict[int, Any] = {}

    def _build(self, search_space: dict[str, BaseDistribution]) -> None:
        ng = self._ng
        parametrization = ng.p.Dict(
            **{name: _nevergrad_parameter(ng, name, d) for name, d in search_space.items()}
        )
        parametrization.random_state = np.random.RandomState(self._seed)
        self._optimizer = ng.optimizers.registry[self._optimizer_name](
            parametrization=parametrization, budget=self._budget, num_workers=self._num_workers
        )

    def _ask(self, number: int) -> dict[str, Any]:
        candidate = self._optimizer.ask()
        self._candidates[number] = candidate
        return dict(candidate.value)

    def _tell(self, number: int, config: dict[str, Any], loss: float) -> None:
        candidate = self._candidates.pop(number, None)
        if candidate is None:  # proposed by someone else: told as a new point
            candidate = self._optimizer.parametrization.spawn_child(new_value=config)
        self._optimizer.tell(candidate, loss)


def _nevergrad_parameter(ng: Any, name: str, distribution: BaseDistribution) -> Any:
    if isinstance(distribution, CategoricalDistribution):
        return ng.p.Choice(list(distribution.choices), deterministic=True)
    if isinstance(distribution, (IntDistribution, FloatDistribution)) and (
        distribution.step is None or isinstance(distribution, IntDistribution)
    ):
        if isinstance(distribution, IntDistribution) and distribution.step != 1:
            raise ValueError(f"parameter {name!r}: int parameters need step 1 for Nevergrad")
        low, high = distribution.low, distribution.high
        parameter = (
            ng.p.Log(lower=low, upper=high)
            if distribution.log
            else ng.p.Scalar(lower=low, upper=high)
        )
        if isinstance(distribution, IntDistribution):
            parameter = parameter.set_integer_casting()
        return parameter
    raise ValueError(
        f"parameter {name!r}: {distribution!r} is not supported (categorical, int with "
        "step 1, or float without step)"
    )
