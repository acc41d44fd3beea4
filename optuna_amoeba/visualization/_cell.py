"""Pictures of NASNet cells as DAGs, laid out so that no two labels can collide.

The layout is a grid of lanes. Hidden state ``h{j}`` owns the vertical lane at ``x = j * pitch``;
its node sits at the top of that lane (``h0``/``h1`` in the input row, block ``k``'s output
``h{k + 2}`` in row ``k + 1``) and the lane runs down as long as the state is read. Block ``k``
takes its two inputs along horizontal edges in its own row (input ``a`` just above input ``b``),
each from the lane of the state it reads to the block's node. Both op labels of block ``k`` sit
in the gap between lanes ``k + 1`` and ``k + 2``, which only that row's edges enter, so labels
of different blocks are in different rows and neither label can lie on a lane. States
concatenated into the output drop to a bus in the last row that leads into the output node.
All lengths are in inches and the figure is sized from the layout, so a font size in points
and the label widths measured from the font fit the gaps for any number of blocks and any
operation names.
"""

from __future__ import annotations

from dataclasses import dataclass

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch
from matplotlib.patches import FancyBboxPatch
from matplotlib.textpath import TextToPath

from optuna_amoeba._checks import check_float
from optuna_amoeba.nasnet import Block
from optuna_amoeba.nasnet import Cell
from optuna_amoeba.nasnet import Genotype
from optuna_amoeba.nasnet import NUM_INPUT_STATES
from optuna_amoeba.nasnet import OPERATIONS


_POINTS_PER_INCH = 72.0
_LABEL_PAD = 0.04  # inches between a label's text and its box edge
_MARGIN = 0.08  # inches of free space around every label box and node
_TITLE_HEIGHT = 0.45
_TITLE_GAP = 0.1  # inches between a cell title and its panel
_FOOTER_HEIGHT = 0.35
_SIDE_MARGIN = 0.15
_COLORS = {"input": "#cfe2f3", "block": "#fff2cc", "output": "#d9ead3"}
_EDGE_COLOR = "#555555"
_TEXT_TO_PATH = TextToPath()
# Hinting makes Agg render text up to ~14% wider than its outline at low dpi (measured 50-300).
_TEXT_WIDTH_SLACK = 1.15
_FOOTER = "h0: previous cell's output · h1: the cell before it · each block adds its two ops"


def _text_size(text: str, font_size: float) -> tuple[float, float]:
    """Width and height in inches of ``text`` rendered at ``font_size`` points."""
    width, height, _ = _TEXT_TO_PATH.get_text_width_height_descent(
        text, FontProperties(size=font_size), ismath=False
    )
    return width * _TEXT_WIDTH_SLACK / _POINTS_PER_INCH, max(height, font_size) / _POINTS_PER_INCH


@dataclass(frozen=True)
class _Metrics:
    """Sizes shared by both cells, so that the two panels line up."""

    font_size: float
    lane_pitch: float
    row_pitch: float
    slot_offset: float
    node_width: float
    node_height: float
    output_width: float

    @classmethod
    def for_genotype(cls, genotype: Genotype, font_size: float) -> _Metrics:
        ops = {op for _, cell in genotype.cells() for b in cell.blocks for op in (b.op_a, b.op_b)}
        label_width = max(_text_size(op, font_size)[0] for op in ops) + 2 * _LABEL_PAD
        text_height = _text_size("hg", font_size)[1]
        label_height = text_height + 2 * _LABEL_PAD
        num_states = genotype.num_blocks + NUM_INPUT_STATES
        node_width = _text_size(f"h{num_states - 1}", font_size)[0] + 4 * _LABEL_PAD
        slot_offset = (label_height + _MARGIN) / 2
        node_height = 2 * slot_offset + label_height / 2
        return cls(
            font_size=font_size,
            lane_pitch=label_width + node_width / 2 + 3 * _MARGIN,
            row_pitch=2 * slot_offset + label_height + 2 * _MARGIN,
            slot_offset=slot_offset,
            node_width=node_width,
            node_height=node_height,
            output_width=_text_size("concat", font_size)[0] + 4 * _LABEL_PAD,
        )

    def lane_x(self, state: int) -> float:
        return state * self.lane_pitch

    def row_y(self, row: int) -> float:
        """Row 0 holds the inputs; block ``k`` is in row ``k + 1``; rows go down."""
        return -row * self.row_pitch

    def output_x(self, num_blocks: int) -> float:
        last_lane = self.lane_x(num_blocks + NUM_INPUT_STATES - 1)
        return last_lane + self.node_width / 2 + 2 * _MARGIN + self.output_width / 2

    def width(self, num_blocks: int) -> float:
        left = -self.node_width / 2 - _MARGIN
        right = self.output_x(num_blocks) + self.output_width / 2 + _MARGIN
        return right - left

    def panel_height(self, num_blocks: int) -> float:
        return (num_blocks + 1) * self.row_pitch + self.node_height + 2 * _MARGIN


