"""Dataset names the data modules and the command line accept (no torch import here, so that
``optuna-amoeba --help`` stays fast)."""

from __future__ import annotations


IMAGEFOLDER_PREFIX = "imagefolder:"
DATASETS: tuple[str, ...] = ("cifar10", "digits", IMAGEFOLDER_PREFIX + "PATH")


def dataset_kind(dataset: str) -> str:
    """``"cifar10"``, ``"digits"`` or ``"imagefolder"`` for a dataset name, else ValueError."""
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
