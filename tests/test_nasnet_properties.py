"""Property tests of the genotype's text and parameter forms, valid and malformed."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
import pytest

from optuna_amoeba import nasnet
from optuna_amoeba.nasnet import Block
from optuna_amoeba.nasnet import Cell
from optuna_amoeba.nasnet import Genotype


PROPERTY_SETTINGS = settings(max_examples=150, deadline=None)

# Every ValueError of parse / from_params says what is wrong with one of these phrases.
PROBLEM = re.compile(
    r"must be|must have|must come last|must name|must not repeat|must look like|cannot parse|"
    r"params lack|hold no NASNet parameter|given twice|missing (normal|reduction)"
)

operation_names = st.from_regex(r"[A-Za-z0-9_]{1,12}", fullmatch=True)
operation_sets = st.one_of(
    st.just(nasnet.OPERATIONS),
    st.lists(operation_names, min_size=1, max_size=5, unique=True).map(tuple),
)


@st.composite
def genotypes(draw: st.DrawFn) -> tuple[Genotype, tuple[str, ...]]:
    operations = draw(operation_sets)
    num_blocks = draw(st.integers(1, 7))

    def cell() -> Cell:
        blocks = []
        for position in range(num_blocks):
            states = st.integers(0, position + nasnet.NUM_INPUT_STATES - 1)
            ops = st.sampled_from(operations)
            blocks.append(Block(draw(states), draw(ops), draw(states), draw(ops)))
        return Cell(tuple(blocks))

    return Genotype(normal=cell(), reduction=cell()).validate(operations), operations


@PROPERTY_SETTINGS
@given(genotypes())
def test_text_form_round_trips(case: tuple[Genotype, tuple[str, ...]]) -> None:
    genotype, operations = case
    assert Genotype.parse(str(genotype), operations) == genotype


@PROPERTY_SETTINGS
@given(genotypes())
def test_params_form_round_trips(case: tuple[Genotype, tuple[str, ...]]) -> None:
    genotype, operations = case
    params = genotype.to_params()
    assert Genotype.from_params(params, operations=operations) == genotype
    assert Genotype.from_params(params, genotype.num_blocks, operations) == genotype


def assert_valid_or_named_problem(build: Any, *args: Any, **kwargs: Any) -> None:
    try:
        genotype = build(*args, **kwargs)
    except ValueError as error:
        assert PROBLEM.search(str(error)), str(error)
    else:
        assert isinstance(genotype, Genotype)
        genotype.validate(kwargs.get("operations", nasnet.OPERATIONS))


junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 10),
    st.floats(allow_nan=True),
    st.text(max_size=8),
    st.binary(max_size=4),
    st.lists(st.integers(0, 3), max_size=2),
    st.sampled_from(nasnet.OPERATIONS),
)


@st.composite
def edited_texts(draw: st.DrawFn) -> str:
    """Valid text with a few characters replaced, inserted or removed."""
    genotype, _ = draw(genotypes())
    text = str(genotype)
    for _ in range(draw(st.integers(1, 3))):
        position = draw(st.integers(0, len(text)))
        # Digits of other scripts too: ``int`` reads them, the text form must not.
        replacement = draw(st.one_of(st.text(max_size=2), st.characters(categories=["Nd"])))
        text = text[:position] + replacement + text[position + draw(st.integers(0, 2)) :]
    return text


@PROPERTY_SETTINGS
@given(st.one_of(st.text(max_size=60), edited_texts()))
def test_malformed_text_raises_a_value_error_naming_the_problem(text: str) -> None:
    assert_valid_or_named_problem(Genotype.parse, text)
    if any(char.isdigit() and not char.isascii() for char in text):
        with pytest.raises(ValueError):
            Genotype.parse(text)


@PROPERTY_SETTINGS
@given(junk)
def test_non_text_raises_a_value_error_naming_the_problem(value: object) -> None:
    if isinstance(value, str):
        value = value.encode()
    with pytest.raises(ValueError, match="genotype text must be a str"):
        Genotype.parse(value)  # type: ignore[arg-type]


param_names = st.builds(
    lambda cell_type, block, kind, slot: f"{cell_type}_b{block}_{kind}_{slot}",
    st.sampled_from(nasnet.CELL_TYPES),
    st.integers(0, 6),
    st.sampled_from(("input", "op")),
    st.sampled_from(("a", "b")),
)


@st.composite
def edited_params(draw: st.DrawFn) -> dict[object, object]:
    """A genotype's parameters with some removed, changed or added."""
    genotype, _ = draw(genotypes())
    params: dict[object, object] = dict(genotype.to_params())
    for name in draw(st.lists(st.sampled_from(sorted(params)), max_size=3)):
        params.pop(name, None)
    for name in draw(st.lists(st.one_of(param_names, st.text(max_size=6)), max_size=3)):
        params[name] = draw(junk)
    return params


@PROPERTY_SETTINGS
@given(
    st.one_of(
        edited_params(),
        st.dictionaries(st.one_of(param_names, st.text(max_size=6), st.integers()), junk),
        junk,
    ),
    st.one_of(st.none(), st.integers(-1, 8), junk),
)
def test_malformed_params_raise_a_value_error_naming_the_problem(
    params: object, num_blocks: object
) -> None:
    assert_valid_or_named_problem(Genotype.from_params, params, num_blocks)


@PROPERTY_SETTINGS
@given(genotypes(), st.data())
def test_digits_of_other_scripts_are_refused(
    case: tuple[Genotype, tuple[str, ...]], data: st.DataObject
) -> None:
    genotype, operations = case
    text = str(genotype)
    positions = [
        index for index, char in enumerate(text) if char.isdigit() and text[index - 1] == "h"
    ]
    position = data.draw(st.sampled_from(positions))
    digit = data.draw(
        st.characters(categories=["Nd"]).filter(lambda char: not char.isascii() and char.isdigit())
    )
    with pytest.raises(ValueError, match="cannot parse"):
        Genotype.parse(text[:position] + digit + text[position + 1 :], operations)
