from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import optuna
from optuna.trial import FixedTrial
import pytest

from optuna_amoeba import nasnet
from optuna_amoeba.nasnet import _genotype
from optuna_amoeba.nasnet import AMOEBANET_A
from optuna_amoeba.nasnet import Block
from optuna_amoeba.nasnet import Cell
from optuna_amoeba.nasnet import Genotype
from optuna_amoeba.nasnet import NASNET_A
from optuna_amoeba.nasnet import NASNetSpace


def random_genotype(rng: np.random.RandomState, num_blocks: int = 5) -> Genotype:
    params = {
        name: dist.choices[rng.randint(len(dist.choices))]  # type: ignore[attr-defined]
        for name, dist in nasnet.search_space(num_blocks).items()
    }
    return nasnet.suggest_genotype(FixedTrial(params), num_blocks=num_blocks)


def test_search_space_has_four_params_per_block_and_valid_inputs() -> None:
    space = nasnet.search_space()
    assert len(space) == 40
    assert space["normal_b0_input_a"].choices == (0, 1)  # type: ignore[attr-defined]
    assert space["reduction_b4_input_b"].choices == (0, 1, 2, 3, 4, 5)  # type: ignore[attr-defined]
    assert space["normal_b3_op_b"].choices == nasnet.OPERATIONS  # type: ignore[attr-defined]
    assert len(nasnet.OPERATIONS) == 8


@pytest.mark.parametrize("num_blocks", [1, 2, 5, 7])
def test_params_and_text_round_trip_for_random_genotypes(num_blocks: int) -> None:
    rng = np.random.RandomState(num_blocks)
    for _ in range(50):
        genotype = random_genotype(rng, num_blocks)
        assert Genotype.from_params(genotype.to_params()) == genotype
        assert Genotype.parse(str(genotype)) == genotype
        assert genotype.num_blocks == num_blocks


def test_published_genotypes_round_trip_and_keep_reference_concat() -> None:
    for genotype in (AMOEBANET_A, NASNET_A):
        assert Genotype.parse(str(genotype)) == genotype
        genotype.validate()
    # tensorflow/tpu model_specs.py, amoeba_net_a: used_hiddenstates [1, 0, 1, 0, 0, 1, 0].
    assert AMOEBANET_A.normal.concat == (1, 3, 4, 6)
    assert AMOEBANET_A.reduction.concat == (2, 3, 4, 5, 6)
    assert AMOEBANET_A.normal.blocks[4] == Block(5, "avg_pool_3x3", 0, "sep_conv_3x3")
    assert NASNET_A.normal.concat == (1, 2, 3, 4, 5, 6)
    assert NASNET_A.reduction.blocks[3] == Block(3, "identity", 2, "avg_pool_3x3")
    # to_params carries the blocks only: the concat then follows the paper's rule.
    from_params = Genotype.from_params(AMOEBANET_A.to_params())
    assert from_params.normal.blocks == AMOEBANET_A.normal.blocks
    assert from_params.normal.concat == nasnet.rule_concat(AMOEBANET_A.normal.blocks)


def test_rule_concat_lists_states_no_block_reads() -> None:
    cell = Cell((Block(0, "identity", 1, "identity"), Block(2, "identity", 0, "identity")))
    assert cell.concat == (3,)
    explicit = Cell(cell.blocks, explicit_concat=(3,))
    assert explicit == cell and explicit.explicit_concat is None


@pytest.mark.parametrize(
    ("concat", "message"),
    [
        ((1.0, 3), r"normal cell: concat state must be an int in \[0, 3\], got 1\.0"),
        ((True, 3), r"normal cell: concat state must be an int in \[0, 3\], got True"),
        ((4,), r"normal cell: concat state must be an int in \[0, 3\], got 4"),
    ],
)
def test_validate_refuses_an_explicit_concat_that_is_not_hidden_states(
    concat: tuple[object, ...], message: str
) -> None:
    cell = Cell((Block(0, "identity", 1, "identity"), Block(2, "identity", 0, "identity")))
    odd = Cell(cell.blocks, explicit_concat=concat)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=message):
        Genotype(odd, cell).validate()


