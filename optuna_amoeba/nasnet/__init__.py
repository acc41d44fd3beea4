"""The NASNet cell search space (Zoph et al. 2018) as used by AmoebaNet (Real et al. 2019)."""

from __future__ import annotations

from optuna_amoeba.nasnet._genotype import Block
from optuna_amoeba.nasnet._genotype import Cell
from optuna_amoeba.nasnet._genotype import CELL_TYPES
from optuna_amoeba.nasnet._genotype import Genotype
from optuna_amoeba.nasnet._genotype import NUM_INPUT_STATES
from optuna_amoeba.nasnet._genotype import OPERATIONS
from optuna_amoeba.nasnet._genotype import rule_concat
from optuna_amoeba.nasnet._published import AMOEBANET_A
from optuna_amoeba.nasnet._published import NASNET_A
from optuna_amoeba.nasnet._search_space import DEFAULT_NUM_BLOCKS
from optuna_amoeba.nasnet._search_space import NASNetSpace
from optuna_amoeba.nasnet._search_space import search_space
from optuna_amoeba.nasnet._search_space import suggest_genotype


__all__ = [
    "AMOEBANET_A",
    "CELL_TYPES",
    "DEFAULT_NUM_BLOCKS",
    "NASNET_A",
    "NUM_INPUT_STATES",
    "OPERATIONS",
    "Block",
    "Cell",
    "Genotype",
    "NASNetSpace",
    "rule_concat",
    "search_space",
    "suggest_genotype",
]
