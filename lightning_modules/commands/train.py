"""``optuna-amoeba train``: train one architecture at full size, resumable, on 1+ GPUs.

The validation split (never the test set) picks the checkpoint; the test split is evaluated
once, at the end, on that checkpoint and printed beside its validation accuracy.
"""

from __future__ import annotations

import argparse
from pathlib import Path
import re
from typing import Any

import optuna

from lightning_modules.commands._common import add_cpu_threads_argument
from lightning_modules.commands._common import add_dataset_arguments
from lightning_modules.commands._common import add_hardware_arguments
from lightning_modules.commands._common import add_storage_arguments
from lightning_modules.commands._common import apply_cpu_threads
from lightning_modules.commands._common import apply_dataset_defaults
from lightning_modules.commands._common import check_cpu_threads
from lightning_modules.commands._common import check_hardware
from lightning_modules.commands._common import check_int
from lightning_modules.commands._common import check_output_dir
from lightning_modules.commands._common import fill_unset
from lightning_modules.commands._common import finite_float
from lightning_modules.commands._common import Interrupted
from lightning_modules.commands._common import load_study
from lightning_modules.commands._common import MAX_FILTERS
from lightning_modules.commands._common import MAX_IMAGE_SIZE
from lightning_modules.commands._common import MAX_SEED
from lightning_modules.commands._common import nasnet_genotypes
from lightning_modules.commands._common import open_existing_storage
from lightning_modules.commands._common import option_flag
from lightning_modules.commands._common import prepare_data
from lightning_modules.commands._common import resolve_genotype
from lightning_modules.commands._common import seed_value
from lightning_modules.commands._common import UsageError
from lightning_modules.datasets import dataset_kind
from lightning_modules.export import EXPORT_FORMATS
from lightning_modules.recipes import DIGITS_SIZES
from lightning_modules.recipes import recipe_defaults
from lightning_modules.recipes import RECIPES
from optuna_amoeba import recommend_by_mean
from optuna_amoeba.nasnet import Genotype


LAST_CHECKPOINT = "last.ckpt"
BEST_CHECKPOINT = "best-{epoch}-{val_acc:.4f}"
# The names Lightning's ModelCheckpoint gives LAST_CHECKPOINT and BEST_CHECKPOINT, with
# "-v1", "-v2"... when the name is taken: what --restart removes, and nothing else.
_OWN_CHECKPOINT = re.compile(r"(last|best-epoch=\d+-val_acc=\d+\.\d+)(-v\d+)?\.ckpt")
# The options a resumed training must keep: the restored optimizer state and step count
# would override or mix with other values, and another split or epoch length would change
# the data and the schedule mid-training. Each checkpoint records them, with the device
# count --devices resolved to, under this key of its callback states.
_KEPT_OPTIONS = (
    "learning_rate",
    "momentum",
    "weight_decay",
    "batch_size",
    "label_smoothing",
    "val_size",
    "limit_train_batches",
)
_SETTINGS_KEY = "optuna-amoeba train settings"