def test_genotypes_are_immutable_and_hashable() -> None:
    with pytest.raises(AttributeError):
        AMOEBANET_A.normal = NASNET_A.normal  # type: ignore[misc]
    assert len({AMOEBANET_A, NASNET_A, Genotype.parse(str(AMOEBANET_A))}) == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("normal: identity(h0) + identity(h1)", "missing reduction cell"),
        ("normal: identity(h2) + identity(h1); reduction: identity(h0) + identity(h1)",
         r"normal cell, block 0, input a: hidden state must be an int in \[0, 1\], got 2"),
        ("normal: identity(h0) + conv_9x9(h1); reduction: identity(h0) + identity(h1)",
         "normal cell, block 0, input b: operation must be one of identity"),
        ("normal: identity(h0) identity(h1); reduction: identity(h0) + identity(h1)",
         "normal cell, block 0: cannot parse"),
        ("normal: identity(h0) + identity(h1); reduction: identity(h0) + identity(h1), "
         "identity(h0) + identity(h2)", "same number of blocks"),
        ("inputs: identity(h0) + identity(h1)",
         r"expected 'normal: op\(h0\) \+ op\(h1\), \.\.\.; reduction: \.\.\.'"),
    ],
)  # fmt: skip
def test_parse_and_validate_errors_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Genotype.parse(text)


def test_validate_names_the_bad_block_for_constructed_genotypes() -> None:
    blocks = list(AMOEBANET_A.reduction.blocks)
    blocks[3] = Block(7, "identity", 0, "identity")
    bad = Genotype(normal=AMOEBANET_A.normal, reduction=Cell(tuple(blocks)))
    with pytest.raises(ValueError, match=r"reduction cell, block 3, input a: .* got 7"):
        bad.validate()
    with pytest.raises(ValueError, match="operation must be one of identity, max_pool_3x3"):
        AMOEBANET_A.validate(operations=("identity", "max_pool_3x3"))


def test_suggest_genotype_with_custom_operations_and_blocks() -> None:
    study = optuna.create_study()
    trial = study.ask()
    genotype = nasnet.suggest_genotype(
        trial, num_blocks=3, operations=("identity", "max_pool_3x3")
    )
    assert genotype.num_blocks == 3
    assert len(trial.params) == 24
    assert {b.op_a for _, c in genotype.cells() for b in c.blocks} <= {"identity", "max_pool_3x3"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_blocks": 0}, "num_blocks must be an int >= 1, got 0"),
        ({"operations": ()}, "operations must name at least 1 operation"),
        ({"operations": ("a", "a")}, "operations must not repeat"),
    ],
)
def test_suggest_genotype_rejects_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    trial = optuna.create_study().ask()
    with pytest.raises(ValueError, match=message):
        nasnet.suggest_genotype(trial, **kwargs)  # type: ignore[arg-type]


def test_from_params_reports_missing_parameter() -> None:
    params = AMOEBANET_A.to_params()
    del params["reduction_b2_op_b"]
    with pytest.raises(ValueError, match="reduction_b2_op_b"):
        Genotype.from_params(params)
    with pytest.raises(ValueError, match="no NASNet parameter"):
        Genotype.from_params({"x": 1})


def test_space_detection_requires_the_complete_encoding() -> None:
    space = nasnet.search_space(4, ("identity", "sep_conv_3x3"))
    assert NASNetSpace.detect(space) == NASNetSpace(4, ("identity", "sep_conv_3x3"))
    extended = {**space, "lr": optuna.distributions.FloatDistribution(1e-3, 1.0, log=True)}
    assert NASNetSpace.detect(extended) == NASNetSpace(4, ("identity", "sep_conv_3x3"))
    partial = dict(space)
    del partial["normal_b1_op_a"]
    assert NASNetSpace.detect(partial) is None
    assert NASNetSpace.detect({"x": optuna.distributions.IntDistribution(0, 3)}) is None


