"""Immutable NASNet-style genotypes: two cells of blocks, a text form and validation.

Hidden states of a cell are numbered as in the authors' reference code: ``h0`` is the output
of the previous cell, ``h1`` the output of the cell before it, and block ``k`` (from 0)
produces ``h{k + 2}``. Each block applies one operation to each of two hidden states and adds
the results.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
import re


OPERATIONS: tuple[str, ...] = (
    "identity",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "sep_conv_7x7",
    "avg_pool_3x3",
    "max_pool_3x3",
    "dil_sep_conv_3x3",
    "conv_1x7_7x1",
)
"""The eight operations of the AmoebaNet paper (Real et al. 2019, section 3)."""

NUM_INPUT_STATES = 2
CELL_TYPES: tuple[str, ...] = ("normal", "reduction")


@dataclass(frozen=True)
class Block:
    """One block: ``op_a(h[input_a]) + op_b(h[input_b])``."""

    input_a: int
    op_a: str
    input_b: int
    op_b: str


def rule_concat(blocks: Sequence[Block]) -> tuple[int, ...]:
    """Hidden states that no block reads: the paper's rule for a cell's output."""
    used = {index for block in blocks for index in (block.input_a, block.input_b)}
    num_states = len(blocks) + NUM_INPUT_STATES
    return tuple(index for index in range(num_states) if index not in used)


@dataclass(frozen=True)
class Cell:
    """A cell: its blocks and the hidden states concatenated into its output.

    ``concat=None`` (the normal case, and the only one the search space produces) means the
    paper's rule: every hidden state that no block reads. An explicit ``concat`` exists only to
    transcribe published cells whose reference code concatenates other states; one equal to
    the rule is stored as ``None`` so that equal cells compare equal.
    """

    blocks: tuple[Block, ...]
    explicit_concat: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "blocks", tuple(self.blocks))
        if self.explicit_concat is not None:
            concat = tuple(sorted(set(self.explicit_concat)))
            object.__setattr__(
                self, "explicit_concat", None if concat == rule_concat(self.blocks) else concat
            )

    @property
    def concat(self) -> tuple[int, ...]:
        if self.explicit_concat is not None:
            return self.explicit_concat
        return rule_concat(self.blocks)

    @property
    def num_blocks(self) -> int:
        return len(self.blocks)


_BLOCK_PATTERN = re.compile(
    r"^\s*(?P<op_a>[A-Za-z0-9_]+)\s*\(\s*h(?P<in_a>\d+)\s*\)\s*\+\s*"
    r"(?P<op_b>[A-Za-z0-9_]+)\s*\(\s*h(?P<in_b>\d+)\s*\)\s*$"
)
_CONCAT_PATTERN = re.compile(r"^\s*concat\s*\((?P<states>[^)]*)\)\s*$")


@dataclass(frozen=True)
class Genotype:
    """A normal and a reduction cell.

    ``str(genotype)`` gives a readable one-line form that :meth:`parse` reads back, e.g.
    ``normal: sep_conv_3x3(h0) + identity(h1), ... ; reduction: ...``; a cell with an explicit
    concat ends with ``concat(h1 h3)``.
    """

    normal: Cell
    reduction: Cell

    @property
    def num_blocks(self) -> int:
        return self.normal.num_blocks

    def cells(self) -> tuple[tuple[str, Cell], ...]:
        return (("normal", self.normal), ("reduction", self.reduction))

    def validate(self, operations: Iterable[str] = OPERATIONS) -> Genotype:
        """Check the genotype against ``operations``; return it, or raise ``ValueError``.

        The message names the cell and block at fault and what is allowed there.
        """
        allowed = tuple(operations)
        if self.normal.num_blocks != self.reduction.num_blocks:
            raise ValueError(
                "normal and reduction cells must have the same number of blocks, got "
                f"{self.normal.num_blocks} and {self.reduction.num_blocks}"
            )
        for cell_type, cell in self.cells():
            if cell.num_blocks < 1:
                raise ValueError(f"{cell_type} cell must have at least 1 block, got 0")
            for position, block in enumerate(cell.blocks):
                num_available = position + NUM_INPUT_STATES
                for slot, state, op in (
                    ("a", block.input_a, block.op_a),
                    ("b", block.input_b, block.op_b),
                ):
                    where = f"{cell_type} cell, block {position}, input {slot}"
                    if isinstance(state, bool) or not isinstance(state, int):
                        raise ValueError(f"{where}: hidden state must be an int, got {state!r}")
                    if not 0 <= state < num_available:
                        raise ValueError(
                            f"{where}: hidden state must be in [0, {num_available - 1}] "
                            f"(h0, h1 and earlier blocks' outputs), got {state}"
                        )
                    if op not in allowed:
                        raise ValueError(
                            f"{where}: operation must be one of {', '.join(allowed)}; got {op!r}"
                        )
            num_states = cell.num_blocks + NUM_INPUT_STATES
            if not cell.concat:
                raise ValueError(f"{cell_type} cell: concat must name at least 1 hidden state")
            bad = [index for index in cell.concat if not 0 <= index < num_states]
            if bad:
                raise ValueError(
                    f"{cell_type} cell: concat states must be in [0, {num_states - 1}], got {bad}"
                )
        return self

    def __str__(self) -> str:
        parts = []
        for cell_type, cell in self.cells():
            text = ", ".join(
                f"{block.op_a}(h{block.input_a}) + {block.op_b}(h{block.input_b})"
                for block in cell.blocks
            )
            if cell.explicit_concat is not None:
                states = " ".join(f"h{index}" for index in cell.explicit_concat)
                text += f", concat({states})"
            parts.append(f"{cell_type}: {text}")
        return "; ".join(parts)

    @classmethod
    def parse(cls, text: str, operations: Iterable[str] = OPERATIONS) -> Genotype:
        """Read the form written by ``str()``; raise ``ValueError`` saying what is wrong."""
        cells: dict[str, Cell] = {}
        for part in text.split(";"):
            if not part.strip():
                continue
            name, sep, body = part.partition(":")
            cell_type = name.strip().lower()
            if not sep or cell_type not in CELL_TYPES:
                raise ValueError(
                    f"cannot parse genotype {text!r}: expected 'normal: ...; reduction: ...', "
                    f"found section {part.strip()!r}"
                )
            if cell_type in cells:
                raise ValueError(f"cannot parse genotype {text!r}: {cell_type} cell given twice")
            cells[cell_type] = _parse_cell(cell_type, body)
        missing = [cell_type for cell_type in CELL_TYPES if cell_type not in cells]
        if missing:
            raise ValueError(
                f"cannot parse genotype {text!r}: missing {' and '.join(missing)} cell"
            )
        return cls(normal=cells["normal"], reduction=cells["reduction"]).validate(operations)

    @classmethod
    def from_params(cls, params: dict[str, object], num_blocks: int | None = None) -> Genotype:
        """Build a genotype from trial parameters named as :func:`param_names` gives them."""
        from optuna_amoeba.nasnet._search_space import genotype_from_params

        return genotype_from_params(params, num_blocks)

    def to_params(self) -> dict[str, int | str]:
        """Trial parameters for this genotype (e.g. for ``study.enqueue_trial``)."""
        from optuna_amoeba.nasnet._search_space import genotype_to_params

        return genotype_to_params(self)


def _parse_cell(cell_type: str, body: str) -> Cell:
    blocks: list[Block] = []
    explicit_concat: tuple[int, ...] | None = None
    for item in body.split(","):
        if not item.strip():
            continue
        concat_match = _CONCAT_PATTERN.match(item)
        if explicit_concat is not None:
            raise ValueError(f"{cell_type} cell: concat(...) must come last, found {item!r}")
        if concat_match:
            explicit_concat = _parse_states(cell_type, concat_match.group("states").split())
            continue
        match = _BLOCK_PATTERN.match(item)
        if match is None:
            raise ValueError(
                f"{cell_type} cell, block {len(blocks)}: cannot parse {item.strip()!r}; "
                "expected 'op(hI) + op(hJ)'"
            )
        blocks.append(
            Block(
                input_a=int(match.group("in_a")),
                op_a=match.group("op_a"),
                input_b=int(match.group("in_b")),
                op_b=match.group("op_b"),
            )
        )
    return Cell(tuple(blocks), explicit_concat)


def _parse_states(cell_type: str, states: list[str]) -> tuple[int, ...]:
    indices = []
    for state in states:
        if not re.fullmatch(r"h\d+", state):
            raise ValueError(f"{cell_type} cell: concat entries must look like h3, got {state!r}")
        indices.append(int(state[1:]))
    return tuple(indices)
