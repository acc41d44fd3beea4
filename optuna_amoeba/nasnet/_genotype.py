"""Immutable NASNet-style genotypes: two cells of blocks, a text form and validation.

Hidden states of a cell are numbered as in the authors' reference code: ``h0`` is the output
of the previous cell, ``h1`` the output of the cell before it, and block ``k`` (from 0)
produces ``h{k + 2}``. Each block applies one operation to each of two hidden states and adds
the results.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
import re

from optuna_amoeba._checks import check_int


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
SLOTS: tuple[str, ...] = ("a", "b")

_PARAM_NAME = re.compile(
    rf"({'|'.join(CELL_TYPES)})_b(0|[1-9][0-9]*)_(input|op)_({'|'.join(SLOTS)})", re.ASCII
)


def input_param(cell_type: str, block: int, slot: str) -> str:
    """The trial parameter holding the hidden state a block's ``slot`` reads."""
    return f"{cell_type}_b{block}_input_{slot}"


def op_param(cell_type: str, block: int, slot: str) -> str:
    """The trial parameter holding the operation a block applies in ``slot``."""
    return f"{cell_type}_b{block}_op_{slot}"


@dataclass(frozen=True)
class ParamName:
    """The parts of a NASNet parameter name such as ``normal_b2_op_a``."""

    cell_type: str
    block: int
    kind: str  # "input" or "op"
    slot: str


def parse_param_name(name: object) -> ParamName | None:
    """The parts of ``name`` if it names a NASNet parameter, else ``None``."""
    match = _PARAM_NAME.fullmatch(name) if isinstance(name, str) else None
    if match is None:
        return None
    cell_type, block, kind, slot = match.groups()
    return ParamName(cell_type=cell_type, block=int(block), kind=kind, slot=slot)


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


_OPERATION = r"[A-Za-z0-9_]+"
_MAX_STATE_DIGITS = 6
_STATE_INDEX = rf"[0-9]{{1,{_MAX_STATE_DIGITS}}}"
_OPERATION_NAME = re.compile(_OPERATION, re.ASCII)
_BLOCK_PATTERN = re.compile(
    rf"\s*(?P<op_a>{_OPERATION})\s*\(\s*h(?P<in_a>{_STATE_INDEX})\s*\)\s*\+\s*"
    rf"(?P<op_b>{_OPERATION})\s*\(\s*h(?P<in_b>{_STATE_INDEX})\s*\)\s*",
    re.ASCII,
)
_CONCAT_PATTERN = re.compile(r"\s*concat\s*\((?P<states>[^)]*)\)\s*", re.ASCII)
_STATE_PATTERN = re.compile(rf"h(?P<index>{_STATE_INDEX})", re.ASCII)
_TEXT_FORM = "'normal: op(h0) + op(h1), ...; reduction: ...'"


def check_operations(operations: Iterable[str]) -> tuple[str, ...]:
    """``operations`` as a tuple of distinct names, or ``ValueError`` saying what is wrong.

    Names are letters, digits and underscores so that the text form can be read back.
    """
    if isinstance(operations, str) or not isinstance(operations, Iterable):
        raise ValueError(f"operations must be a collection of operation names, got {operations!r}")
    ops = tuple(operations)
    if not ops:
        raise ValueError("operations must name at least 1 operation, got none")
    bad = [op for op in ops if not isinstance(op, str) or not _OPERATION_NAME.fullmatch(op)]
    if bad:
        raise ValueError(
            f"operations must be names of ASCII letters, digits and underscores, got {bad!r}"
        )
    if len(set(ops)) != len(ops):
        raise ValueError(f"operations must not repeat, got {ops!r}")
    return ops


def _checked_block(
    where: str, position: int, slots: Sequence[tuple[object, object]], allowed: tuple[str, ...]
) -> Block:
    """Block ``position`` of a cell from its ``(input, op)`` per slot, or ``ValueError``."""
    checked: list[tuple[int, str]] = []
    for slot, (state, op) in zip(SLOTS, slots, strict=True):
        place = f"{where}, input {slot}"
        # Block k reads h0, h1 and the outputs of the blocks before it.
        index = check_int(f"{place}: hidden state", state, 0, position + NUM_INPUT_STATES - 1)
        if not isinstance(op, str) or op not in allowed:
            raise ValueError(f"{place}: operation must be one of {', '.join(allowed)}; got {op!r}")
        checked.append((index, op))
    (input_a, op_a), (input_b, op_b) = checked
    return Block(input_a=input_a, op_a=op_a, input_b=input_b, op_b=op_b)