def _check_genotype(genotype: Genotype) -> None:
    if not isinstance(genotype, Genotype):
        raise ValueError(
            f"genotype must be an optuna_amoeba.nasnet.Genotype, got {type(genotype).__name__}"
        )
    used_ops = {op for _, cell in genotype.cells() for b in cell.blocks for op in (b.op_a, b.op_b)}
    # With no operation at all, validate would name the empty operation set, not the cells.
    genotype.validate(operations=sorted(used_ops, key=str) or OPERATIONS)


def _draw_cell(axes: Axes, cell_type: str, cell: Cell, m: _Metrics) -> None:
    """Draw one cell: lanes, block inputs with their op labels, the output bus, the nodes and
    the title, in that order (later artists of equal z-order are drawn on top)."""
    _draw_lanes(axes, cell_type, cell, m)
    for k, block in enumerate(cell.blocks):
        _draw_block_inputs(axes, cell_type, k, block, m)
    _draw_output_bus(axes, cell_type, cell, m)
    _draw_nodes(axes, cell_type, cell, m)
    _draw_cell_title(axes, cell_type, cell, m)


def _slot_y(m: _Metrics, k: int, slot: str) -> float:
    """The y of block ``k``'s input ``slot``: ``a`` just above the block's row, ``b`` below."""
    return m.row_y(k + 1) + (m.slot_offset if slot == "a" else -m.slot_offset)


def _lane_joins(cell: Cell, m: _Metrics) -> dict[int, list[float]]:
    """Per hidden state read by a block or concatenated, the y values where its lane joins a
    block input or the output bus."""
    joins: dict[int, list[float]] = {}
    for k, block in enumerate(cell.blocks):
        for slot, state in (("a", block.input_a), ("b", block.input_b)):
            joins.setdefault(state, []).append(_slot_y(m, k, slot))
    output_y = m.row_y(cell.num_blocks + 1)
    for state in set(cell.concat):
        joins.setdefault(state, []).append(output_y)
    return joins


def _lane_bottom(state: int, joins: list[float], concat: set[int], output_y: float) -> float:
    """The lowest y the lane of ``state`` reaches: the output bus if concatenated, else its
    lowest join (never above the input row)."""
    return output_y if state in concat else min(0.0, *joins)


def _draw_lanes(axes: Axes, cell_type: str, cell: Cell, m: _Metrics) -> None:
    """Each read or concatenated state's vertical lane, with a dot where a lane goes on past
    a join."""
    concat = set(cell.concat)
    output_y = m.row_y(cell.num_blocks + 1)
    for state, joins in _lane_joins(cell, m).items():
        bottom = _lane_bottom(state, joins, concat, output_y)
        x = m.lane_x(state)
        top = m.row_y(max(state - NUM_INPUT_STATES + 1, 0)) - m.node_height / 2
        axes.add_line(
            Line2D(
                [x, x],
                [top, bottom],
                color=_EDGE_COLOR,
                lw=1.0,
                zorder=2,
                gid=f"{cell_type}:lane:h{state}",
            )
        )
        for y in joins:
            if y > bottom:
                axes.plot([x], [y], marker="o", markersize=3, color=_EDGE_COLOR, zorder=2)


