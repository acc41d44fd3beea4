"""Helpers shared by the ``optuna-amoeba`` subcommands."""

from __future__ import annotations

import argparse
from collections.abc import Collection
from collections.abc import Iterable
from collections.abc import Mapping
import os
from pathlib import Path
import signal
from typing import TYPE_CHECKING

import optuna
from optuna.trial import FrozenTrial

from lightning_modules.datasets import dataset_kind
from lightning_modules.datasets import DATASETS
from lightning_modules.datasets import IMAGEFOLDER_IMAGE_SIZE
from optuna_amoeba import mask_password
from optuna_amoeba import MeanEstimate
from optuna_amoeba._checks import check_float
from optuna_amoeba._checks import check_int as check_int_in_range
from optuna_amoeba._storage import existing_storage_problem
from optuna_amoeba._storage import in_memory_storage
from optuna_amoeba._storage import mask_url
from optuna_amoeba.nasnet import AMOEBANET_A
from optuna_amoeba.nasnet import Genotype
from optuna_amoeba.nasnet import NASNET_A


if TYPE_CHECKING:
    from optuna.storages import BaseStorage

    from lightning_modules.data import ImageDataModule


PUBLISHED_GENOTYPES = {"amoebanet_a": AMOEBANET_A, "nasnet_a": NASNET_A}


class UsageError(Exception):
    """Bad input: reported as one line on stderr with exit code 2."""


class Interrupted(Exception):
    """Ctrl-C or SIGTERM: reported as one line on stderr (``interrupted; <the message>``),
    exit code 128 + the signal's number (130 for Ctrl-C, 143 for SIGTERM)."""

    def __init__(self, message: str, signal_number: int = signal.SIGINT) -> None:
        super().__init__(message)
        self.signal_number = signal_number


MAX_SEED = 2**32 - 1
"""The largest ``--seed``: the seeds drawn from it are taken modulo 2**32 (numpy's and
Lightning's range), so a search's seed plus its trial numbers never runs out of range."""


def finite_float(text: str) -> float:
    """An argparse ``type``: a finite number (``nan`` and ``inf`` refused)."""
    try:
        return check_float("value", float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}") from None


def seed_value(text: str) -> int:
    """An argparse ``type``: a seed, an int in [0, :data:`MAX_SEED`]."""
    try:
        number = int(text)
    except ValueError:
        number = -1
    if not 0 <= number <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be an int in [0, {MAX_SEED}], got {text!r}")
    return number


MAX_FILTERS = 1024
"""The largest ``--filters``: published NASNet and AmoebaNet networks use at most a few
hundred, and far more exhausts any machine's memory."""
MAX_IMAGE_SIZE = 1024
"""The largest ``--image-size``: a NASNet's memory grows with the square of the side."""


def check_output_dir(path: str, option: str) -> None:
    """Refuse ``path`` when it or the folder it would be made in cannot be written to (a
    file, a symbolic link to nothing, a folder without write permission); creates nothing."""
    target = Path(path).expanduser().absolute()
    for folder in (target, *target.parents):
        if folder.is_symlink() and not folder.exists():
            raise UsageError(
                f"{option} {path} cannot be a folder ({folder} is a symbolic link to "
                f"{os.readlink(folder)}, which does not exist)"
            )
    existing = next(folder for folder in (target, *target.parents) if folder.exists())
    if not existing.is_dir():
        where = "" if existing == target else f" ({existing} is a file)"
        raise UsageError(f"{option} {path} cannot be a folder{where}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {path}: no permission to write in {existing}")


_SIZE_OPTIONS = {
    "epochs": (int, "training epochs"),
    "cells": (int, "N, normal cells per stack"),
    "filters": (int, f"F, filters of the first stack, at most {MAX_FILTERS}"),
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
            option_flag(name),
            type=finite_float if kind is float else kind,
            help=f"{text} (default: {per_dataset})",
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
        f"to, in [4, {MAX_IMAGE_SIZE}] (default: {IMAGEFOLDER_IMAGE_SIZE})",
    )


def _study_name(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError(f"must not be empty, got {text!r}")
    return text


def add_storage_arguments(parser: argparse.ArgumentParser, study_name_help: str) -> None:
    """``--storage`` and ``--study-name``, the same for every command."""
    parser.add_argument(
        "--storage",
        default="sqlite:///amoeba.db",
        help="any Optuna storage URL: sqlite:///f.db, postgresql://..., mysql+pymysql://..., "
        "journal:///path.log, redis://host:port/0 (default: %(default)s)",
    )
    parser.add_argument("--study-name", type=_study_name, help=study_name_help)


def add_hardware_arguments(parser: argparse.ArgumentParser) -> None:
    """``--accelerator``, ``--limit-train-batches``, ``--compile`` and ``--deterministic``."""
    parser.add_argument(
        "--accelerator",
        default="auto",
        help="Lightning accelerator: auto, cpu, cuda, mps... (default: %(default)s)",
    )
    parser.add_argument(
        "--limit-train-batches", type=int, help="training batches per epoch, for quick runs"
    )
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
        help="torch CPU threads, at most this machine's CPUs (default: 1 for digits, whose "
        "8x8 images only lose time to threading; torch's own default for cifar10)",
    )


