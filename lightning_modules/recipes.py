"""The two reference recipes for training a found architecture at full size on CIFAR-10.

Each value names its source. "Real et al. 2019" is the AmoebaNet paper (AAAI 2019,
arXiv:1802.01548), section "Methods Details"; ``tpu/amoeba_net`` is tensorflow/tpu
``models/official/amoeba_net`` (an ImageNet trainer: only its dataset-independent settings
are taken); ``slim/nasnet.py`` is tensorflow/models ``research/slim/nets/nasnet/nasnet.py``
(``cifar_config()``, ``nasnet_cifar_arg_scope()`` and the "Notes for training NASNet Cifar
Model" above ``cifar_config``); cutout is DeVries & Taylor 2017 (arXiv:1708.04552), whose
CIFAR-10 square is 16 pixels. ``docs/training.md`` tabulates both.
"""

from __future__ import annotations

from dataclasses import asdict
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Recipe:
    """Final-training settings; field names are the ``optuna-amoeba train`` options."""

    epochs: int
    batch_size: int
    learning_rate: float
    """Initial SGD learning rate; cosine decay (one period, per step) to 0."""
    momentum: float
    weight_decay: float
    label_smoothing: float
    drop_path_keep_prob: float
    auxiliary_weight: float
    gradient_clip: float
    cutout: int
    cells: int
    filters: int
    dropout: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


AMOEBANET = Recipe(
    epochs=600,  # Real et al. 2019, Methods Details
    batch_size=128,  # Real et al. 2019, Methods Details
    learning_rate=0.024,  # Real et al. 2019 (cosine: tpu/amoeba_net model_builder.py
    # build_learning_rate, lr_decay_type 'cosine', one period over the whole run)
    momentum=0.9,  # Real et al. 2019; tpu/amoeba_net amoeba_net_model.py momentum_rate=0.9
    weight_decay=5e-4,  # Real et al. 2019; slim/nasnet.py nasnet_cifar_arg_scope(weight_decay)
    label_smoothing=0.0,  # tpu/amoeba_net's label_smoothing=0.1 is in imagenet_hparams only
    drop_path_keep_prob=0.7,  # Real et al. 2019; tpu/amoeba_net drop_connect_keep_prob=0.7
    auxiliary_weight=0.4,  # tpu/amoeba_net model_builder.py _build_loss (aux loss weights=0.4)
    gradient_clip=5.0,  # slim/nasnet.py CIFAR notes ("clip global norm ... by 5"); tpu's
    # gradient_clipping_by_global_norm=10.0 is its ImageNet setting
    cutout=16,  # DeVries & Taylor 2017 (CIFAR-10: 16 x 16)
    cells=6,  # Real et al. 2019: AmoebaNet-A N=6, F=36, 3.2 M parameters
    filters=36,  # Real et al. 2019 (see cells)
    dropout=0.0,  # slim/nasnet.py cifar_config dense_dropout_keep_prob=1.0
)

NASNET = Recipe(
    epochs=600,  # slim/nasnet.py cifar_config: "600 epochs with a batch size of 32"
    # (total_training_steps=937500 = 600 * 50000 / 32)
    batch_size=32,  # slim/nasnet.py CIFAR notes, batch_size: 32
    learning_rate=0.025,  # slim/nasnet.py CIFAR notes, "cosine (single period)" decay
    momentum=0.9,  # not in slim/nasnet.py; as in the AmoebaNet recipe
    weight_decay=5e-4,  # slim/nasnet.py nasnet_cifar_arg_scope(weight_decay=5e-4)
    label_smoothing=0.0,  # slim/nasnet.py: label smoothing 0.1 is in the ImageNet notes only
    drop_path_keep_prob=0.6,  # slim/nasnet.py cifar_config drop_path_keep_prob=0.6
    auxiliary_weight=0.4,  # slim/nasnet.py CIFAR notes, "auxiliary head loss weighting: 0.4"
    gradient_clip=5.0,  # slim/nasnet.py CIFAR notes, "clip global norm ... by 5"
    cutout=16,  # DeVries & Taylor 2017; NASNet-A's best CIFAR-10 results use cutout
    cells=6,  # slim/nasnet.py cifar_config num_cells=18 (three stacks of 6)
    filters=32,  # slim/nasnet.py cifar_config num_conv_filters=32
    dropout=0.0,  # slim/nasnet.py cifar_config dense_dropout_keep_prob=1.0
)

RECIPES: dict[str, Recipe] = {"amoebanet": AMOEBANET, "nasnet": NASNET}

DIGITS_SIZES: dict[str, int | float] = {
    "epochs": 10,
    "cells": 1,
    "filters": 16,
    "batch_size": 64,
    "learning_rate": 0.1,
    "cutout": 0,
}
"""What ``--dataset digits`` keeps of its own whatever the recipe: 8x8 images need a small
network, and a 16-pixel cutout would blank them."""


def recipe_defaults(recipe: str, dataset_kind: str) -> dict[str, Any]:
    """The option defaults of ``train`` for ``recipe`` on a dataset of ``dataset_kind``."""
    defaults = RECIPES[recipe].as_dict()
    if dataset_kind == "digits":
        defaults.update(DIGITS_SIZES)
    return defaults
