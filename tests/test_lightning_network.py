from __future__ import annotations

import numpy as np
import optuna
import pytest
import torch
from torch import nn

from lightning_modules.network import AuxiliaryHead
from lightning_modules.network import CellModule
from lightning_modules.network import count_flops
from lightning_modules.network import count_parameters
from lightning_modules.network import drop_path
from lightning_modules.network import NASNetwork
from lightning_modules.operations import FactorizedReduction
from lightning_modules.operations import make_operation
from lightning_modules.operations import OPERATION_BUILDERS
from optuna_amoeba.nasnet import AMOEBANET_A
from optuna_amoeba.nasnet import Genotype
from optuna_amoeba.nasnet import NASNET_A
from optuna_amoeba.nasnet import OPERATIONS
from optuna_amoeba.nasnet import search_space


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _random_genotypes(count: int, seed: int) -> list[Genotype]:
    rng = np.random.default_rng(seed)
    genotypes = []
    for _ in range(count):
        params: dict[str, object] = {}
        for name, distribution in search_space().items():
            assert isinstance(distribution, optuna.distributions.CategoricalDistribution)
            params[name] = distribution.choices[rng.integers(len(distribution.choices))]
        genotypes.append(Genotype.from_params(params).validate())
    return genotypes


@pytest.mark.parametrize("genotype", _random_genotypes(12, seed=3), ids=lambda g: "random")
def test_random_genotype_output_shape_and_backward(genotype: Genotype) -> None:
    torch.manual_seed(0)
    network = NASNetwork(
        genotype,
        num_cells=1,
        num_filters=4,
        num_classes=7,
        in_channels=1,
        image_size=8,
        drop_path_keep_prob=0.8,
        auxiliary_head=True,
    )
    network.drop_path_progress = 0.5
    images = torch.randn(3, 1, 8, 8)
    logits, auxiliary_logits = network(images)
    assert logits.shape == (3, 7)
    assert auxiliary_logits.shape == (3, 7)
    (logits.sum() + auxiliary_logits.sum()).backward()
    assert network.classifier.weight.grad is not None
    stem_conv = network.stem[0]
    assert isinstance(stem_conv, nn.Conv2d)
    stem_grad = stem_conv.weight.grad
    assert stem_grad is not None and torch.isfinite(stem_grad).all()
    assert stem_grad.abs().sum() > 0
    network.eval()
    assert network(images).shape == (3, 7)


def test_cells_halve_resolution_and_concat_matches_genotype() -> None:
    genotype = _random_genotypes(1, seed=11)[0]
    network = NASNetwork(genotype, num_cells=2, num_filters=6, num_classes=10, image_size=32)
    shapes: list[tuple[bool, int, tuple[int, ...]]] = []
    for cell in network.cells:
        assert isinstance(cell, CellModule)
        cell.register_forward_hook(
            lambda module, _, out: shapes.append(
                (module.reduction, module.out_channels, out.shape)
            )
        )
    network.eval()
    network(torch.randn(2, 3, 32, 32))

    # N=2: normal, normal, reduction, normal, normal, reduction, normal, normal.
    assert [reduction for reduction, _, _ in shapes] == [False, False, True] * 2 + [False] * 2
    expected_sizes = [32, 32, 16, 16, 16, 8, 8, 8]
    expected_filters = [6, 6, 12, 12, 12, 24, 24, 24]
    for (reduction, _, shape), size, filters in zip(
        shapes, expected_sizes, expected_filters, strict=True
    ):
        concat = (genotype.reduction if reduction else genotype.normal).concat
        assert shape == (2, filters * len(concat), size, size)


def test_published_concat_reaches_output_channels() -> None:
    # AmoebaNet-A (reference code): normal concat h1 h3 h4 h6, reduction concat h2..h6.
    assert AMOEBANET_A.normal.concat == (1, 3, 4, 6)
    assert AMOEBANET_A.reduction.concat == (2, 3, 4, 5, 6)
    network = NASNetwork(AMOEBANET_A, num_cells=1, num_filters=8, num_classes=10)
    channels = [cell.out_channels for cell in network.cells if isinstance(cell, CellModule)]
    assert channels == [4 * 8, 5 * 16, 4 * 16, 5 * 32, 4 * 32]


# Real et al. 2019 (AAAI), Table 1, "CIFAR-10 testing set results": NASNet-A (baseline,
# N=6, F=32 as in Zoph et al. 2018) 3.3 M; AmoebaNet-A (N=6, F=32) 2.6 M; AmoebaNet-A
# (N=6, F=36) 3.2 M parameters. Auxiliary head excluded.
@pytest.mark.parametrize(
    ("genotype", "num_filters", "published"),
    [(AMOEBANET_A, 36, 3.2e6), (AMOEBANET_A, 32, 2.6e6), (NASNET_A, 32, 3.3e6)],
    ids=["amoebanet_a_f36", "amoebanet_a_f32", "nasnet_a_f32"],
)
def test_parameter_count_of_published_models(
    genotype: Genotype, num_filters: int, published: float
) -> None:
    network = NASNetwork(
        genotype, num_cells=6, num_filters=num_filters, num_classes=10, auxiliary_head=True
    )
    count = count_parameters(network)
    assert abs(count - published) / published < 0.10, count
    head = next(module for module in network.modules() if isinstance(module, AuxiliaryHead))
    head_count = sum(parameter.numel() for parameter in head.parameters())
    assert count_parameters(network, exclude_auxiliary=False) == count + head_count


