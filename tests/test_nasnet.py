from __future__ import annotations

import numpy as np
import optuna
from optuna.trial import FixedTrial
import pytest

from optuna_amoeba import nasnet
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


def test_genotypes_are_immutable_and_hashable() -> None:
    with pytest.raises(AttributeError):
        AMOEBANET_A.normal = NASNET_A.normal  # type: ignore[misc]
    assert len({AMOEBANET_A, NASNET_A, Genotype.parse(str(AMOEBANET_A))}) == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("normal: identity(h0) + identity(h1)", "missing reduction cell"),
        ("normal: identity(h2) + identity(h1); reduction: identity(h0) + identity(h1)",
         r"normal cell, block 0, input a: hidden state must be in \[0, 1\]"),
        ("normal: identity(h0) + conv_9x9(h1); reduction: identity(h0) + identity(h1)",
         "normal cell, block 0, input b: operation must be one of identity"),
        ("normal: identity(h0) identity(h1); reduction: identity(h0) + identity(h1)",
         "normal cell, block 0: cannot parse"),
        ("normal: identity(h0) + identity(h1); reduction: identity(h0) + identity(h1), "
         "identity(h0) + identity(h2)", "same number of blocks"),
        ("inputs: identity(h0) + identity(h1)", "expected 'normal: ...; reduction: ...'"),
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