def option_flag(name: str) -> str:
    """The command-line option of the parameter or ``args`` attribute ``name``
    (``val_size``: ``--val-size``)."""
    return "--" + name.replace("_", "-")


def option_error(error: Exception, names: Collection[str]) -> tuple[str, str] | None:
    """For an API error whose message starts with one of ``names`` (``val_size must be
    ...``), a parameter the user gave as an option: that name and the message with the
    option in its place (``--val-size must be ...``); otherwise ``None``. An API argument's
    ``None`` is an option left out, so "must be None or ..." reads "must be ..."."""
    name, _, rest = str(error).partition(" ")
    if name not in names:
        return None
    return name, f"{option_flag(name)} {rest.replace('must be None or ', 'must be ', 1)}"


def fill_unset(args: argparse.Namespace, values: Mapping[str, object]) -> None:
    """Set each option named in ``values`` that the command line left ``None``."""
    for name, value in values.items():
        if getattr(args, name) is None:
            setattr(args, name, value)


def apply_dataset_defaults(
    args: argparse.Namespace, defaults: dict[str, dict[str, int | float]]
) -> None:
    """Fill the options left unset with ``defaults[args.dataset]``."""
    fill_unset(args, defaults.get(dataset_kind(args.dataset), {}))
    if args.cpu_threads is None and args.dataset == "digits":
        args.cpu_threads = 1
    if args.image_size is not None and dataset_kind(args.dataset) != "imagefolder":
        raise UsageError(
            f"--image-size applies to --dataset imagefolder:PATH only, got {args.dataset}"
        )


def check_hardware(accelerator: str, precision: str | None = None, devices: int | str = 1) -> None:
    """Refuse an ``--accelerator``, ``--precision`` or ``--devices`` Lightning cannot use on
    this machine, before any I/O (Lightning would fail each trial with a traceback)."""
    from lightning.pytorch.accelerators import CPUAccelerator

    from lightning_modules.objective import HARDWARE_ERRORS
    from lightning_modules.objective import probe_trainer

    given = f"--accelerator {accelerator}"
    if precision is not None:
        given += f", --precision {precision}"
    try:
        trainer = probe_trainer(accelerator, precision, devices)
    except HARDWARE_ERRORS as error:
        raise UsageError(f"{given} and --devices {devices} cannot run here: {error}") from None
    cpus = os.cpu_count() or 1
    if isinstance(trainer.accelerator, CPUAccelerator) and trainer.num_devices > cpus:
        raise UsageError(
            f"{given} and --devices {devices} cannot run here: on the CPU each device is a "
            f"training process, and this machine has {cpus} CPUs"
        )


def check_int(args: argparse.Namespace, name: str, low: int, high: int | None = None) -> None:
    """Refuse the int option ``name`` when it is given and outside ``[low, high]`` (no upper
    bound when ``high`` is None)."""
    value = getattr(args, name)
    if value is not None and (value < low or (high is not None and value > high)):
        option = option_flag(name)
        allowed = f">= {low}" if high is None else f"an int in [{low}, {high}]"
        raise UsageError(f"{option} must be {allowed}, got {value}")


def check_cpu_threads(args: argparse.Namespace) -> None:
    """Refuse a ``--cpu-threads`` outside [1, this machine's CPU count]: threads beyond the
    CPUs only slow training down, and very many cannot even be started."""
    if args.cpu_threads is None:
        return
    cpus = os.cpu_count() or 1
    try:
        check_int_in_range("--cpu-threads", args.cpu_threads, 1, cpus)
    except ValueError as error:
        raise UsageError(f"{error} (this machine has {cpus} CPUs)") from None


def open_storage(url: str, heartbeat: int | None = None) -> BaseStorage:
    from optuna_amoeba._storage import open_storage as open_url

    try:
        return open_url(url, heartbeat_interval=heartbeat)
    except ValueError as error:
        raise UsageError(mask_password(str(error))) from None


def open_existing_storage(url: str) -> BaseStorage:
    """The storage of an existing study: a SQLite or journal file that is not there is
    refused, not created empty."""
    problem = existing_storage_problem(url)
    if problem is not None:
        hint = "fix --storage" if in_memory_storage(url) else "run optuna-amoeba search first"
        raise UsageError(f"{problem}; {hint}")
    return open_storage(url)


