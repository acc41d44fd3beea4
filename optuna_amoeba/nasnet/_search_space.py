"""The NASNet cell search space as Optuna categorical parameters.

Each block of each cell is four parameters, e.g. for block 2 of the normal cell
``normal_b2_input_a`` (choices ``0..3``), ``normal_b2_op_a`` (choices: the operations),
``normal_b2_input_b`` and ``normal_b2_op_b``: 40 parameters for the paper's 5 blocks.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
import re
from typing import TYPE_CHECKING

from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalDistribution

from optuna_amoeba._checks import check_int
from optuna_amoeba.nasnet._genotype import Block
from optuna_amoeba.nasnet._genotype import Cell
from optuna_amoeba.nasnet._genotype import CELL_TYPES
from optuna_amoeba.nasnet._genotype import Genotype
from optuna_amoeba.nasnet._genotype import NUM_INPUT_STATES
from optuna_amoeba.nasnet._genotype import OPERATIONS


if TYPE_CHECKING:
    import optuna


DEFAULT_NUM_BLOCKS = 5
SLOTS: tuple[str, ...] = ("a", "b")
_PARAM_PATTERN = re.compile(r"^(normal|reduction)_b(\d+)_(input|op)_(a|b)$")


def input_param(cell_type: str, block: int, slot: str) -> str:
    return f"{cell_type}_b{block}_input_{slot}"


def op_param(cell_type: str, block: int, slot: str) -> str:
    return f"{cell_type}_b{block}_op_{slot}"


def _check_operations(operations: Iterable[str]) -> tuple[str, ...]:
    ops = tuple(operations)
    if not ops:
        raise ValueError("operations must name at least 1 operation, got none")
    if any(not isinstance(op, str) or not op for op in ops):
        raise ValueError(f"operations must be non-empty strings, got {ops!r}")
    if len(set(ops)) != len(ops):
        raise ValueError(f"operations must not repeat, got {ops!r}")
    return ops


def search_space(
    num_blocks: int = DEFAULT_NUM_BLOCKS, operations: Iterable[str] = OPERATIONS
) -> dict[str, BaseDistribution]:
    """The Optuna distributions of the encoding, in suggestion order."""
    check_int("num_blocks", num_blocks, 1)
    ops = _check_operations(operations)
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
    params = {}
    for name, distribution in search_space(num_blocks, operations).items():
        assert isinstance(distribution, CategoricalDistribution)
        params[name] = trial.suggest_categorical(name, distribution.choices)
    return genotype_from_params(params, num_blocks).validate(operations)


def genotype_from_params(params: Mapping[str, object], num_blocks: int | None = None) -> Genotype:
    """Read a genotype from parameters; ``num_blocks=None`` infers it from the names."""
    if num_blocks is None:
        blocks_seen = [
            int(match.group(2)) for name in params if (match := _PARAM_PATTERN.match(name))
        ]
        if not blocks_seen:
            raise ValueError("params hold no NASNet parameter (e.g. 'normal_b0_input_a')")
        num_blocks = max(blocks_seen) + 1
    check_int("num_blocks", num_blocks, 1)
    cells = []
    for cell_type in CELL_TYPES:
        blocks = []
        for block in range(num_blocks):
            values = {}
            for slot in SLOTS:
                for name in (
                    input_param(cell_type, block, slot),
                    op_param(cell_type, block, slot),
                ):
                    if name not in params:
                        raise ValueError(
                            f"params lack {name!r} for a genotype of {num_blocks} blocks"
                        )
                    values[name] = params[name]
            in_a, in_b = (values[input_param(cell_type, block, slot)] for slot in SLOTS)
            op_a, op_b = (values[op_param(cell_type, block, slot)] for slot in SLOTS)
            blocks.append(Block(input_a=in_a, op_a=op_a, input_b=in_b, op_b=op_b))  # type: ignore[arg-type]
        cells.append(Cell(tuple(blocks)))
    return Genotype(normal=cells[0], reduction=cells[1])


def genotype_to_params(genotype: Genotype) -> dict[str, int | str]:
    params: dict[str, int | str] = {}
    for cell_type, cell in genotype.cells():
        for index, block in enumerate(cell.blocks):
            params[input_param(cell_type, index, "a")] = block.input_a
            params[op_param(cell_type, index, "a")] = block.op_a
            params[input_param(cell_type, index, "b")] = block.input_b
            params[op_param(cell_type, index, "b")] = block.op_b
    return params


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
        blocks_seen = [int(m.group(2)) for name in space if (m := _PARAM_PATTERN.match(name))]
        if not blocks_seen:
            return None
        op_distribution = space.get(op_param("normal", 0, "a"))
        if not isinstance(op_distribution, CategoricalDistribution):
            return None
        operations = op_distribution.choices
        if not all(isinstance(op, str) for op in operations) or len(set(operations)) != len(
            operations
        ):
            return None
        candidate = cls(num_blocks=max(blocks_seen) + 1, operations=tuple(map(str, operations)))
        expected = search_space(candidate.num_blocks, candidate.operations)
        if all(space.get(name) == distribution for name, distribution in expected.items()):
            return candidate
        return None