@dataclass(frozen=True)
class Genotype:
    """A normal and a reduction cell.

    ``str(genotype)`` gives a readable one-line form that :meth:`parse` reads back, e.g.
    ``normal: sep_conv_3x3(h0) + identity(h1), ... ; reduction: ...``; a cell with an explicit
    concat ends with ``concat(h1 h3)``. :meth:`parse` and :meth:`from_params` return only
    valid genotypes; one built from its parts is checked by :meth:`validate`.
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
        allowed = check_operations(operations)
        if self.normal.num_blocks != self.reduction.num_blocks:
            raise ValueError(
                "normal and reduction cells must have the same number of blocks, got "
                f"{self.normal.num_blocks} and {self.reduction.num_blocks}"
            )
        for cell_type, cell in self.cells():
            if cell.num_blocks < 1:
                raise ValueError(f"{cell_type} cell must have at least 1 block, got 0")
            for position, block in enumerate(cell.blocks):
                slots = ((block.input_a, block.op_a), (block.input_b, block.op_b))
                _checked_block(f"{cell_type} cell, block {position}", position, slots, allowed)
            num_states = cell.num_blocks + NUM_INPUT_STATES
            if not cell.concat:
                raise ValueError(f"{cell_type} cell: concat must name at least 1 hidden state")
            for state in cell.concat:
                check_int(f"{cell_type} cell: concat state", state, 0, num_states - 1)
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
        if not isinstance(text, str):
            raise ValueError(f"genotype text must be a str like {_TEXT_FORM}, got {text!r}")
        cells: dict[str, Cell] = {}
        for part in text.split(";"):
            if not part.strip():
                continue
            name, sep, body = part.partition(":")
            cell_type = name.strip().lower()
            if not sep or cell_type not in CELL_TYPES:
                raise ValueError(
                    f"cannot parse genotype {text!r}: expected {_TEXT_FORM}, "
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
    def from_params(
        cls,
        params: Mapping[str, object],
        num_blocks: int | None = None,
        operations: Iterable[str] = OPERATIONS,
    ) -> Genotype:
        """Build a genotype from trial parameters named as :func:`input_param` and
        :func:`op_param` give them; raise ``ValueError`` saying what is missing or wrong.

        ``num_blocks=None`` infers the number of blocks from the parameter names; an explicit
        ``num_blocks`` must cover every block the parameters hold. Other parameters are
        ignored.
        """
        if not isinstance(params, Mapping):
            raise ValueError(
                "params must be a mapping of parameter names to values (e.g. trial.params), "
                f"got {params!r}"
            )
        allowed = check_operations(operations)
        present = [(parsed.block, name) for name in params if (parsed := parse_param_name(name))]
        if not present:
            raise ValueError("params hold no NASNet parameter (e.g. 'normal_b0_input_a')")
        last_block, last_name = max(present)
        if num_blocks is None:
            num_blocks = last_block + 1
        num_blocks = check_int("num_blocks", num_blocks, 1)
        if num_blocks <= last_block:
            raise ValueError(
                f"num_blocks must be at least {last_block + 1} (params hold {last_name!r}) or "
                f"None to infer it, got {num_blocks}"
            )

        def value(name: str) -> object:
            if name not in params:
                raise ValueError(f"params lack {name!r} for a genotype of {num_blocks} blocks")
            return params[name]

        cells = []
        for cell_type in CELL_TYPES:
            blocks = []
            for position in range(num_blocks):
                slots = [
                    (
                        value(input_param(cell_type, position, slot)),
                        value(op_param(cell_type, position, slot)),
                    )
                    for slot in SLOTS
                ]
                where = f"{cell_type} cell, block {position}"
                blocks.append(_checked_block(where, position, slots, allowed))
            cells.append(Cell(tuple(blocks)))
        return cls(normal=cells[0], reduction=cells[1]).validate(allowed)

    def to_params(self) -> dict[str, int | str]:
        """Trial parameters for this genotype (e.g. for ``study.enqueue_trial``)."""
        params: dict[str, int | str] = {}
        for cell_type, cell in self.cells():
            for position, block in enumerate(cell.blocks):
                for slot, state, op in (
                    ("a", block.input_a, block.op_a),
                    ("b", block.input_b, block.op_b),
                ):
                    params[input_param(cell_type, position, slot)] = state
                    params[op_param(cell_type, position, slot)] = op
        return params


def _parse_cell(cell_type: str, body: str) -> Cell:
    blocks: list[Block] = []
    explicit_concat: tuple[int, ...] | None = None
    for item in body.split(","):
        if not item.strip():
            continue
        concat_match = _CONCAT_PATTERN.fullmatch(item)
        if explicit_concat is not None:
            raise ValueError(f"{cell_type} cell: concat(...) must come last, found {item!r}")
        if concat_match:
            explicit_concat = _parse_states(cell_type, concat_match.group("states").split())
            continue
        match = _BLOCK_PATTERN.fullmatch(item)
        if match is None:
            raise ValueError(
                f"{cell_type} cell, block {len(blocks)}: cannot parse {item.strip()!r}; "
                "expected 'op(hI) + op(hJ)' with an operation name of ASCII letters, digits "
                f"and underscores and I, J of at most {_MAX_STATE_DIGITS} digits"
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
        match = _STATE_PATTERN.fullmatch(state)
        if match is None:
            raise ValueError(f"{cell_type} cell: concat entries must look like h3, got {state!r}")
        indices.append(int(match.group("index")))
    return tuple(indices)
