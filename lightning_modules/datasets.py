"""Dataset names the data modules and the command line accept (no torch import here, so that
``optuna-amoeba --help`` stays fast)."""

from __future__ import annotations


IMAGEFOLDER_PREFIX = "imagefolder:"
DATASETS: tuple[str, ...] = ("cifar10", "digits", IMAGEFOLDER_PREFIX + "PATH")
IMAGEFOLDER_IMAGE_SIZE = 32
"""Default side of the square images an image folder is resized to (CIFAR-10's)."""
DEFAULT_VAL_SIZES = {"cifar10": 5000, "digits": 288}
"""Validation images held out when none are asked for; an image folder holds out a tenth (or
has its own val/ folder)."""


def dataset_kind(dataset: str) -> str:
    """``"cifar10"``, ``"digits"`` or ``"imagefolder"`` for a dataset name, else ValueError."""
    if isinstance(dataset, str):
        if dataset in ("cifar10", "digits"):
            return dataset
        if dataset.startswith(IMAGEFOLDER_PREFIX) and dataset[len(IMAGEFOLDER_PREFIX) :]:
            return "imagefolder"
    raise ValueError(f"dataset must be one of {', '.join(DATASETS)}; got {dataset!r}")


def imagefolder_path(dataset: str) -> str:
    """The folder of an ``imagefolder:PATH`` dataset name."""
    if dataset_kind(dataset) != "imagefolder":
        raise ValueError(f"dataset must be {IMAGEFOLDER_PREFIX}PATH, got {dataset!r}")
    return dataset[len(IMAGEFOLDER_PREFIX) :]
