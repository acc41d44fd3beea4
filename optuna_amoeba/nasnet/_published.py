"""Published cells, transcribed from the authors' reference code.

Sources (facts carried over, not code):
- AmoebaNet-A: tensorflow/tpu, ``models/official/amoeba_net/model_specs.py``,
  ``get_normal_cell`` / ``get_reduction_cell`` for ``'amoeba_net_a'``.
- NASNet-A: tensorflow/models, ``research/slim/nets/nasnet/nasnet_utils.py``,
  ``NasNetANormalCell`` / ``NasNetAReductionCell``.

The reference code lists ten operations per cell, ``hiddenstate_indices`` (operation ``i``
reads hidden state ``hiddenstate_indices[i]``, block ``k`` being operations ``2k`` and
``2k + 1``) and ``used_hiddenstates`` (the states *not* concatenated into the output). Its state
0 is the previous cell's output and state 1 the one before, the same order as ours. Its
``used_hiddenstates`` differ from the paper's "concatenate the unused states" rule (both
cells also concatenate some states that blocks read), so these constants carry the reference
code's concat explicitly.
"""

from __future__ import annotations

from collections.abc import Sequence

from optuna_amoeba.nasnet._genotype import Block
from optuna_amoeba.nasnet._genotype import Cell
from optuna_amoeba.nasnet._genotype import Genotype


# Reference-code operation names -> ours.
_REFERENCE_OPS = {
    "none": "identity",
    "separable_3x3_2": "sep_conv_3x3",
    "separable_5x5_2": "sep_conv_5x5",
    "separable_7x7_2": "sep_conv_7x7",
    "avg_pool_3x3": "avg_pool_3x3",
    "max_pool_3x3": "max_pool_3x3",
    "1x7_7x1": "conv_1x7_7x1",
}


def _from_reference(
    operations: Sequence[str], hiddenstate_indices: Sequence[int], used: Sequence[int]
) -> Cell:
    blocks = tuple(
        Block(
            input_a=hiddenstate_indices[2 * k],
            op_a=_REFERENCE_OPS[operations[2 * k]],
            input_b=hiddenstate_indices[2 * k + 1],
            op_b=_REFERENCE_OPS[operations[2 * k + 1]],
        )
        for k in range(len(operations) // 2)
    )
    concat = tuple(index for index, is_used in enumerate(used) if not is_used)
    return Cell(blocks, explicit_concat=concat)


AMOEBANET_A = Genotype(
    normal=_from_reference(
        ["avg_pool_3x3", "max_pool_3x3", "separable_3x3_2", "none", "none",
         "avg_pool_3x3", "separable_3x3_2", "separable_5x5_2", "avg_pool_3x3",
         "separable_3x3_2"],
        [0, 0, 1, 1, 0, 1, 0, 2, 5, 0],
        [1, 0, 1, 0, 0, 1, 0],
    ),
    reduction=_from_reference(
        ["separable_3x3_2", "avg_pool_3x3", "max_pool_3x3", "separable_7x7_2",
         "max_pool_3x3", "max_pool_3x3", "separable_3x3_2", "1x7_7x1", "avg_pool_3x3",
         "separable_7x7_2"],
        [1, 0, 0, 2, 1, 0, 4, 0, 1, 0],
        [1, 1, 0, 0, 0, 0, 0],
    ),
).validate()  # fmt: skip
"""AmoebaNet-A (Real et al. 2019, Figure 4)."""

NASNET_A = Genotype(
    normal=_from_reference(
        ["separable_5x5_2", "separable_3x3_2", "separable_5x5_2", "separable_3x3_2",
         "avg_pool_3x3", "none", "avg_pool_3x3", "avg_pool_3x3", "separable_3x3_2", "none"],
        [0, 1, 1, 1, 0, 1, 1, 1, 0, 0],
        [1, 0, 0, 0, 0, 0, 0],
    ),
    reduction=_from_reference(
        ["separable_5x5_2", "separable_7x7_2", "max_pool_3x3", "separable_7x7_2",
         "avg_pool_3x3", "separable_5x5_2", "none", "avg_pool_3x3", "separable_3x3_2",
         "max_pool_3x3"],
        [0, 1, 0, 1, 0, 1, 3, 2, 2, 0],
        [1, 1, 1, 0, 0, 0, 0],
    ),
).validate()  # fmt: skip
"""NASNet-A (Zoph et al. 2018), the AmoebaNet paper's main baseline."""