def _amoebanet_params_with(**changes: object) -> dict[str, object]:
    params: dict[str, object] = dict(AMOEBANET_A.to_params())
    params.update(changes)
    return params


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"normal_b0_op_a": "conv_9x9"},
         r"normal cell, block 0, input a: operation must be one of identity, .*; got 'conv_9x9'"),
        ({"normal_b0_op_b": None}, r"normal cell, block 0, input b: operation .*; got None"),
        ({"reduction_b1_op_a": 3}, r"reduction cell, block 1, input a: operation .*; got 3"),
        ({"normal_b0_input_a": 7},
         r"normal cell, block 0, input a: hidden state must be an int in \[0, 1\], got 7"),
        ({"normal_b2_input_b": "1"}, r"block 2, input b: hidden state must be an int .*got '1'"),
        ({"normal_b2_input_b": 1.0}, r"block 2, input b: hidden state must be an int .*got 1\.0"),
        ({"reduction_b4_input_a": None}, r"reduction cell, block 4, input a: .* got None"),
        ({"normal_b3_input_a": True}, r"normal cell, block 3, input a: .* got True"),
        ({"normal_b3_input_a": -1}, r"normal cell, block 3, input a: .* got -1"),
    ],
)  # fmt: skip
def test_from_params_refuses_invalid_values(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Genotype.from_params(_amoebanet_params_with(**changes))


def test_from_params_refuses_num_blocks_below_the_blocks_present() -> None:
    with pytest.raises(ValueError, match=r"num_blocks must be at least 5 \(params hold "):
        Genotype.from_params(AMOEBANET_A.to_params(), num_blocks=3)
    with pytest.raises(ValueError, match="num_blocks must be an int >= 1, got 0"):
        Genotype.from_params(AMOEBANET_A.to_params(), num_blocks=0)
    with pytest.raises(ValueError, match="params lack 'normal_b5_input_a'"):
        Genotype.from_params(AMOEBANET_A.to_params(), num_blocks=6)


@pytest.mark.parametrize("params", [None, "normal_b0_input_a", [("normal_b0_input_a", 0)], 3])
def test_from_params_refuses_what_is_not_a_mapping(params: object) -> None:
    with pytest.raises(ValueError, match="params must be a mapping of parameter names to values"):
        Genotype.from_params(params)  # type: ignore[arg-type]


def test_from_params_ignores_foreign_names_and_accepts_numpy_ints() -> None:
    params: dict[object, object] = {
        **{name: np.int64(value) if isinstance(value, int) else value
           for name, value in AMOEBANET_A.to_params().items()},
        1: "not a name", "lr": 0.1, "normal_b01_input_a": 9, "normal_b\u0665_input_a": 9,
    }  # fmt: skip
    genotype = Genotype.from_params(params)  # type: ignore[arg-type]
    assert genotype.normal.blocks == AMOEBANET_A.normal.blocks
    assert all(type(block.input_a) is int for _, cell in genotype.cells() for block in cell.blocks)
    with pytest.raises(ValueError, match="no NASNet parameter"):
        Genotype.from_params({1: 2, "normal_b\u0661_input_a": 0})  # type: ignore[dict-item]


def test_from_params_checks_against_the_given_operations() -> None:
    ops = ("identity", "max_pool_3x3")
    params = _amoebanet_params_with(normal_b0_op_a="avg_pool_3x3")
    with pytest.raises(ValueError, match="operation must be one of identity, max_pool_3x3;"):
        Genotype.from_params(params, operations=ops)
    custom = {name: "my_op" if "_op_" in name else value for name, value in params.items()}
    genotype = Genotype.from_params(custom, operations=("my_op",))
    assert Genotype.parse(str(genotype), operations=("my_op",)) == genotype
    with pytest.raises(ValueError, match="operation must be one of identity"):
        Genotype.from_params(custom)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "genotype text must be a str like 'normal: op"),
        (b"normal: identity(h0) + identity(h1); reduction: identity(h0) + identity(h1)",
         "genotype text must be a str like 'normal: op.* got b'normal"),
        ("normal: identity(h\u0661) + identity(h0); reduction: identity(h0) + identity(h1)",
         "normal cell, block 0: cannot parse"),
        ("normal: identity(h0) + identity(h1), concat(h\u0662); "
         "reduction: identity(h0) + identity(h1)", "concat entries must look like h3"),
        ("normal: identity(h1234567) + identity(h0); reduction: identity(h0) + identity(h1)",
         "at most 6 digits"),
        ("normal: identit\u00e9(h0) + identity(h0); reduction: identity(h0) + identity(h1)",
         "ASCII letters, digits and underscores"),
    ],
)  # fmt: skip
def test_parse_refuses_non_text_and_non_ascii_digits(text: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Genotype.parse(text)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("operations", "message"),
    [
        ("identity", "operations must be a collection of operation names, got 'identity'"),
        (None, "operations must be a collection of operation names, got None"),
        (("sep conv",), r"operations must be names of ASCII letters.*\['sep conv'\]"),
        (("identity", 3), r"operations must be names of ASCII letters.*\[3\]"),
    ],
)
def test_operations_are_checked_on_every_path(operations: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AMOEBANET_A.validate(operations)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=message):
        Genotype.from_params(AMOEBANET_A.to_params(), operations=operations)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=message):
        Genotype.parse(str(NASNET_A), operations=operations)  # type: ignore[arg-type]


def test_space_detection_ignores_operations_the_text_form_cannot_hold() -> None:
    space = nasnet.search_space(2, ("a", "b"))
    renamed = {
        name: optuna.distributions.CategoricalDistribution(("sep conv", "b"))
        if "_op_" in name else distribution
        for name, distribution in space.items()
    }  # fmt: skip
    assert NASNetSpace.detect(space) == NASNetSpace(2, ("a", "b"))
    assert NASNetSpace.detect(renamed) is None


def test_genotype_module_does_not_import_the_search_space() -> None:
    tree = ast.parse(Path(_genotype.__file__).read_text())
    imported = [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    imported += [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    ]
    assert imported
    assert not [name for name in imported if "_search_space" in name]
