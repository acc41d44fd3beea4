"""``optuna-amoeba train``: train one architecture at full size, resumable, on 1+ GPUs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from lightning_modules.commands._common import add_cpu_threads_argument
from lightning_modules.commands._common import add_size_arguments
from lightning_modules.commands._common import apply_dataset_defaults
from lightning_modules.commands._common import check_int
from lightning_modules.commands._common import load_study
from lightning_modules.commands._common import open_storage
from lightning_modules.commands._common import prepare_data
from lightning_modules.commands._common import resolve_genotype
from lightning_modules.commands._common import trial_genotype
from lightning_modules.commands._common import UsageError
from optuna_amoeba.nasnet import Genotype


LAST_CHECKPOINT = "last.ckpt"

TRAIN_DEFAULTS: dict[str, dict[str, int | float]] = {
    # Real et al. 2019, Methods Details: N=6, F=36, batch 128, lr 0.024, 600 epochs.
    "cifar10": {
        "epochs": 600,
        "cells": 6,
        "filters": 36,
        "batch_size": 128,
        "learning_rate": 0.024,
    },
    "digits": {"epochs": 10, "cells": 1, "filters": 16, "batch_size": 64, "learning_rate": 0.1},
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
        help="train the best trial of --study-name in --storage",
    )
    parser.add_argument("--storage", default="sqlite:///amoeba.db", help="(default: %(default)s)")
    parser.add_argument("--study-name", help="(default: the storage's only study)")
    parser.add_argument(
        "--dataset",
        choices=("cifar10", "digits"),
        default="cifar10",
        help="(default: %(default)s)",
    )
    parser.add_argument("--data-dir", default="data", help="(default: %(default)s)")
    parser.add_argument("--no-download", action="store_true")
    parser.add_argument(
        "--val-size",
        type=int,
        default=0,
        help="training images held out for validation; 0 trains on all of them and "
        "validates on the test set (default: %(default)s)",
    )
    add_size_arguments(parser, TRAIN_DEFAULTS)
    parser.add_argument("--weight-decay", type=float, default=5e-4, help="(paper: 5e-4)")
    parser.add_argument("--label-smoothing", type=float, default=0.0, help="(default: 0)")
    parser.add_argument(
        "--drop-path-keep-prob",
        type=float,
        default=0.7,
        help="final keep probability of scheduled drop-path; 1 disables it (paper: 0.7)",
    )
    parser.add_argument(
        "--auxiliary-weight",
        type=float,
        default=0.5,
        help="weight of the auxiliary head's loss; 0 drops the head (paper: half, 0.5)",
    )
    parser.add_argument(
        "--gradient-clip",
        type=float,
        default=5.0,
        help="clip the gradients' global norm (reference NASNet CIFAR code: 5); 0 disables",
    )
    parser.add_argument(
        "--checkpoint-dir",
        default="checkpoints",
        help="checkpoints and metrics; a last.ckpt there resumes training (default: %(default)s)",
    )
    parser.add_argument(
        "--restart", action="store_true", help="ignore an existing last.ckpt and start over"
    )
    parser.add_argument("--accelerator", default="auto", help="(default: auto)")
    parser.add_argument(
        "--devices",
        default="auto",
        help="GPUs to use, a count or 'auto' (all); several train with DDP (default: auto)",
    )
    parser.add_argument("--precision", help="Lightning precision (default: bf16-mixed on GPUs)")
    parser.add_argument("--seed", type=int, default=0, help="(default: %(default)s)")
    parser.add_argument("--limit-train-batches", type=int, help="for quick runs")
    add_cpu_threads_argument(parser)


def _genotype(args: argparse.Namespace) -> Genotype:
    if not args.from_study:
        return resolve_genotype(args.genotype)
    storage = open_storage(args.storage)
    study = load_study(storage, args.study_name, args.storage)
    if len(study.directions) > 1:
        raise UsageError(
            f"study {study.study_name!r} has {len(study.directions)} objectives, so no single "
            "best trial: pick one from its Pareto front (optuna-amoeba show) and pass its "
            "genotype with --genotype"
        )
    try:
        best = study.best_trial
    except ValueError:
        raise UsageError(f"study {study.study_name!r} has no complete trial yet") from None
    try:
        return trial_genotype(best)
    except ValueError as error:
        raise UsageError(f"trial {best.number} holds no readable genotype: {error}") from None


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


def _check_checkpoint(path: Path, expected: dict[str, Any]) -> None:
    import torch

    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
        stored = checkpoint["hyper_parameters"]
    except Exception as error:  # a truncated or foreign file
        raise UsageError(f"cannot read checkpoint {path}: {error}; use --restart") from None
    changed = [key for key, value in expected.items() if stored.get(key) != value]
    if changed:
        raise UsageError(
            f"checkpoint {path} trains another model ({', '.join(changed)} differ); "
            "use another --checkpoint-dir or --restart"
        )


def run(args: argparse.Namespace) -> int:
    apply_dataset_defaults(args, TRAIN_DEFAULTS)
    for name, low in (
        ("epochs", 1),
        ("cells", 1),
        ("filters", 1),
        ("batch_size", 1),
        ("val_size", 0),
        ("seed", 0),
        ("limit_train_batches", 1),
        ("cpu_threads", 1),
    ):
        check_int(args, name, low)
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
    devices = _devices(args.devices)
    genotype = _genotype(args)

    import lightning.pytorch as pl
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.callbacks import TQDMProgressBar
    from lightning.pytorch.loggers import CSVLogger
    import torch

    from lightning_modules.module import NASNetModule
    from lightning_modules.network import count_parameters
    from lightning_modules.objective import resolve_precision
    from lightning_modules.objective import uses_cuda

    if args.cpu_threads is not None:
        torch.set_num_threads(args.cpu_threads)
    datamodule = prepare_data(
        args.dataset,
        data_dir=args.data_dir,
        batch_size=args.batch_size,
        val_size=args.val_size,
        seed=args.seed,
        download=not args.no_download,
    )
    expected = {
        "genotype": str(genotype),
        "num_cells": args.cells,
        "num_filters": args.filters,
        "num_classes": datamodule.num_classes,
    }
    checkpoint_dir = Path(args.checkpoint_dir)
    resume_from = checkpoint_dir / LAST_CHECKPOINT
    if resume_from.exists() and not args.restart:
        _check_checkpoint(resume_from, expected)
        print(f"resuming from {resume_from}")
    else:
        resume_from = None  # type: ignore[assignment]

    pl.seed_everything(args.seed, workers=True, verbose=False)
    module = NASNetModule(
        genotype=genotype,
        num_cells=args.cells,
        num_filters=args.filters,
        num_classes=datamodule.num_classes,
        in_channels=datamodule.in_channels,
        image_size=datamodule.image_size,
        drop_path_keep_prob=args.drop_path_keep_prob,
        auxiliary_weight=args.auxiliary_weight,
        learning_rate=args.learning_rate,
        weight_decay=args.weight_decay,
        label_smoothing=args.label_smoothing,
    )
    print(
        f"training {genotype}\nN={args.cells}, F={args.filters}: "
        f"{count_parameters(module.network):,} parameters (auxiliary head excluded), "
        f"{args.epochs} epochs"
    )
    trainer = pl.Trainer(
        max_epochs=args.epochs,
        accelerator=args.accelerator,
        devices=devices,
        precision=resolve_precision(args.accelerator, args.precision),  # type: ignore[arg-type]
        gradient_clip_val=args.gradient_clip or None,
        benchmark=uses_cuda(args.accelerator) or None,
        limit_train_batches=args.limit_train_batches,
        logger=CSVLogger(str(checkpoint_dir), name="metrics"),
        callbacks=[
            # Each refresh reads the loss back from the GPU; every step would stall it.
            TQDMProgressBar(refresh_rate=20),
            ModelCheckpoint(
                dirpath=str(checkpoint_dir),
                filename="best-{epoch}-{val_acc:.4f}",
                monitor="val_acc",
                mode="max",
                save_last=True,
            ),
        ],
        num_sanity_val_steps=0,
    )
    trainer.fit(module, datamodule=datamodule, ckpt_path=str(resume_from) if resume_from else None)
    results = trainer.test(module, datamodule=datamodule, verbose=False)
    if trainer.is_global_zero and results:
        print(f"test accuracy after {trainer.current_epoch} epochs: {results[0]['test_acc']:.4f}")
        print(f"checkpoints in {checkpoint_dir}")
    return 0