_RECIPE_OPTIONS: dict[str, tuple[type, str]] = {
    "epochs": (int, "training epochs"),
    "cells": (int, "N, normal cells per stack"),
    "filters": (int, f"F, filters of the first stack, at most {MAX_FILTERS}"),
    "batch_size": (int, "training batch size per device"),
    "learning_rate": (
        float,
        "initial SGD learning rate, cosine decay to 0 (per device "
        "batch; scaled by the device count, see --devices)",
    ),
    "momentum": (float, "SGD momentum"),
    "weight_decay": (float, "L2 weight decay of convolution and linear weights"),
    "label_smoothing": (float, "label smoothing of the training loss, in [0, 1)"),
    "drop_path_keep_prob": (float, "final keep probability of scheduled drop-path; 1 disables it"),
    "auxiliary_weight": (float, "weight of the auxiliary head's loss; 0 drops the head"),
    "gradient_clip": (float, "clip the gradients' global norm; 0 disables"),
    "cutout": (int, "side of the cutout square in pixels; 0 disables"),
    "dropout": (float, "dropout before the classifier, in [0, 1)"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--genotype",
        help="amoebanet_a, nasnet_a, or genotype text "
        "('normal: op(h0) + op(h1), ...; reduction: ...')",
    )
    source.add_argument(
        "--from-study",
        action="store_true",
        help="train the architecture that the search of --study-name in --storage "
        "recommends (the best mean less one pooled standard error, as show ranks them)",
    )
    add_storage_arguments(parser, "(default: the storage's only study)")
    add_dataset_arguments(parser)
    parser.add_argument(
        "--val-size",
        type=int,
        help="training images held out for validation, which picks the best epoch's "
        "checkpoint; 0 trains on all of them and keeps the last epoch's (the test set is "
        "never used to pick) (default: 5000 for cifar10, 288 for digits, a tenth for an "
        "image folder without val/)",
    )
    parser.add_argument(
        "--recipe",
        choices=tuple(RECIPES),
        default="amoebanet",
        help="the reference training settings every option below defaults to: amoebanet "
        "(Real et al. 2019), nasnet (tensorflow/models slim nasnet.py cifar_config); "
        "docs/training.md lists them with their sources. Options given explicitly "
        "override the recipe; --dataset digits keeps its own small sizes and no cutout "
        "(default: %(default)s)",
    )
    for name, (kind, text) in _RECIPE_OPTIONS.items():
        values = ", ".join(f"{RECIPES[recipe].as_dict()[name]} {recipe}" for recipe in RECIPES)
        digits = DIGITS_SIZES.get(name)
        parser.add_argument(
            option_flag(name),
            type=finite_float if kind is float else kind,
            help=f"{text} (default: {values}"
            + (f"; {digits} for digits)" if digits is not None else ")"),
        )
    parser.add_argument(
        "--checkpoint-dir",
        default="checkpoints",
        help="checkpoints and metrics; a last.ckpt there resumes training (default: %(default)s)",
    )
    parser.add_argument(
        "--restart",
        action="store_true",
        help="start over: remove the checkpoints an earlier training wrote in --checkpoint-dir "
        "(last.ckpt, best-epoch=...ckpt)",
    )
    parser.add_argument(
        "--export",
        choices=tuple(EXPORT_FORMATS),
        action="append",
        help="also write the selected network for inference without this package: "
        "torchscript (model.torchscript.pt, torch.jit.load) or torch-export (model.pt2, "
        "torch.export.load); may be repeated",
    )
    parser.add_argument(
        "--devices",
        default="auto",
        help="GPUs to use, a count or 'auto' (all). Several train with DDP, each on "
        "--batch-size images: the learning rate is then multiplied by the device count "
        "(linear scaling rule, Goyal et al. 2017) (default: auto)",
    )
    parser.add_argument("--precision", help="Lightning precision (default: bf16-mixed on GPUs)")
    parser.add_argument(
        "--seed",
        type=seed_value,
        default=0,
        help=f"seed of the data split and of training, in [0, {MAX_SEED}] (default: %(default)s)",
    )
    add_hardware_arguments(parser)
    add_cpu_threads_argument(parser)
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="show Lightning's progress bar and messages instead of one line per epoch",
    )


def _genotype(args: argparse.Namespace) -> Genotype:
    if not args.from_study:
        return resolve_genotype(args.genotype)
    storage = open_existing_storage(args.storage)
    study = load_study(storage, args.study_name, args.storage)
    if len(study.directions) > 1:
        raise UsageError(
            f"study {study.study_name!r} has {len(study.directions)} objectives, so no single "
            "best trial: pick one from its Pareto front (optuna-amoeba show) and pass its "
            "genotype with --genotype"
        )
    estimates = recommend_by_mean(study)
    if not estimates:
        raise UsageError(f"study {study.study_name!r} has no complete trial yet")
    first = study.trials[estimates[0].trial_numbers[0]]
    return nasnet_genotypes(study, [first])[first.number]


