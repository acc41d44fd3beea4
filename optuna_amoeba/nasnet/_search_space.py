"""The NASNet cell search space as Optuna categorical parameters.

Each block of each cell is four parameters, e.g. for block 2 of the normal cell
``normal_b2_input_a`` (choices ``0..3``), ``normal_b2_op_a`` (choices: the operations),
``normal_b2_input_b`` and ``normal_b2_op_b``: 40 parameters for the paper's 5 blocks.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalDistribution

from optuna_amoeba._checks import check_int
from optuna_amoeba.nasnet._genotype import CELL_TYPES
from optuna_amoeba.nasnet._genotype import check_operations
from optuna_amoeba.nasnet._genotype import Genotype
from optuna_amoeba.nasnet._genotype import input_param
from optuna_amoeba.nasnet._genotype import NUM_INPUT_STATES
from optuna_amoeba.nasnet._genotype import op_param
from optuna_amoeba.nasnet._genotype import OPERATIONS
from optuna_amoeba.nasnet._genotype import parse_param_name
from optuna_amoeba.nasnet._genotype import SLOTS


if TYPE_CHECKING:
    import optuna


DEFAULT_NUM_BLOCKS = 5


def search_space(
    num_blocks: int = DEFAULT_NUM_BLOCKS, operations: Iterable[str] = OPERATIONS
) -> dict[str, BaseDistribution]:
    """The Optuna distributions of the encoding, in suggestion order."""
    check_int("num_blocks", num_blocks, 1)
    ops = check_operations(operations)
    space: dict[str, BaseDistribution] = {}
    for cell_type in CELL_TYPES:
        for block in range(num_blocks):
            states = tuple(range(block + NUM_INPUT_STATES))
            for slot in SLOTS:
                space[input_param(cell_type, block, slot)] = CategoricalDistribution(states)
                space[op_param(cell_type, block, slot)] = CategoricalDistribution(ops)
    return space


def suggest_genotype(
    trial: optuna.trial.BaseTrial,
    num_blocks: int = DEFAULT_NUM_BLOCKS,
    operations: Iterable[str] = OPERATIONS,
) -> Genotype:
    """Suggest a normal and a reduction cell of ``num_blocks`` blocks each."""
    ops = check_operations(operations)
    params = {}
    for name, distribution in search_space(num_blocks, ops).items():
        assert isinstance(distribution, CategoricalDistribution)
        params[name] = trial.suggest_categorical(name, distribution.choices)
    return Genotype.from_params(params, num_blocks, ops)


@dataclass(frozen=True)
class NASNetSpace:
    """A complete NASNet encoding found inside a search space (see :meth:`detect`)."""

    num_blocks: int
    operations: tuple[str, ...]

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(search_space(self.num_blocks, self.operations))

    @classmethod
    def detect(cls, space: Mapping[str, BaseDistribution]) -> NASNetSpace | None:
        """The encoding if ``space`` holds all of its parameters with the right choices."""
        blocks_seen = [parsed.block for name in space if (parsed := parse_param_name(name))]
        if not blocks_seen:
            return None
        op_distribution = space.get(op_param("normal", 0, "a"))
        if not isinstance(op_distribution, CategoricalDistribution):
            return None
        try:
            operations = check_operations(op_distribution.choices)  # type: ignore[arg-type]
        except ValueError:
            return None
        candidate = cls(num_blocks=max(blocks_seen) + 1, operations=operations)
        expected = search_space(candidate.num_blocks, candidate.operations)
        if all(space.get(name) == distribution for name, distribution in expected.items()):
            return candidate
        return None
