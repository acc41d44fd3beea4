"""Helpers shared by the ``optuna-amoeba`` subcommands."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

import optuna

from lightning_modules.datasets import dataset_kind
from lightning_modules.datasets import DATASETS
from optuna_amoeba import mask_password
from optuna_amoeba.nasnet import AMOEBANET_A
from optuna_amoeba.nasnet import Genotype
from optuna_amoeba.nasnet import NASNET_A


if TYPE_CHECKING:
    from optuna.storages import BaseStorage

    from lightning_modules.data import ImageDataModule


PUBLISHED_GENOTYPES = {"amoebanet_a": AMOEBANET_A, "nasnet_a": NASNET_A}


class UsageError(Exception):
    """Bad input: reported as one line on stderr with exit code 2."""


_SIZE_OPTIONS = {
    "epochs": (int, "training epochs"),
    "cells": (int, "N, normal cells per stack"),
    "filters": (int, "F, filters of the first stack"),
    "batch_size": (int, "training batch size"),
    "learning_rate": (float, "initial SGD learning rate, cosine decay"),
}


def add_size_arguments(
    parser: argparse.ArgumentParser, defaults: dict[str, dict[str, int | float]]
) -> None:
    """Options whose defaults depend on ``--dataset`` (filled in by
    :func:`apply_dataset_defaults`)."""
    for name, (kind, text) in _SIZE_OPTIONS.items():
        per_dataset = ", ".join(f"{values[name]} for {key}" for key, values in defaults.items())
        parser.add_argument(
            "--" + name.replace("_", "-"), type=kind, help=f"{text} (default: {per_dataset})"
        )


def _dataset_name(text: str) -> str:
    try:
        dataset_kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be {', '.join(DATASETS)} (a folder of class subfolders), got {text!r}"
        ) from None
    return text


def add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    """``--dataset`` (``cifar10``, ``digits``, ``imagefolder:PATH``) and its data options."""
    parser.add_argument(
        "--dataset",
        type=_dataset_name,
        default="cifar10",
        metavar="{" + ",".join(DATASETS) + "}",
        help="imagefolder:PATH reads your own images, one subfolder per class, or train/ "
        "and val/ (and test/) subfolders of those (default: %(default)s)",
    )
    parser.add_argument(
        "--data-dir", default="data", help="where CIFAR-10 is or goes (default: %(default)s)"
    )
    parser.add_argument(
        "--no-download", action="store_true", help="fail instead of downloading CIFAR-10"
    )
    parser.add_argument(
        "--image-size",
        type=int,
        help="imagefolder only: side of the square the images are resized and centre-cropped "
        "to (default: 32)",
    )


def add_hardware_arguments(parser: argparse.ArgumentParser) -> None:
    """``--compile`` and ``--deterministic``."""
    parser.add_argument(
        "--compile",
        action="store_true",
        help="compile the network with torch.compile (a slower start for faster steps; "
        "benchmarks/gpu_check.py measures the gain on a GPU)",
    )
    parser.add_argument(
        "--deterministic",
        action="store_true",
        help="deterministic algorithms only and no cuDNN autotuning: a seeded GPU run then "
        "repeats exactly (somewhat slower); CPU runs repeat without it",
    )


def add_cpu_threads_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cpu-threads",
        type=int,
        help="torch CPU threads (default: 1 for digits, whose 8x8 images only lose time to "
        "threading; torch's own default for cifar10)",
    )


def apply_dataset_defaults(
    args: argparse.Namespace, defaults: dict[str, dict[str, int | float]]
) -> None:
    """Fill the options left unset with ``defaults[args.dataset]``."""
    for name, value in defaults.get(dataset_kind(args.dataset), {}).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.cpu_threads is None and args.dataset == "digits":
        args.cpu_threads = 1
    if args.image_size is not None and dataset_kind(args.dataset) != "imagefolder":
        raise UsageError(
            f"--image-size applies to --dataset imagefolder:PATH only, got {args.dataset}"
        )


def check_int(args: argparse.Namespace, name: str, low: int) -> None:
    value = getattr(args, name)
    if value is not None and value < low:
        option = "--" + name.replace("_", "-")
        raise UsageError(f"{option} must be >= {low}, got {value}")


def open_storage(url: str, heartbeat: int | None = None) -> BaseStorage:
    from optuna_amoeba._storage import open_storage as open_url

    try:
        return open_url(url, heartbeat_interval=heartbeat)
    except ValueError as error:
        raise UsageError(mask_password(str(error))) from None


def load_study(storage: BaseStorage, study_name: str | None, url: str) -> optuna.Study:
    """An existing study; with no name, the storage's only study."""
    try:
        return optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        names = [summary.study_name for summary in optuna.get_all_study_summaries(storage)]
        where = mask_password(url)
        if study_name is None:
            listed = ", ".join(sorted(names)) if names else "none"
            raise UsageError(
                f"{where} holds {len(names)} studies ({listed}); name one with --study-name"
            ) from None
        raise UsageError(
            f"no study named {study_name!r} in {where} "
            f"(studies there: {', '.join(sorted(names)) or 'none'})"
        ) from None
    except ValueError as error:
        raise UsageError(mask_password(str(error))) from None


def trial_genotype(trial: optuna.trial.FrozenTrial) -> Genotype:
    """The genotype a trial trained: its ``genotype`` user attr, else its parameters."""
    text = trial.user_attrs.get("genotype")
    if isinstance(text, str):
        return Genotype.parse(text)
    return Genotype.from_params(dict(trial.params))


def resolve_genotype(text: str) -> Genotype:
    """A published genotype's name (``amoebanet_a``, ``nasnet_a``) or genotype text."""
    if text.strip().lower() in PUBLISHED_GENOTYPES:
        return PUBLISHED_GENOTYPES[text.strip().lower()]
    try:
        return Genotype.parse(text)
    except ValueError as error:
        raise UsageError(
            f"--genotype must be {' or '.join(PUBLISHED_GENOTYPES)} or genotype text "
            f"('normal: op(h0) + op(h1), ...; reduction: ...'): {error}"
        ) from None


def prepare_data(
    dataset: str,
    *,
    data_dir: str,
    batch_size: int,
    val_size: int | None,
    seed: int,
    download: bool,
    cutout: int = 0,
    image_size: int | None = None,
) -> ImageDataModule:
    """The data module, with its data downloaded and loaded, or a :class:`UsageError`."""
    from lightning_modules.data import make_datamodule

    try:
        datamodule = make_datamodule(
            dataset,
            data_dir=data_dir,
            batch_size=batch_size,
            val_size=val_size,
            seed=seed,
            download=download,
            cutout=cutout,
            image_size=image_size,
        )
    except ValueError as error:
        raise UsageError(str(error)) from None
    try:
        datamodule.prepare_data()
        datamodule.setup("fit")
    except Exception as error:  # torchvision, PIL and urllib raise many kinds
        hint = "" if download else " (and --no-download was given)"
        where = f" from {data_dir}{hint}" if dataset == "cifar10" else ""
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UsageError(
            f"cannot load {dataset}{where}: {type(error).__name__}: {reason}"
        ) from None
    return datamodule
