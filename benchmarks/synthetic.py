"""A cheap, deterministic objective over the NASNet encoding, for sampler cost and load tests.

The score of a genotype is a sum of fixed pseudo-random contributions of every (cell, block,
slot, op) and (cell, block, slot, input) choice plus a pairwise term between the two ops of
each block, so it has structure to climb but costs microseconds. Maximise it.
"""

from __future__ import annotations

import numpy as np
import optuna

from optuna_amoeba import nasnet


class SyntheticNASNetObjective:
    """``objective(trial) -> float``; the same ``seed`` gives the same landscape."""

    def __init__(self, *, num_blocks: int = nasnet.DEFAULT_NUM_BLOCKS, seed: int = 0) -> None:
        if num_blocks < 1:
            raise ValueError(f"num_blocks must be >= 1, got {num_blocks}")
        self.num_blocks = num_blocks
        rng = np.random.RandomState(seed)
        num_ops = len(nasnet.OPERATIONS)
        cells, slots = len(nasnet.CELL_TYPES), 2
        self._op_weights = rng.normal(size=(cells, num_blocks, slots, num_ops))
        self._input_weights = rng.normal(size=(cells, num_blocks, slots, num_blocks + 1))
        self._pair_weights = rng.normal(scale=0.5, size=(cells, num_blocks, num_ops, num_ops))
        self._op_index = {op: i for i, op in enumerate(nasnet.OPERATIONS)}

    def score(self, genotype: nasnet.Genotype) -> float:
        total = 0.0
        for c, (_, cell) in enumerate(genotype.cells()):
            for b, block in enumerate(cell.blocks):
                op_a, op_b = self._op_index[block.op_a], self._op_index[block.op_b]
                total += self._op_weights[c, b, 0, op_a] + self._op_weights[c, b, 1, op_b]
                total += self._input_weights[c, b, 0, block.input_a]
                total += self._input_weights[c, b, 1, block.input_b]
                total += self._pair_weights[c, b, op_a, op_b]
        return float(total)

    def __call__(self, trial: optuna.Trial) -> float:
        return self.score(nasnet.suggest_genotype(trial, num_blocks=self.num_blocks))