def load_study(storage: BaseStorage, study_name: str | None, url: str) -> optuna.Study:
    """An existing study; with no name, the storage's only study."""
    names = sorted(study.study_name for study in storage.get_all_studies())
    where = mask_url(url)
    if study_name is None and len(names) != 1:
        listed = ", ".join(names) if names else "none"
        raise UsageError(
            f"{where} holds {len(names)} studies ({listed}); name one with --study-name"
        )
    if study_name is not None and study_name not in names:
        listed = ", ".join(names) or "none"
        raise UsageError(f"no study named {study_name!r} in {where} (studies there: {listed})")
    try:
        return optuna.load_study(study_name=study_name or names[0], storage=storage)
    except (KeyError, ValueError) as error:  # deleted by another process meanwhile
        raise UsageError(mask_password(str(error))) from None


def trial_genotype(trial: optuna.trial.FrozenTrial) -> Genotype:
    """The genotype a trial trained: its ``genotype`` user attr, else its parameters."""
    text = trial.user_attrs.get("genotype")
    if isinstance(text, str):
        return Genotype.parse(text)
    return Genotype.from_params(dict(trial.params))


def nasnet_genotypes(study: optuna.Study, trials: Iterable[FrozenTrial]) -> dict[int, Genotype]:
    """Each trial's genotype by trial number, or a :class:`UsageError` naming the first trial
    that holds none (a study not made by ``optuna-amoeba search``, or a damaged one)."""
    genotypes = {}
    for trial in trials:
        try:
            genotypes[trial.number] = trial_genotype(trial)
        except ValueError as error:
            raise UsageError(
                f"trial {trial.number} of study {study.study_name!r} holds no NASNet "
                f"genotype ({error}); optuna-amoeba reads studies made by its search only"
            ) from None
    return genotypes


def _listed_trials(estimate: MeanEstimate) -> str:
    return ", ".join(str(number) for number in estimate.trial_numbers)


def short_estimate(estimate: MeanEstimate) -> str:
    """One architecture's mean, for a progress line: ``0.9312 (trial 12)``, or
    ``0.9301 (mean of 3, trials 4, 9, 12)``."""
    if estimate.count == 1:
        return f"{estimate.mean:.4f} (trial {estimate.trial_numbers[0]})"
    return f"{estimate.mean:.4f} (mean of {estimate.count}, trials {_listed_trials(estimate)})"


def describe_estimate(estimate: MeanEstimate, metric: str) -> str:
    """One architecture's measurements: ``trial 3: val_acc=0.9600`` for one training,
    ``trials 1, 3: val_acc mean 0.9550 ± 0.0050 over 2 trainings`` for several, and then
    ``, pessimistic mean 0.9265`` (the value ``recommend_by_mean`` ranks by) once the study's
    repeats make it differ from the mean."""
    if estimate.count == 1:
        text = f"trial {estimate.trial_numbers[0]}: {metric}={estimate.mean:.4f}"
    else:
        text = (
            f"trials {_listed_trials(estimate)}: {metric} mean {estimate.mean:.4f} "
            f"± {estimate.std_error:.4f} over {estimate.count} trainings"
        )
    if estimate.pessimistic_mean != estimate.mean:
        text += f", pessimistic mean {estimate.pessimistic_mean:.4f}"
    return text


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


def apply_cpu_threads(args: argparse.Namespace) -> None:
    """Set torch's CPU threads to ``--cpu-threads``, when given."""
    if args.cpu_threads is not None:
        import torch

        torch.set_num_threads(args.cpu_threads)


def prepare_data(args: argparse.Namespace, *, seed: int) -> ImageDataModule:
    """The data module of the ``--dataset`` options (:func:`add_dataset_arguments`),
    ``--batch-size``, ``--val-size`` and ``--cutout``, with its data downloaded and loaded,
    or a :class:`UsageError`; ``seed`` seeds its train/validation split."""
    from lightning_modules.data import check_batch_size
    from lightning_modules.data import make_datamodule

    dataset = args.dataset
    download = not args.no_download
    try:
        datamodule = make_datamodule(
            dataset,
            data_dir=args.data_dir,
            batch_size=args.batch_size,
            val_size=args.val_size,
            seed=seed,
            download=download,
            cutout=args.cutout,
            image_size=args.image_size,
        )
    except ValueError as error:
        # The data modules name their parameters (val_size); the user gave options.
        named = option_error(error, ("val_size", "batch_size", "image_size", "cutout"))
        raise UsageError(str(error) if named is None else named[1]) from None
    try:
        datamodule.prepare_data()
        datamodule.setup("fit")
    except Exception as error:  # torchvision, PIL and urllib raise many kinds
        hint = "" if download else " (and --no-download was given)"
        where = f" from {args.data_dir}{hint}" if dataset == "cifar10" else ""
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UsageError(
            f"cannot load {dataset}{where}: {type(error).__name__}: {reason}"
        ) from None
    try:
        check_batch_size("--batch-size", args.batch_size, datamodule, dataset)
    except ValueError as error:
        raise UsageError(str(error)) from None
    return datamodule