@pytest.mark.parametrize("name", OPERATIONS)
@pytest.mark.parametrize(("in_channels", "stride"), [(8, 1), (8, 2), (12, 1), (12, 2)])
def test_operation_shapes(name: str, in_channels: int, stride: int) -> None:
    operation = make_operation(name, in_channels, 8, stride)
    out = operation(torch.randn(2, in_channels, 10, 10))
    assert out.shape == (2, 8, 10 // stride, 10 // stride)


def test_the_ops_table_builds_exactly_the_search_space_operations() -> None:
    assert tuple(OPERATION_BUILDERS) == OPERATIONS


def test_identity_is_identity_only_without_change() -> None:
    assert isinstance(make_operation("identity", 8, 8, 1), nn.Identity)
    assert not isinstance(make_operation("identity", 8, 8, 2), nn.Identity)
    assert not isinstance(make_operation("identity", 6, 8, 1), nn.Identity)


def test_make_operation_rejects_unknown_names_and_strides() -> None:
    with pytest.raises(ValueError, match=r"name must be one of .*got 'conv_9x9'"):
        make_operation("conv_9x9", 4, 4, 1)
    with pytest.raises(ValueError, match="stride must be 1 or 2, got 3"):
        make_operation("identity", 4, 4, 3)


def test_factorized_reduction_sees_both_pixel_phases() -> None:
    reduction = FactorizedReduction(1, 2, 2)
    with torch.no_grad():
        reduction.path_a.weight.fill_(1.0)
        assert reduction.path_b is not None
        reduction.path_b.weight.fill_(1.0)
    reduction.bn.eval()
    image = torch.zeros(1, 1, 4, 4)
    image[0, 0, 1, 1] = 1.0  # an odd pixel: invisible to a plain stride-2 1x1 conv
    out = reduction(image)
    assert out.shape == (1, 2, 2, 2)
    assert out[0, 0].abs().sum() == 0
    assert out[0, 1].abs().sum() > 0


def test_drop_path_drops_whole_examples_and_keeps_expectation() -> None:
    torch.manual_seed(0)
    x = torch.ones(4000, 2, 3, 3)
    out = drop_path(x, 0.7)
    per_example = out.flatten(1)
    dropped = (per_example == 0).all(dim=1)
    kept = torch.isclose(per_example, torch.tensor(1 / 0.7)).all(dim=1)
    assert bool((dropped | kept).all())
    assert 0.25 < dropped.float().mean().item() < 0.35
    assert drop_path(x, 1.0) is x


def test_drop_path_schedule_grows_with_depth_and_progress() -> None:
    network = NASNetwork(
        AMOEBANET_A, num_cells=1, num_filters=4, num_classes=10, drop_path_keep_prob=0.6
    )
    cells = [cell for cell in network.cells if isinstance(cell, CellModule)]
    network.drop_path_progress = 0.0
    assert all(float(cell._keep_prob()) == 1.0 for cell in cells)
    network.drop_path_progress = 1.0
    assert network.drop_path_progress == 1.0
    keep = [float(cell._keep_prob()) for cell in cells]
    assert keep == sorted(keep, reverse=True)
    assert keep[-1] == pytest.approx(0.6)


def test_count_flops_grows_with_width() -> None:
    narrow = NASNetwork(AMOEBANET_A, num_cells=1, num_filters=4, num_classes=10)
    wide = NASNetwork(AMOEBANET_A, num_cells=1, num_filters=8, num_classes=10)
    narrow_flops = count_flops(narrow, in_channels=3, image_size=32)
    wide_flops = count_flops(wide, in_channels=3, image_size=32)
    assert narrow_flops > 0
    assert 2.5 * narrow_flops < wide_flops < 4.5 * narrow_flops
    assert narrow.training


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("num_cells", 0, "num_cells must be an int >= 1, got 0"),
        ("num_filters", 0, "num_filters must be an int >= 1, got 0"),
        ("image_size", 2, "image_size must be an int >= 4, got 2"),
        ("drop_path_keep_prob", 0.0, r"drop_path_keep_prob must be a number in \(0, 1\], got 0.0"),
    ],
)
def test_network_rejects_impossible_sizes(option: str, value: object, message: str) -> None:
    options: dict[str, object] = {"num_cells": 1, "num_filters": 4, "num_classes": 10}
    options[option] = value
    with pytest.raises(ValueError, match=message):
        NASNetwork(AMOEBANET_A, **options)  # type: ignore[arg-type]


def test_depthwise_kernels_start_at_pytorchs_fan_out_scale() -> None:
    # Not TensorFlow's per-group count (std sqrt(2 / k*k)): measured worse on digits searches
    # (benchmarks/results/digits/init_scale.py).
    torch.manual_seed(0)
    network = NASNetwork(AMOEBANET_A, num_cells=1, num_filters=64, num_classes=10)
    convs = [m for m in network.modules() if isinstance(m, nn.Conv2d)]
    assert any(conv.groups > 1 for conv in convs) and any(conv.groups == 1 for conv in convs)
    for conv in convs:
        height, width = conv.kernel_size
        expected = (2.0 / (conv.out_channels * height * width)) ** 0.5
        assert conv.weight.std().item() == pytest.approx(expected, rel=0.2), conv