def _draw_block_inputs(axes: Axes, cell_type: str, k: int, block: Block, m: _Metrics) -> None:
    """Block ``k``'s two input edges, each labelled with its op in the gap before the node."""
    target_x = m.lane_x(k + NUM_INPUT_STATES)
    gap_left = m.lane_x(k + NUM_INPUT_STATES - 1)
    gap_right = target_x - m.node_width / 2
    for slot, state, op in (("a", block.input_a, block.op_a), ("b", block.input_b, block.op_b)):
        y = _slot_y(m, k, slot)
        axes.add_artist(
            _arrow((m.lane_x(state), y), (gap_right, y), f"{cell_type}:edge:{k}{slot}")
        )
        _draw_op_label(axes, ((gap_left + gap_right) / 2, y), op, m, f"{cell_type}:op:{k}{slot}")


def _draw_op_label(
    axes: Axes, position: tuple[float, float], op: str, m: _Metrics, gid: str
) -> None:
    axes.text(
        *position,
        op,
        ha="center",
        va="center",
        fontsize=m.font_size,
        zorder=5,
        gid=gid,
        bbox={
            "boxstyle": f"round,pad={_LABEL_PAD * _POINTS_PER_INCH / m.font_size}",
            "facecolor": "white",
            "edgecolor": "#bbbbbb",
            "linewidth": 0.6,
        },
    )


def _draw_output_bus(axes: Axes, cell_type: str, cell: Cell, m: _Metrics) -> None:
    """The bus from the leftmost concatenated lane into the output node."""
    output_y = m.row_y(cell.num_blocks + 1)
    output_left = m.output_x(cell.num_blocks) - m.output_width / 2
    start = (m.lane_x(min(cell.concat)), output_y)
    axes.add_artist(_arrow(start, (output_left, output_y), f"{cell_type}:edge:concat"))


def _arrow(start: tuple[float, float], end: tuple[float, float], gid: str) -> FancyArrowPatch:
    return FancyArrowPatch(
        start,
        end,
        arrowstyle="-|>",
        mutation_scale=8,
        shrinkA=0,
        shrinkB=0,
        color=_EDGE_COLOR,
        lw=1.0,
        zorder=2,
        gid=gid,
    )


def _draw_nodes(axes: Axes, cell_type: str, cell: Cell, m: _Metrics) -> None:
    """The input nodes, one node per block, and the output node."""
    inputs = [(state, m.row_y(0)) for state in range(NUM_INPUT_STATES)]
    blocks = [(k + NUM_INPUT_STATES, m.row_y(k + 1)) for k in range(cell.num_blocks)]
    for states, kind in ((inputs, "input"), (blocks, "block")):
        for state, y in states:
            _draw_node(
                axes, m.lane_x(state), y, f"h{state}", kind, m, gid=f"{cell_type}:node:h{state}"
            )
    output_position = (m.output_x(cell.num_blocks), m.row_y(cell.num_blocks + 1))
    _draw_node(axes, *output_position, "concat", "output", m, gid=f"{cell_type}:node:output")


def _draw_cell_title(axes: Axes, cell_type: str, cell: Cell, m: _Metrics) -> None:
    # A plain text, not set_title: title placement would lay out the (hidden) axis ticks.
    axes.text(
        0,
        1 + _TITLE_GAP / m.panel_height(cell.num_blocks),
        _cell_title(cell_type, cell),
        transform=axes.transAxes,
        fontsize=m.font_size + 2,
        va="bottom",
        gid=f"{cell_type}:title",
    )


def _cell_title(cell_type: str, cell: Cell) -> str:
    states = " ".join(f"h{state}" for state in cell.concat)
    return f"{cell_type} cell · output = concat({states})"


