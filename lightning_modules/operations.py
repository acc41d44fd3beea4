"""The eight operations of the AmoebaNet search space, built as the authors' reference code does.

Sources (facts carried over, not code): tensorflow/models ``research/slim/nets/nasnet/
nasnet_utils.py`` (separable convolutions, pooling, identity, factorized reduction) and
tensorflow/tpu ``models/official/amoeba_net/network_utils.py`` (the ``1x7_7x1`` convolution
with its bottleneck). Every operation maps ``in_channels`` to ``out_channels``; ``stride`` 2
halves the resolution ("SAME" padding throughout).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from optuna_amoeba._checks import check_int


BATCH_NORM_MOMENTUM = 0.1
"""PyTorch's momentum for BN running statistics (the reference's decay 0.9)."""

BATCH_NORM_EPSILON = 1e-5
"""As in the reference ``nasnet_cifar_arg_scope``."""


def batch_norm(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BATCH_NORM_EPSILON, momentum=BATCH_NORM_MOMENTUM)


class ReLUConvBN(nn.Sequential):
    """ReLU, a convolution (no bias), batch norm."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int] = 1,
        stride: int | tuple[int, int] = 1,
    ) -> None:
        kernel = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        padding = (kernel[0] // 2, kernel[1] // 2)
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(in_channels, out_channels, kernel, stride, padding, bias=False),
            batch_norm(out_channels),
        )


class SeparableConvLayer(nn.Sequential):
    """ReLU, depthwise ``k x k`` convolution, pointwise ``1 x 1`` convolution, batch norm.

    The reference's ``slim.separable_conv2d`` with ``depth_multiplier=1``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int,
        dilation: int = 1,
    ) -> None:
        padding = dilation * (kernel_size - 1) // 2
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(
                in_channels,
                in_channels,
                kernel_size,
                stride,
                padding,
                dilation=dilation,
                groups=in_channels,
                bias=False,
            ),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            batch_norm(out_channels),
        )


class StackedSeparableConv(nn.Sequential):
    """Two separable-conv layers, the stride in the first (reference ``separable_kxk_2``)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int) -> None:
        super().__init__(
            SeparableConvLayer(in_channels, out_channels, kernel_size, stride),
            SeparableConvLayer(out_channels, out_channels, kernel_size, 1),
        )


def _conv_1x7_then_7x1_layers(in_channels: int, out_channels: int, stride: int) -> list[nn.Module]:
    """ReLU-1x7 (stride along the width)-BN-ReLU-7x1 (stride along the height)-BN."""
    return [
        nn.ReLU(inplace=False),
        nn.Conv2d(in_channels, out_channels, (1, 7), (1, stride), (0, 3), bias=False),
        batch_norm(out_channels),
        nn.ReLU(inplace=False),
        nn.Conv2d(out_channels, out_channels, (7, 1), (stride, 1), (3, 0), bias=False),
        batch_norm(out_channels),
    ]


