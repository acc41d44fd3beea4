"""PyTorch Lightning code that trains the NASNet-cell network of each Optuna trial.

Names are imported on first use, so ``optuna-amoeba --help`` does not load torch.
"""

from __future__ import annotations

import importlib
from typing import Any
from typing import TYPE_CHECKING


if TYPE_CHECKING:
    from lightning_modules.data import CIFAR10DataModule
    from lightning_modules.data import DigitsDataModule
    from lightning_modules.data import ImageDataModule
    from lightning_modules.data import ImageFolderDataModule
    from lightning_modules.data import make_datamodule
    from lightning_modules.export import export_network
    from lightning_modules.export import load_network
    from lightning_modules.module import NASNetModule
    from lightning_modules.network import count_flops
    from lightning_modules.network import count_parameters
    from lightning_modules.network import NASNetwork
    from lightning_modules.objective import make_accuracy_size_objective
    from lightning_modules.objective import make_objective
    from lightning_modules.operations import make_operation


_LOCATIONS = {
    "CIFAR10DataModule": "lightning_modules.data",
    "DigitsDataModule": "lightning_modules.data",
    "ImageDataModule": "lightning_modules.data",
    "ImageFolderDataModule": "lightning_modules.data",
    "export_network": "lightning_modules.export",
    "load_network": "lightning_modules.export",
    "make_datamodule": "lightning_modules.data",
    "NASNetModule": "lightning_modules.module",
    "NASNetwork": "lightning_modules.network",
    "count_flops": "lightning_modules.network",
    "count_parameters": "lightning_modules.network",
    "make_accuracy_size_objective": "lightning_modules.objective",
    "make_objective": "lightning_modules.objective",
    "make_operation": "lightning_modules.operations",
}

__all__ = [
    "CIFAR10DataModule",
    "DigitsDataModule",
    "ImageDataModule",
    "ImageFolderDataModule",
    "NASNetModule",
    "NASNetwork",
    "count_flops",
    "count_parameters",
    "export_network",
    "load_network",
    "make_accuracy_size_objective",
    "make_datamodule",
    "make_objective",
    "make_operation",
]


def __getattr__(name: str) -> Any:
    if name not in _LOCATIONS:
        raise AttributeError(f"module 'lightning_modules' has no attribute {name!r}")
    return getattr(importlib.import_module(_LOCATIONS[name]), name)