def _devices(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        count = int(text)
    except ValueError:
        raise UsageError(f"--devices must be 'auto' or an int >= 1, got {text!r}") from None
    if count < 1:
        raise UsageError(f"--devices must be 'auto' or an int >= 1, got {count}")
    return count


def _training_settings(args: argparse.Namespace, world_size: int) -> dict[str, Any]:
    """The values of ``_KEPT_OPTIONS`` as given, and ``devices``: the device count."""
    return {name: getattr(args, name) for name in _KEPT_OPTIONS} | {"devices": world_size}


def _option(name: str, value: Any) -> str:
    flag = option_flag(name)
    return f"no {flag}" if value is None else f"{flag} {value}"


def _check_checkpoint(
    path: Path, expected: dict[str, Any], settings: dict[str, Any], epochs: int
) -> int:
    """Refuse to resume ``path`` unless it trains the ``expected`` model with the same
    ``settings`` (those it recorded) for at most ``epochs`` epochs so far; return the epochs
    it has finished."""
    from lightning_modules.export import read_training_state

    try:
        stored, finished, callbacks = read_training_state(path)
    except Exception as error:  # a truncated or foreign file
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UsageError(f"cannot read checkpoint {path}: {reason}; use --restart") from None
    changed = [key for key, value in expected.items() if stored.get(key) != value]
    if changed:
        raise UsageError(
            f"checkpoint {path} trains another model ({', '.join(changed)} differ); "
            "use another --checkpoint-dir or --restart"
        )
    recorded = callbacks.get(_SETTINGS_KEY)
    recorded = recorded if isinstance(recorded, dict) else {}
    other = [name for name, value in settings.items() if recorded.get(name, value) != value]
    if other:
        then = ", ".join(_option(name, recorded[name]) for name in other)
        now = ", ".join(_option(name, settings[name]) for name in other)
        raise UsageError(
            f"checkpoint {path} was trained with {then}, not {now}; continue it with {then}, "
            "or use --restart"
        )
    if finished > epochs:
        raise UsageError(
            f"checkpoint {path} has trained {finished} epochs, more than --epochs {epochs}; "
            f"give --epochs {finished} or more to continue it, or --restart"
        )
    return finished


def _check_export_targets(args: argparse.Namespace) -> None:
    """Refuse an ``--export`` whose file is a folder, which would fail only after training."""
    for export_format in args.export or ():
        target = Path(args.checkpoint_dir) / EXPORT_FORMATS[export_format]
        if target.is_dir():
            raise UsageError(
                f"--export {export_format} writes {target}, which is a folder; remove it or "
                "use another --checkpoint-dir"
            )


def _apply_recipe(args: argparse.Namespace) -> None:
    """Fill the options left unset from ``--recipe`` (``digits`` keeping its small sizes)."""
    fill_unset(args, recipe_defaults(args.recipe, dataset_kind(args.dataset)))


def _check_arguments(args: argparse.Namespace) -> None:
    for name, low in (
        ("epochs", 1),
        ("cells", 1),
        ("batch_size", 1),
        ("val_size", 0),
        ("cutout", 0),
        ("limit_train_batches", 1),
    ):
        check_int(args, name, low)
    check_int(args, "filters", 1, MAX_FILTERS)
    check_int(args, "image_size", 4, MAX_IMAGE_SIZE)
    check_cpu_threads(args)
    if not 0 < args.drop_path_keep_prob <= 1:
        raise UsageError(
            f"--drop-path-keep-prob must be in (0, 1], got {args.drop_path_keep_prob}"
        )
    if args.auxiliary_weight < 0 or args.gradient_clip < 0 or args.learning_rate <= 0:
        raise UsageError(
            "--auxiliary-weight and --gradient-clip must be >= 0 and --learning-rate > 0, got "
            f"{args.auxiliary_weight}, {args.gradient_clip} and {args.learning_rate}"
        )
    if args.weight_decay < 0 or not 0 <= args.label_smoothing < 1:
        raise UsageError(
            "--weight-decay must be >= 0 and --label-smoothing in [0, 1), got "
            f"{args.weight_decay} and {args.label_smoothing}"
        )
    if not (0 <= args.momentum < 1 and 0 <= args.dropout < 1):
        raise UsageError(
            f"--momentum and --dropout must be in [0, 1), got {args.momentum} and {args.dropout}"
        )


def run(args: argparse.Namespace) -> int:
    if not args.verbose:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
    _apply_recipe(args)
    apply_dataset_defaults(args, {})
    _check_arguments(args)
    devices = _devices(args.devices)
    check_output_dir(args.checkpoint_dir, "--checkpoint-dir")
    _check_export_targets(args)
    check_hardware(args.accelerator, args.precision, devices)
    genotype = _genotype(args)

    import lightning.pytorch as pl

    from lightning_modules.objective import keyboard_interrupts
    from lightning_modules.objective import quiet_lightning

    apply_cpu_threads(args)
    datamodule = prepare_data(args, seed=args.seed)
    checkpoint_dir = Path(args.checkpoint_dir)
    trainer = _build_trainer(args, devices, checkpoint_dir, datamodule.has_validation)
    resume_from = _resume_from(checkpoint_dir, genotype, datamodule, args, trainer.world_size)
    learning_rate = args.learning_rate * trainer.world_size
    pl.seed_everything(args.seed, workers=True, verbose=False)
    module = _build_module(args, genotype, datamodule, learning_rate)
    if trainer.is_global_zero:
        _print_plan(args, genotype, module, datamodule, trainer.world_size, learning_rate)
    try:
        with quiet_lightning(not args.verbose), keyboard_interrupts(trainer):
            trainer.fit(
                module,
                datamodule=datamodule,
                ckpt_path=str(resume_from) if resume_from else None,
                weights_only=True,
            )
    except KeyboardInterrupt:
        raise Interrupted(
            f"run the same command to resume from {checkpoint_dir / LAST_CHECKPOINT} "
            "(saved after each finished epoch)"
        ) from None
    _report(trainer, module, datamodule, checkpoint_dir, args)
    return 0


def _resume_from(
    checkpoint_dir: Path,
    genotype: Genotype,
    datamodule: Any,
    args: argparse.Namespace,
    world_size: int,
) -> Path | None:
    """The ``last.ckpt`` to resume from, checked to train the same model with the same
    settings, or ``None``."""
    last = checkpoint_dir / LAST_CHECKPOINT
    if args.restart:
        _remove_checkpoints(checkpoint_dir)
        return None
    if not last.exists():
        return None
    expected = {
        "genotype": str(genotype),
        "num_cells": args.cells,
        "num_filters": args.filters,
        "num_classes": datamodule.num_classes,
        "in_channels": datamodule.in_channels,
        "image_size": datamodule.image_size,
    }
    finished = _check_checkpoint(last, expected, _training_settings(args, world_size), args.epochs)
    if finished == args.epochs:
        print(f"{last} has trained all {finished} epochs: nothing left to train")
    else:
        print(f"resuming from {last}")
    return last


def _remove_checkpoints(checkpoint_dir: Path) -> None:
    """Remove the checkpoints an earlier training wrote to ``checkpoint_dir``, so that
    ``--restart`` leaves no ``last.ckpt`` to resume and no best checkpoint to mistake for its
    own."""
    earlier = (
        sorted(path for path in checkpoint_dir.iterdir() if _OWN_CHECKPOINT.fullmatch(path.name))
        if checkpoint_dir.is_dir()
        else []
    )
    for path in earlier:
        path.unlink(missing_ok=True)
    if earlier:
        print(
            f"--restart: removed {len(earlier)} checkpoint(s) of an earlier training in "
            f"{checkpoint_dir}"
        )


def _build_trainer(
    args: argparse.Namespace, devices: int | str, checkpoint_dir: Path, validate: bool
) -> Any:
    import lightning.pytorch as pl
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.callbacks import TQDMProgressBar
    from lightning.pytorch.loggers import CSVLogger

    from lightning_modules.objective import EpochLines
    from lightning_modules.objective import MONITOR
    from lightning_modules.objective import quiet_lightning
    from lightning_modules.objective import trainer_settings

    # Model selection on the validation split only; without one, the last epoch's. The best
    # checkpoint's callback comes first, so it is trainer.checkpoint_callback and last.ckpt
    # holds its state as of that epoch.
    callbacks: list[pl.Callback] = (
        [
            ModelCheckpoint(
                dirpath=str(checkpoint_dir), filename=BEST_CHECKPOINT, monitor=MONITOR, mode="max"
            )
        ]
        if validate
        else []
    )
    # Lightning's save_last writes last.ckpt only when a best checkpoint is written in the
    # same step: an epoch that does not improve val_acc would not be saved.
    callbacks.append(
        ModelCheckpoint(
            dirpath=str(checkpoint_dir),
            filename=Path(LAST_CHECKPOINT).stem,
            every_n_epochs=1,
            enable_version_counter=False,
        )
    )
    callbacks.append(_settings_record(args))
    # Each refresh reads the loss back from the GPU; every step would stall it.
    callbacks.append(TQDMProgressBar(refresh_rate=20) if args.verbose else EpochLines())
    with quiet_lightning(not args.verbose):
        return pl.Trainer(
            max_epochs=args.epochs,
            devices=devices,
            **trainer_settings(
                accelerator=args.accelerator,
                precision=args.precision,
                deterministic=args.deterministic,
            ),
            gradient_clip_val=args.gradient_clip or None,
            limit_train_batches=args.limit_train_batches,
            limit_val_batches=None if validate else 0,
            logger=CSVLogger(str(checkpoint_dir), name="metrics"),
            callbacks=callbacks,
            enable_progress_bar=args.verbose,
            enable_model_summary=args.verbose,
            num_sanity_val_steps=0,
        )


def _settings_record(args: argparse.Namespace) -> Any:
    """A callback that stores :func:`_training_settings` in each checkpoint, under
    ``_SETTINGS_KEY``, for :func:`_check_checkpoint` to compare when it is resumed."""
    import lightning.pytorch as pl

    class SettingsRecord(pl.Callback):
        def __init__(self) -> None:
            self.settings: dict[str, Any] = {}

        @property
        def state_key(self) -> str:
            return _SETTINGS_KEY

        def setup(self, trainer: pl.Trainer, module: pl.LightningModule, stage: str) -> None:
            self.settings = _training_settings(args, trainer.world_size)

        def state_dict(self) -> dict[str, Any]:
            return dict(self.settings)

    return SettingsRecord()


def _build_module(
    args: argparse.Namespace, genotype: Genotype, datamodule: Any, learning_rate: float
) -> Any:
    from lightning_modules.data import ResidentImageDataModule
    from lightning_modules.module import NASNetModule

    normalization: dict[str, Any] = {}
    if isinstance(datamodule, ResidentImageDataModule):
        mean, std = datamodule.mean_std()
        normalization = {"input_mean": tuple(mean), "input_std": tuple(std)}
    module = NASNetModule(
        genotype=genotype,
        num_cells=args.cells,
        num_filters=args.filters,
        num_classes=datamodule.num_classes,
        in_channels=datamodule.in_channels,
        image_size=datamodule.image_size,
        drop_path_keep_prob=args.drop_path_keep_prob,
        auxiliary_weight=args.auxiliary_weight,
        dropout=args.dropout,
        learning_rate=learning_rate,
        momentum=args.momentum,
        weight_decay=args.weight_decay,
        label_smoothing=args.label_smoothing,
        class_names=getattr(datamodule, "classes", None) or None,
        **normalization,
    )
    if args.compile:
        module.network.compile()
    return module


def _print_plan(
    args: argparse.Namespace,
    genotype: Genotype,
    module: Any,
    datamodule: Any,
    world_size: int,
    learning_rate: float,
) -> None:
    from lightning_modules.network import count_parameters

    sizes = datamodule.split_sizes()
    print(
        f"training {genotype}\nN={args.cells}, F={args.filters}: "
        f"{count_parameters(module.network):,} parameters (auxiliary head excluded), "
        f"{args.epochs} epochs, recipe {args.recipe}; images: "
        + ", ".join(f"{count:,} {split}" for split, count in sizes.items())
    )
    if world_size > 1:
        print(
            f"{world_size} devices: global batch {args.batch_size * world_size}, "
            f"learning rate {args.learning_rate} x {world_size} = {learning_rate:g}"
        )


def _report(
    trainer: Any,
    module: Any,
    datamodule: Any,
    checkpoint_dir: Path,
    args: argparse.Namespace,
) -> None:
    """Evaluate the selected checkpoint once on the test split; print it beside validation;
    export it when asked."""
    from lightning_modules.objective import keyboard_interrupts
    from lightning_modules.objective import quiet_lightning

    # The best checkpoint's callback, or without validation the one of last.ckpt.
    checkpoint = trainer.checkpoint_callback
    selected = checkpoint.best_model_path or str(checkpoint_dir / LAST_CHECKPOINT)
    summary = [f"selected checkpoint: {selected}"]
    if datamodule.has_validation and checkpoint.best_model_score is not None:
        summary.append(f"val_acc={float(checkpoint.best_model_score):.4f}")
    elif not datamodule.has_validation:
        summary.append("(last epoch; no validation split)")
    if datamodule.has_test:
        with quiet_lightning(not args.verbose), keyboard_interrupts(trainer):
            results = trainer.test(
                module, datamodule=datamodule, ckpt_path=selected, verbose=False, weights_only=True
            )
        if results:
            summary.append(f"test_acc={results[0]['test_acc']:.4f}")
    else:
        summary.append("(no test split)")
    if not trainer.is_global_zero:
        return
    print(f"after {trainer.current_epoch} epochs, " + "  ".join(summary))
    print("accuracies are fractions of images classified correctly (0-1)")
    for export_format in dict.fromkeys(args.export or ()):
        from lightning_modules.export import export_network
        from lightning_modules.export import load_network

        path = export_network(
            load_network(selected), checkpoint_dir / EXPORT_FORMATS[export_format], export_format
        )
        print(f"exported {export_format}: {path}")
    print(f"checkpoints in {checkpoint_dir}")
