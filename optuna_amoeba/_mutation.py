"""Mutation operators: the paper's NASNet mutations and a one-parameter mutation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution

from optuna_amoeba._random import sample_different_value
from optuna_amoeba.nasnet import CELL_TYPES
from optuna_amoeba.nasnet import NASNetSpace
from optuna_amoeba.nasnet import NUM_INPUT_STATES
from optuna_amoeba.nasnet._genotype import input_param
from optuna_amoeba.nasnet._genotype import op_param
from optuna_amoeba.nasnet._genotype import SLOTS


IDENTITY = "identity"
HIDDEN_STATE = "hidden_state"
OP = "op"
PARAM = "param"


@dataclass(frozen=True)
class MutationPlan:
    """What can mutate in a search space: a NASNet encoding and/or other parameters."""

    nasnet: NASNetSpace | None
    params: tuple[str, ...]

    @classmethod
    def for_space(cls, search_space: Mapping[str, BaseDistribution]) -> MutationPlan:
        nasnet = NASNetSpace.detect(search_space)
        encoded = set(nasnet.param_names) if nasnet is not None else set()
        params = tuple(
            name
            for name, distribution in search_space.items()
            if name not in encoded and not distribution.single()
        )
        return cls(nasnet=nasnet, params=params)

    @property
    def num_units(self) -> int:
        return len(self.params) + (self.nasnet is not None)


def mutate(
    parent: Mapping[str, Any],
    search_space: Mapping[str, BaseDistribution],
    plan: MutationPlan,
    rng: np.random.RandomState,
    *,
    identity_probability: float,
    hidden_state_probability: float,
) -> tuple[dict[str, Any], str]:
    """One mutation of ``parent``; returns the child and the kind of mutation applied.

    With ``identity_probability`` (or if nothing can change) the child equals the parent.
    Otherwise one unit is chosen uniformly, the NASNet genotype counting as one unit beside
    each other parameter: the genotype gets the paper's mutation, a parameter another value.
    """
    child = dict(parent)
    if plan.num_units == 0 or rng.uniform() < identity_probability:
        return child, IDENTITY
    unit = rng.randint(plan.num_units)
    if unit < len(plan.params):
        name = plan.params[unit]
        child[name] = sample_different_value(search_space[name], parent[name], rng)
        return child, PARAM
    assert plan.nasnet is not None
    kind = _mutate_nasnet(child, plan.nasnet, rng, hidden_state_probability)
    return child, kind


def _mutate_nasnet(
    child: dict[str, Any],
    space: NASNetSpace,
    rng: np.random.RandomState,
    hidden_state_probability: float,
) -> str:
    """Real et al. 2019, section 3: pick a cell, then a hidden-state or an op mutation."""
    cell_type = CELL_TYPES[rng.randint(len(CELL_TYPES))]
    block = rng.randint(space.num_blocks)
    slot = SLOTS[rng.randint(len(SLOTS))]
    if len(space.operations) < 2 or rng.uniform() < hidden_state_probability:
        # Block k reads h0..h{k+1}; any of them keeps the cell acyclic. Block 0 has 2 states,
        # so a different one always exists.
        name = input_param(cell_type, block, slot)
        states = [s for s in range(block + NUM_INPUT_STATES) if s != child[name]]
        child[name] = states[rng.randint(len(states))]
        return HIDDEN_STATE
    name = op_param(cell_type, block, slot)
    ops = [op for op in space.operations if op != child[name]]
    child[name] = ops[rng.randint(len(ops))]
    return OP