class Conv1x7Then7x1(nn.Sequential):
    """A ``1 x 7`` then a ``7 x 1`` convolution inside a 4x channel bottleneck.

    As tensorflow/tpu's AmoebaNet ``network_utils.py`` builds ``1x7_7x1``: ReLU-1x1-BN to a
    quarter of the channels, ReLU-1x7 (stride along the width)-BN-ReLU-7x1 (stride along the
    height)-BN, ReLU-1x1-BN back to ``out_channels``; without the bottleneck when a quarter
    would be below one channel.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        reduced = out_channels // 4
        if reduced < 1:
            super().__init__(*_conv_1x7_then_7x1_layers(in_channels, out_channels, stride))
            return
        # Unpacked, not nested, so the layers keep the state-dict keys of saved checkpoints.
        super().__init__(
            ReLUConvBN(in_channels, reduced, 1),
            *_conv_1x7_then_7x1_layers(reduced, reduced, stride),
            ReLUConvBN(reduced, out_channels, 1),
        )


class Pool(nn.Module):
    """3x3 average or max pooling, then 1x1 conv-BN when the channel count changes.

    Average pooling excludes the padding from the mean, as TensorFlow's "SAME" pooling does.
    """

    def __init__(self, kind: str, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.pool: nn.Module
        if kind == "avg":
            self.pool = nn.AvgPool2d(3, stride, 1, count_include_pad=False)
        elif kind == "max":
            self.pool = nn.MaxPool2d(3, stride, 1)
        else:
            raise ValueError(f"kind must be 'avg' or 'max', got {kind!r}")
        self.project: nn.Module = nn.Identity()
        if in_channels != out_channels:
            self.project = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, bias=False), batch_norm(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result: torch.Tensor = self.project(self.pool(x))
        return result


class FactorizedReduction(nn.Module):
    """Halve the resolution without dropping pixels: two offset strided 1x1 paths, then BN.

    Each path sees every other pixel (the second shifted by one), maps to half the output
    channels, and the two are concatenated. With ``stride=1`` it is a 1x1 conv-BN.
    ``relu_first`` applies a ReLU before, as the reference does for a cell's ``h1`` input
    (but not for the states it concatenates into a cell's output).
    """

    def __init__(
        self, in_channels: int, out_channels: int, stride: int = 2, *, relu_first: bool = False
    ) -> None:
        super().__init__()
        stride = _check_stride(stride)
        if stride == 2 and out_channels % 2:
            raise ValueError(
                f"out_channels must be even for a stride-2 factorized reduction, "
                f"got {out_channels}"
            )
        self.stride = stride
        self.relu_first = relu_first
        if stride == 1:
            self.path_a = nn.Conv2d(in_channels, out_channels, 1, bias=False)
            self.path_b = None
        else:
            self.path_a = nn.Conv2d(in_channels, out_channels // 2, 1, stride=2, bias=False)
            self.path_b = nn.Conv2d(in_channels, out_channels // 2, 1, stride=2, bias=False)
        self.bn = batch_norm(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.relu_first:
            x = torch.relu(x)
        if self.path_b is None:
            result: torch.Tensor = self.bn(self.path_a(x))
            return result
        # The second path starts one pixel down and right: pad bottom/right with zeros, shift.
        shifted = nn.functional.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        out = torch.cat([self.path_a(x), self.path_b(shifted)], dim=1)
        result = self.bn(out)
        return result


def _check_stride(stride: object) -> int:
    """``stride`` as an ``int``, 1 or 2."""
    try:
        return check_int("stride", stride, 1, 2)
    except ValueError:
        raise ValueError(f"stride must be 1 or 2, got {stride!r}") from None


def _identity(in_channels: int, out_channels: int, stride: int) -> nn.Module:
    if stride == 1 and in_channels == out_channels:
        return nn.Identity()
    return ReLUConvBN(in_channels, out_channels, 1, stride)


OPERATION_BUILDERS: dict[str, Callable[[int, int, int], nn.Module]] = {
    "identity": _identity,
    "sep_conv_3x3": lambda cin, cout, stride: StackedSeparableConv(cin, cout, 3, stride),
    "sep_conv_5x5": lambda cin, cout, stride: StackedSeparableConv(cin, cout, 5, stride),
    "sep_conv_7x7": lambda cin, cout, stride: StackedSeparableConv(cin, cout, 7, stride),
    "avg_pool_3x3": lambda cin, cout, stride: Pool("avg", cin, cout, stride),
    "max_pool_3x3": lambda cin, cout, stride: Pool("max", cin, cout, stride),
    "dil_sep_conv_3x3": lambda cin, cout, stride: SeparableConvLayer(cin, cout, 3, stride, 2),
    "conv_1x7_7x1": Conv1x7Then7x1,
}
"""Builders ``(in_channels, out_channels, stride) -> module``, keyed by
:data:`optuna_amoeba.nasnet.OPERATIONS` (a test checks the two agree)."""


def make_operation(name: str, in_channels: int, out_channels: int, stride: int) -> nn.Module:
    """Build operation ``name`` (one of :data:`optuna_amoeba.nasnet.OPERATIONS`).

    ``identity`` stays an :class:`~torch.nn.Identity` unless the stride or the channel count
    changes, when it becomes ReLU-1x1 conv (strided)-BN, as in the reference.
    ``dil_sep_conv_3x3`` is one separable-conv layer (ReLU, depthwise 3x3 with dilation 2,
    pointwise 1x1, BN): the paper names the operation but the reference code above has no
    dilated separable convolution, so this follows the common single-layer form.
    """
    stride = _check_stride(stride)
    in_channels = check_int("in_channels", in_channels, 1)
    out_channels = check_int("out_channels", out_channels, 1)
    builder = OPERATION_BUILDERS.get(name) if isinstance(name, str) else None
    if builder is None:
        raise ValueError(f"name must be one of {', '.join(OPERATION_BUILDERS)}; got {name!r}")
    return builder(in_channels, out_channels, stride)
