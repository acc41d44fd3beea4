"""Optuna's own sampler contract tests, for the random phase and the evolution phase."""

from __future__ import annotations

from collections.abc import Callable

import optuna
from optuna.testing.pytest_samplers import BasicSamplerTestCase
from optuna.testing.pytest_samplers import MultiObjectiveSamplerTestCase
from optuna.testing.pytest_samplers import RelativeSamplerTestCase
import pytest

from optuna_amoeba import AgingEvolutionSampler


class TestDefaultSampler(
    BasicSamplerTestCase, RelativeSamplerTestCase, MultiObjectiveSamplerTestCase
):
    @pytest.fixture
    def sampler(self) -> Callable[[], optuna.samplers.BaseSampler]:
        return lambda: AgingEvolutionSampler(seed=0)


class TestEvolvingFromTheFirstTrial(
    BasicSamplerTestCase, RelativeSamplerTestCase, MultiObjectiveSamplerTestCase
):
    """P=1, S=1: every trial after the first is a mutation, so the contract covers it."""

    @pytest.fixture
    def sampler(self) -> Callable[[], optuna.samplers.BaseSampler]:
        return lambda: AgingEvolutionSampler(population_size=1, sample_size=1, seed=0)


class TestNonAgingWithoutDedup(BasicSamplerTestCase, RelativeSamplerTestCase):
    @pytest.fixture
    def sampler(self) -> Callable[[], optuna.samplers.BaseSampler]:
        return lambda: AgingEvolutionSampler(
            population_size=2, sample_size=2, aging=False, dedup=False, seed=1
        )
