"""The NASNet network of a genotype: a stem, three stacks of cells, a classifier.

Built as the authors' reference code builds its CIFAR model (tensorflow/models
``research/slim/nets/nasnet/nasnet.py`` and ``nasnet_utils.py``, facts carried over): a 3x3
conv-BN stem with ``stem_multiplier * F`` channels; ``N`` normal cells, a reduction cell,
``N`` normal cells, a reduction cell, ``N`` normal cells; the filter count doubled at each
reduction; each cell reads the outputs of the two cells before it; scheduled drop-path on the
non-identity operations; an optional auxiliary head after the last normal cell of the second
stack; ReLU, global average pooling, dropout and a linear classifier.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from lightning_modules.operations import batch_norm
from lightning_modules.operations import FactorizedReduction
from lightning_modules.operations import make_operation
from lightning_modules.operations import ReLUConvBN
from optuna_amoeba._checks import check_bool
from optuna_amoeba._checks import check_float
from optuna_amoeba._checks import check_int
from optuna_amoeba.nasnet import Cell
from optuna_amoeba.nasnet import Genotype
from optuna_amoeba.nasnet import NUM_INPUT_STATES


NUM_STACKS = 3


@dataclass(frozen=True)
class _Shape:
    channels: int
    size: int


def drop_path(x: torch.Tensor, keep_prob: float | torch.Tensor) -> torch.Tensor:
    """Zero whole examples with probability ``1 - keep_prob``, scaling the rest up.

    ``keep_prob`` may be a 0-d tensor, so that a compiled graph reads the schedule's value
    instead of being recompiled for each new float. That is why this is not
    ``torchvision.ops.stochastic_depth(mode="row")``, which computes the same but takes the
    probability as a Python float: under ``torch.compile`` each new scheduled value recompiles
    the graph (8 recompilations in 10 steps with torch 2.14).
    """
    if isinstance(keep_prob, float) and keep_prob >= 1.0:
        return x
    mask = torch.rand(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype) < keep_prob
    return x / keep_prob * mask


class CellModule(nn.Module):
    """One normal or reduction cell with ``filters`` channels per hidden state.

    Hidden states follow :mod:`optuna_amoeba.nasnet`: ``h0`` is the previous cell's output
    (ReLU-1x1 conv-BN to ``filters``), ``h1`` the one before it (a factorized reduction when it
    is larger, ReLU-1x1 conv-BN when its channel count differs, untouched otherwise; the first
    cell gets the stem output as both). In a reduction cell only operations reading ``h0`` or
    ``h1`` have stride 2. The output concatenates ``cell.concat``, reducing any concatenated
    state whose size or channel count differs from the blocks' outputs.
    """

    def __init__(
        self,
        cell: Cell,
        *,
        h0: _Shape,
        h1: _Shape,
        filters: int,
        reduction: bool,
        first: bool,
        layer_ratio: float,
    ) -> None:
        super().__init__()
        self.reduction = reduction
        self.layer_ratio = layer_ratio
        self.drop_path_keep_prob = 1.0
        self._progress: torch.Tensor
        self.register_buffer("_progress", torch.zeros(()), persistent=False)
        self.blocks_inputs = [(block.input_a, block.input_b) for block in cell.blocks]
        self.concat = cell.concat

        self.preprocess0 = ReLUConvBN(h0.channels, filters, 1)
        self.preprocess1: nn.Module
        if first:
            self.preprocess1 = nn.Identity()
            h1_channels = h1.channels
        elif h1.size != h0.size:
            self.preprocess1 = FactorizedReduction(h1.channels, filters, 2, relu_first=True)
            h1_channels = filters
        elif h1.channels != filters:
            self.preprocess1 = ReLUConvBN(h1.channels, filters, 1)
            h1_channels = filters
        else:
            self.preprocess1 = nn.Identity()
            h1_channels = filters

        stride = 2 if reduction else 1
        state_channels = [filters, h1_channels]
        self.ops = nn.ModuleList()
        self.dropped: list[bool] = []
        for block in cell.blocks:
            for state, op_name in ((block.input_a, block.op_a), (block.input_b, block.op_b)):
                op_stride = stride if state < NUM_INPUT_STATES else 1
                self.ops.append(make_operation(op_name, state_channels[state], filters, op_stride))
                self.dropped.append(op_name != "identity")
            state_channels.append(filters)

        self.concat_reducers = nn.ModuleDict()
        for state in self.concat:
            needs_stride = reduction and state < NUM_INPUT_STATES
            if needs_stride or state_channels[state] != filters:
                self.concat_reducers[str(state)] = FactorizedReduction(
                    state_channels[state], filters, 2 if needs_stride else 1
                )
        self.out_channels = filters * len(self.concat)

    @property
    def drop_path_progress(self) -> float:
        """Fraction of training done, in ``[0, 1]``, for the drop-path schedule."""
        return float(self._progress)

    @drop_path_progress.setter
    def drop_path_progress(self, progress: float) -> None:
        # In place: a buffer the (compiled) forward reads, not a Python float it guards on.
        self._progress.fill_(min(1.0, float(progress)))

    def _keep_prob(self) -> torch.Tensor:
        # Reference schedule ("v3"): the drop probability grows with depth and with progress.
        drop = 1.0 - self.drop_path_keep_prob
        return 1.0 - drop * self.layer_ratio * self._progress

    def forward(self, h0: torch.Tensor, h1: torch.Tensor) -> torch.Tensor:
        states = [self.preprocess0(h0), self.preprocess1(h1)]
        keep_prob: float | torch.Tensor = 1.0
        if self.training and self.drop_path_keep_prob < 1.0:
            keep_prob = self._keep_prob()
        op_index = 0
        for input_a, input_b in self.blocks_inputs:
            total = None
            for state in (input_a, input_b):
                out = self.ops[op_index](states[state])
                if self.dropped[op_index]:
                    out = drop_path(out, keep_prob)
                total = out if total is None else total + out
                op_index += 1
            assert total is not None
            states.append(total)
        outputs = [
            self.concat_reducers[str(state)](states[state])
            if str(state) in self.concat_reducers
            else states[state]
            for state in self.concat
        ]
        return torch.cat(outputs, dim=1)


class AuxiliaryHead(nn.Module):
    """The reference auxiliary classifier: ReLU, 5x5/3 average pool, 1x1 conv to 128, BN,
    ReLU, a conv to 768 covering the remaining map, BN, ReLU, linear.

    On maps smaller than 5x5 the pooling window shrinks to the map.
    """

    def __init__(self, in_channels: int, size: int, num_classes: int) -> None:
        super().__init__()
        window = min(5, size)
        pooled = (size - window) // 3 + 1
        self.features = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.AvgPool2d(window, stride=3),
            nn.Conv2d(in_channels, 128, 1, bias=False),
            batch_norm(128),
            nn.ReLU(inplace=False),
            nn.Conv2d(128, 768, pooled, bias=False),
            batch_norm(768),
            nn.ReLU(inplace=False),
            nn.Flatten(),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result: torch.Tensor = self.classifier(self.features(x))
        return result


class NASNetwork(nn.Module):
    """The network of ``genotype`` with ``num_cells`` (N) normal cells per stack.

    Args:
        genotype: The normal and reduction cells, or their text (``str(genotype)``).
        num_cells: N, normal cells per stack (three stacks), ``>= 1``.
        num_filters: F, filters per hidden state in the first stack (doubled after each
            reduction cell), ``>= 1``.
        num_classes: Output classes, ``>= 2``.
        in_channels: Image channels (3 for CIFAR-10, 1 for digits).
        image_size: Height and width of the input images, ``>= 4`` (two reductions).
        stem_multiplier: The stem has ``stem_multiplier * F`` channels (reference: 3).
        drop_path_keep_prob: Final keep probability of scheduled drop-path, in ``(0, 1]``;
            1 turns it off (the paper's full-size training: 0.7). The schedule reaches it
            in the last cell at the end of training; set :attr:`drop_path_progress`.
        auxiliary_head: Add the auxiliary classifier; ``forward`` then returns
            ``(logits, auxiliary_logits)`` in training mode.
        dropout: Dropout before the classifier, in ``[0, 1)``.

    ``forward`` returns logits (and in training mode with ``auxiliary_head``, also the
    auxiliary logits). :attr:`settings` holds the checked values of :data:`NETWORK_HPARAMS`.
    """

    def __init__(
        self,
        genotype: Genotype | str,
        *,
        num_cells: int,
        num_filters: int,
        num_classes: int,
        in_channels: int = 3,
        image_size: int = 32,
        stem_multiplier: int = 3,
        drop_path_keep_prob: float = 1.0,
        auxiliary_head: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        num_cells = check_int("num_cells", num_cells, 1)
        num_filters = check_int("num_filters", num_filters, 1)
        num_classes = check_int("num_classes", num_classes, 2)
        in_channels = check_int("in_channels", in_channels, 1)
        image_size = check_int("image_size", image_size, 4)
        stem_multiplier = check_int("stem_multiplier", stem_multiplier, 1)
        drop_path_keep_prob = check_float(
            "drop_path_keep_prob", drop_path_keep_prob, low=0.0, high=1.0, low_open=True
        )
        dropout = check_float("dropout", dropout, low=0.0, high=1.0, high_open=True)
        auxiliary_head = check_bool("auxiliary_head", auxiliary_head)
        if isinstance(genotype, str):
            genotype = Genotype.parse(genotype)
        elif not isinstance(genotype, Genotype):
            raise ValueError(
                f"genotype must be a Genotype or its text (str(genotype)), got {genotype!r}"
            )
        self.genotype = genotype.validate()
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.image_size = image_size
        self.settings: dict[str, int | float] = {
            "num_cells": num_cells,
            "num_filters": num_filters,
            "num_classes": num_classes,
            "in_channels": in_channels,
            "image_size": image_size,
            "stem_multiplier": stem_multiplier,
            "drop_path_keep_prob": drop_path_keep_prob,
            "dropout": dropout,
        }

        stem_channels = stem_multiplier * num_filters
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, stem_channels, 3, padding=1, bias=False),
            batch_norm(stem_channels),
        )
        total_cells = NUM_STACKS * num_cells + NUM_STACKS - 1
        prev = cur = _Shape(stem_channels, image_size)
        filters = num_filters
        size = image_size
        self.cells = nn.ModuleList()
        self.auxiliary_after: int | None = None
        self.auxiliary_head: AuxiliaryHead | None = None
        for stack in range(NUM_STACKS):
            kinds = [False] * num_cells
            if stack > 0:
                kinds = [True, *kinds]
            for reduction in kinds:
                if reduction:
                    filters *= 2
                    size = (size + 1) // 2
                cell = CellModule(
                    genotype.reduction if reduction else genotype.normal,
                    h0=cur,
                    h1=prev,
                    filters=filters,
                    reduction=reduction,
                    first=not self.cells,
                    layer_ratio=(len(self.cells) + 1) / total_cells,
                )
                cell.drop_path_keep_prob = drop_path_keep_prob
                self.cells.append(cell)
                prev, cur = cur, _Shape(cell.out_channels, size)
            if stack == 1 and auxiliary_head:
                self.auxiliary_after = len(self.cells) - 1
                self.auxiliary_head = AuxiliaryHead(cur.channels, size, num_classes)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(cur.channels, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        # Variance scaling over fan-out, as the reference (slim nasnet_cifar_arg_scope), but
        # with PyTorch's count for depthwise kernels (C*k*k, TensorFlow's k*k): sqrt(C) times
        # smaller, they trained digits searches better (benchmarks/results/digits/README.md).
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    @property
    def drop_path_progress(self) -> float:
        """Fraction of training done, in ``[0, 1]``, for the drop-path schedule."""
        first = self.cells[0]
        assert isinstance(first, CellModule)
        return first.drop_path_progress

    @drop_path_progress.setter
    def drop_path_progress(self, progress: float) -> None:
        for cell in self.cells:
            assert isinstance(cell, CellModule)
            cell.drop_path_progress = progress

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        prev = cur = self.stem(x)
        auxiliary_logits = None
        for index, cell in enumerate(self.cells):
            prev, cur = cur, cell(cur, prev)
            if index == self.auxiliary_after and self.training and self.auxiliary_head is not None:
                auxiliary_logits = self.auxiliary_head(cur)
        pooled = torch.relu(cur).mean(dim=(2, 3))
        logits: torch.Tensor = self.classifier(self.dropout(pooled))
        if auxiliary_logits is not None:
            return logits, auxiliary_logits
        return logits


NETWORK_HPARAMS = (
    "num_cells",
    "num_filters",
    "num_classes",
    "in_channels",
    "image_size",
    "stem_multiplier",
    "drop_path_keep_prob",
    "dropout",
)
"""The hyperparameters of :class:`~lightning_modules.module.NASNetModule` that shape its
network (with ``genotype`` and ``auxiliary_weight``)."""


def network_from_hparams(hparams: Mapping[str, Any]) -> NASNetwork:
    """The network that a ``NASNetModule`` with these hyperparameters trains (untrained);
    the auxiliary head is built when ``auxiliary_weight`` > 0. ``ValueError`` when a
    hyperparameter is missing or wrong."""
    missing = [
        name for name in ("genotype", "auxiliary_weight", *NETWORK_HPARAMS) if name not in hparams
    ]
    if missing:
        raise ValueError(f"hyperparameters lack {', '.join(missing)}")
    return NASNetwork(
        hparams["genotype"],
        auxiliary_head=hparams["auxiliary_weight"] > 0,
        **{name: hparams[name] for name in NETWORK_HPARAMS},
    )


def count_parameters(module: nn.Module, *, exclude_auxiliary: bool = True) -> int:
    """Trainable parameters of ``module``, leaving out any auxiliary head."""
    excluded: set[int] = set()
    if exclude_auxiliary:
        for child in module.modules():
            if isinstance(child, AuxiliaryHead):
                excluded.update(id(parameter) for parameter in child.parameters())
    return sum(
        parameter.numel()
        for parameter in module.parameters()
        if parameter.requires_grad and id(parameter) not in excluded
    )


def count_flops(network: nn.Module, *, in_channels: int, image_size: int) -> int:
    """Forward-pass FLOPs for one image (torch's ``FlopCounterMode``: 2 per multiply-add).

    Counted in evaluation mode, so the auxiliary head is not included. A
    :class:`NASNetwork` takes images of its own ``in_channels`` only.
    """
    from torch.utils.flop_counter import FlopCounterMode

    in_channels = check_int("in_channels", in_channels, 1)
    image_size = check_int("image_size", image_size, 1)
    if isinstance(network, NASNetwork) and in_channels != network.in_channels:
        raise ValueError(
            f"in_channels must be the network's {network.in_channels} input channels, "
            f"got {in_channels}"
        )
    parameter = next(network.parameters(), None)
    device = torch.device("cpu") if parameter is None else parameter.device
    was_training = network.training
    network.eval()
    try:
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            network(torch.zeros(1, in_channels, image_size, image_size, device=device))
    finally:
        network.train(was_training)
    return int(counter.get_total_flops())