def _draw_node(
    axes: Axes, x: float, y: float, text: str, kind: str, m: _Metrics, gid: str
) -> None:
    width = m.output_width if kind == "output" else m.node_width
    axes.add_artist(_box(x, y, width, m.node_height, _COLORS[kind], gid=f"{gid}:box"))
    axes.text(
        x,
        y,
        text,
        ha="center",
        va="center",
        fontsize=m.font_size,
        fontweight="bold",
        zorder=4,
        gid=gid,
    )


def _box(x: float, y: float, width: float, height: float, color: str, gid: str) -> FancyBboxPatch:
    return FancyBboxPatch(
        (x - width / 2, y - height / 2),
        width,
        height,
        boxstyle="round,pad=0,rounding_size=0.05",
        facecolor=color,
        edgecolor="#333333",
        linewidth=0.8,
        zorder=3,
        gid=gid,
    )


def plot_cell(genotype: Genotype, *, title: str | None = None, font_size: float = 8.0) -> Figure:
    """Draw the normal and the reduction cell of ``genotype``, one panel each.

    Each panel is a DAG: the inputs ``h0`` (the previous cell's output) and ``h1`` (the one
    before it), one node per block (block ``k`` produces ``h{k + 2}``, the sum of its two
    operations) with the two operations written on its incoming edges, and the ``concat`` node
    that the cell's output states feed. Works for any number of blocks, any operation names
    (of ASCII letters, digits and underscores, as genotypes allow) and explicit concats (the
    published cells).

    Args:
        genotype: The architecture to draw.
        title: Optional figure title, e.g. the trial it belongs to.
        font_size: Font size of node and operation labels, in points (``> 0``).

    Returns:
        A :class:`matplotlib.figure.Figure` sized to fit the cells (not registered with
        ``pyplot``; save it with ``fig.savefig``).
    """
    _check_genotype(genotype)
    if title is not None and not isinstance(title, str):
        raise ValueError(f"title must be a str or None, got {title!r}")
    font_size = check_float("font_size", font_size, low=0.0, low_open=True)
    metrics = _Metrics.for_genotype(genotype, font_size)
    num_blocks = genotype.num_blocks
    panel_width = metrics.width(num_blocks)
    panel_height = metrics.panel_height(num_blocks)
    header = _TITLE_HEIGHT if title else 0.0
    text_width = max(
        _text_size(_FOOTER, font_size)[0],
        *(_text_size(_cell_title(t, c), font_size + 2)[0] for t, c in genotype.cells()),
        _text_size(title, font_size + 3)[0] if title else 0.0,
    )
    fig_width = max(panel_width, text_width + _MARGIN) + 2 * _SIDE_MARGIN
    fig_height = header + 2 * (panel_height + _TITLE_HEIGHT) + _FOOTER_HEIGHT
    figure = Figure(figsize=(fig_width, fig_height))
    if title:
        figure.suptitle(
            title, y=1 - 0.12 / fig_height, va="top", fontsize=font_size + 3, gid="title"
        )

    left = -metrics.node_width / 2 - _MARGIN
    top = metrics.node_height / 2 + _MARGIN
    for index, (cell_type, cell) in enumerate(genotype.cells()):
        panel_top = fig_height - header - index * (panel_height + _TITLE_HEIGHT) - _TITLE_HEIGHT
        axes = figure.add_axes(
            (
                _SIDE_MARGIN / fig_width,
                (panel_top - panel_height) / fig_height,
                panel_width / fig_width,
                panel_height / fig_height,
            ),
            gid=f"cell:{cell_type}",
        )
        axes.set_xlim(left, left + panel_width)
        axes.set_ylim(top - panel_height, top)
        axes.set_axis_off()
        _draw_cell(axes, cell_type, cell, metrics)
    figure.text(
        _SIDE_MARGIN / fig_width,
        0.12 / fig_height,
        _FOOTER,
        fontsize=font_size,
        color="#555555",
        va="bottom",
        gid="footer",
    )
    return figure
