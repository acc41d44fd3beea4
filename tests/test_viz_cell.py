from __future__ import annotations

import itertools

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch
from matplotlib.patches import FancyBboxPatch
from matplotlib.text import Text
from matplotlib.transforms import Bbox
import numpy as np
import optuna
import pytest

from optuna_amoeba import nasnet
from optuna_amoeba.visualization import plot_cell


def _random_cell(
    rng: np.random.Generator, num_blocks: int, operations: tuple[str, ...]
) -> nasnet.Cell:
    blocks = []
    for k in range(num_blocks):
        in_a, in_b = (int(i) for i in rng.integers(0, k + 2, size=2))
        op_a, op_b = (str(op) for op in rng.choice(operations, size=2))
        blocks.append(nasnet.Block(input_a=in_a, op_a=op_a, input_b=in_b, op_b=op_b))
    return nasnet.Cell(tuple(blocks))


def _random_genotype(seed: int, num_blocks: int, operations: tuple[str, ...]) -> nasnet.Genotype:
    rng = np.random.default_rng(seed)
    return nasnet.Genotype(
        normal=_random_cell(rng, num_blocks, operations),
        reduction=_random_cell(rng, num_blocks, operations),
    )


def _overlap(a: Bbox, b: Bbox) -> bool:
    return bool(a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1)


def _layout(figure: Figure, dpi: float) -> dict[str, Bbox]:
    """Display-space boxes of every labelled artist, keyed by gid."""
    figure.set_dpi(dpi)
    FigureCanvasAgg(figure)
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    boxes: dict[str, Bbox] = {}
    for artist in figure.findobj():
        gid = artist.get_gid()
        if gid is None:
            continue
        assert gid not in boxes, f"duplicate gid {gid}"
        if isinstance(artist, Text):
            patch = artist.get_bbox_patch()
            extent = (patch or artist).get_window_extent(renderer)
            if patch is not None:
                # The text itself must fit inside its own box.
                assert extent.contains(*artist.get_window_extent(renderer).min)
        elif isinstance(artist, FancyArrowPatch):
            # Edges are straight: the box spanned by their two ends, padded by the arrow head.
            assert artist.axes is not None
            transform = artist.axes.transData
            ends = transform.transform(np.array(artist._posA_posB))  # type: ignore[attr-defined]
            extent = Bbox(ends).padded(3 * figure.dpi / 72)
        elif isinstance(artist, (Line2D, FancyBboxPatch)):
            extent = artist.get_window_extent(renderer)
        else:
            continue
        boxes[gid] = extent
    return boxes


def _check_readable(
    genotype: nasnet.Genotype, dpi: float = 100, **kwargs: object
) -> dict[str, Bbox]:
    figure = plot_cell(genotype, **kwargs)  # type: ignore[arg-type]
    boxes = _layout(figure, dpi)
    frame = figure.bbox
    for gid, box in boxes.items():
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1, f"{gid} sticks out sideways"
        assert frame.y0 <= box.y0 and box.y1 <= frame.y1, f"{gid} sticks out vertically"

    # Op labels, node boxes, titles and the footer: no two of them may touch.
    labels = {
        gid: box
        for gid, box in boxes.items()
        if ":op:" in gid or gid.endswith((":box", "title")) or gid == "footer"
    }
    assert {"normal:title", "reduction:title", "footer"} <= labels.keys()
    for (gid_a, a), (gid_b, b) in itertools.combinations(labels.items(), 2):
        assert not _overlap(a, b), f"{gid_a} overlaps {gid_b} in {genotype}"

    # An op label lies on its own edge only: no other edge, lane or node crosses it.
    for gid, box in boxes.items():
        if ":op:" not in gid:
            continue
        own_edge = gid.replace(":op:", ":edge:")
        assert _overlap(box, boxes[own_edge]), f"{gid} is not on its edge"
        for other, line in boxes.items():
            if other != own_edge and (":edge:" in other or ":lane:" in other):
                assert not _overlap(box, line), f"{other} crosses {gid} in {genotype}"
    return boxes


@pytest.mark.parametrize("num_blocks", [1, 2, 5, 8])
def test_random_genotypes_have_no_overlapping_labels(num_blocks: int) -> None:
    # Text is hinted differently at each resolution; check low, screen and print dpi.
    for seed, dpi in zip(range(6), itertools.cycle((50, 100, 200))):
        _check_readable(_random_genotype(seed, num_blocks, nasnet.OPERATIONS), dpi=dpi)


def test_genotypes_from_the_search_space_have_no_overlapping_labels() -> None:
    space = nasnet.search_space()
    rng = np.random.default_rng(7)
    for _ in range(6):
        params = {
            name: distribution.choices[rng.integers(len(distribution.choices))]  # type: ignore[attr-defined]
            for name, distribution in space.items()
        }
        genotype = nasnet.suggest_genotype(optuna.trial.FixedTrial(params))
        _check_readable(genotype)


@pytest.mark.parametrize(
    "genotype", [nasnet.AMOEBANET_A, nasnet.NASNET_A], ids=["amoeba", "nasnet"]
)
def test_published_cells_draw_their_explicit_concat(genotype: nasnet.Genotype) -> None:
    boxes = _check_readable(genotype, title="published")
    for cell_type, cell in genotype.cells():
        num_states = cell.num_blocks + nasnet.NUM_INPUT_STATES
        for state in range(num_states):
            lane = boxes.get(f"{cell_type}:lane:h{state}")
            reaches_output = lane is not None and lane.y0 <= boxes[f"{cell_type}:node:output"].y1
            assert reaches_output == (state in cell.concat), (cell_type, state)


def test_long_operation_names_and_large_fonts_still_fit() -> None:
    operations = ("a_rather_long_custom_operation_name", "x", "conv_3x3")
    _check_readable(_random_genotype(3, 4, operations), font_size=13, title="custom ops")
    # Short names: the titles and the footer set the width.
    _check_readable(_random_genotype(3, 1, ("identity", "x")), dpi=80, title="trial 12")


def test_every_block_and_op_appears_once() -> None:
    genotype = _random_genotype(11, 5, nasnet.OPERATIONS)
    figure = plot_cell(genotype)
    texts = {text.get_gid(): text.get_text() for text in figure.findobj(Text) if text.get_gid()}
    for cell_type, cell in genotype.cells():
        for k, block in enumerate(cell.blocks):
            assert texts[f"{cell_type}:op:{k}a"] == block.op_a
            assert texts[f"{cell_type}:op:{k}b"] == block.op_b
            assert texts[f"{cell_type}:node:h{k + 2}"] == f"h{k + 2}"
        assert texts[f"{cell_type}:node:output"] == "concat"
    assert isinstance(figure, Figure)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="genotype must be"):
        plot_cell("normal: identity(h0) + identity(h1)")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="font_size"):
        plot_cell(nasnet.AMOEBANET_A, font_size=0)
    with pytest.raises(ValueError, match="title must be a str or None, got 123"):
        plot_cell(nasnet.AMOEBANET_A, title=123)  # type: ignore[arg-type]
    bad = nasnet.Genotype(
        normal=nasnet.Cell((nasnet.Block(3, "identity", 0, "identity"),)),
        reduction=nasnet.Cell((nasnet.Block(0, "identity", 0, "identity"),)),
    )
    with pytest.raises(ValueError, match="hidden state"):
        plot_cell(bad)
