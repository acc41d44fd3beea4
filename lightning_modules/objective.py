"""An Optuna objective that trains the network of each trial's genotype."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
import contextlib
import logging
import os
import time
from typing import Any
from typing import TYPE_CHECKING
import warnings

import optuna

from lightning_modules.data import ImageDataModule
from lightning_modules.data import make_datamodule
from optuna_amoeba.nasnet import DEFAULT_NUM_BLOCKS
from optuna_amoeba.nasnet import OPERATIONS
from optuna_amoeba.nasnet import suggest_genotype


if TYPE_CHECKING:
    from optuna.artifacts._protocol import ArtifactStore


_logger = optuna.logging.get_logger("optuna.amoeba.objective")

GENOTYPE_ATTR = "genotype"
PARAMS_ATTR = "params"
FLOPS_ATTR = "flops"
TRAIN_SECONDS_ATTR = "train_seconds"
CELL_PICTURE_ATTR = "cell_picture_artifact"
MONITOR = "val_acc"

_LIGHTNING_LOGGERS = ("lightning.pytorch", "lightning.fabric", "lightning")


@contextlib.contextmanager
def quiet_lightning(quiet: bool = True) -> Iterator[None]:
    """Silence Lightning's start-up banners and advisory warnings inside the block."""
    if not quiet:
        yield
        return
    loggers = [logging.getLogger(name) for name in _LIGHTNING_LOGGERS]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"lightning(\.|$)")
        warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
        for logger in loggers:
            logger.setLevel(logging.WARNING)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)


def uses_cuda(accelerator: str) -> bool:
    """Whether Lightning's ``accelerator`` resolves to a CUDA GPU on this machine."""
    import torch

    return accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()


def resolve_precision(accelerator: str, precision: str | None) -> str:
    """``precision``, or bf16 mixed precision on a CUDA GPU that supports it, else fp32."""
    if precision is not None:
        return precision
    import torch

    if uses_cuda(accelerator) and torch.cuda.is_bf16_supported():
        return "bf16-mixed"
    return "32-true"


def _check_int(name: str, value: int, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")


def make_objective(
    *,
    dataset: str | ImageDataModule = "digits",
    data_dir: str | os.PathLike[str] | None = None,
    epochs: int = 25,
    num_cells: int = 3,
    num_filters: int = 24,
    num_blocks: int = DEFAULT_NUM_BLOCKS,
    operations: Iterable[str] = OPERATIONS,
    batch_size: int = 128,
    learning_rate: float = 0.024,
    weight_decay: float = 5e-4,
    label_smoothing: float = 0.0,
    accelerator: str = "auto",
    precision: str | None = None,
    limit_train_batches: int | float | None = None,
    seed: int | None = None,
    artifact_store: ArtifactStore | None = None,
    pruning: bool = True,
    quiet: bool = True,
) -> Callable[[optuna.Trial], float]:
    """An objective that suggests a genotype, trains its network, returns validation accuracy.

    For each trial: suggest a genotype with :func:`optuna_amoeba.nasnet.suggest_genotype`
    (so :class:`optuna_amoeba.AgingEvolutionSampler` mutates it); upload a picture of its two
    cells when ``artifact_store`` is given; build and train
    :class:`~lightning_modules.module.NASNetModule` with Lightning, reporting validation
    accuracy (``val_acc``) after every epoch through optuna-integration's
    ``PyTorchLightningPruningCallback`` (which prunes with the study's pruner); record user
    attrs ``genotype`` (text), ``params`` (trainable parameters), ``flops`` (forward FLOPs
    per image), ``train_seconds`` and, with a store, ``cell_picture_artifact`` (the artifact
    id); return the final validation accuracy (maximise).

    Args:
        dataset: ``"cifar10"``, ``"digits"`` or a ready data module (kept across trials).
        data_dir: Where CIFAR-10 lives or is downloaded to.
        epochs: Training epochs per trial (paper's search: 25).
        num_cells: N of the proxy network (paper's search: 3).
        num_filters: F of the proxy network (paper's search: 24).
        num_blocks: Blocks per cell (paper: 5).
        operations: The operation choices, a subset of
            :data:`optuna_amoeba.nasnet.OPERATIONS`.
        batch_size: Training batch size of a data module built here (a ready data module
            keeps its own).
        learning_rate: Initial SGD learning rate (cosine decay to 0).
        weight_decay: L2 weight decay.
        label_smoothing: Label smoothing of the training loss.
        accelerator: Lightning accelerator (``"auto"``: the GPU when there is one).
        precision: Lightning precision; ``None``: ``"bf16-mixed"`` on a bf16-capable GPU,
            else ``"32-true"``.
        limit_train_batches: Cap on training batches per epoch (an int) or a fraction, for
            quick runs; ``None`` uses every batch.
        seed: Seed of the data split and, with the trial number added, of each trial's
            weights and batch order, so a trial is reproducible on the same hardware.
            ``None`` leaves training unseeded.
        artifact_store: An Optuna artifact store for the cell pictures (e.g.
            ``optuna.artifacts.FileSystemArtifactStore("artifacts")``), or ``None``.
        pruning: Report to the study's pruner after each epoch and stop pruned trials.
        quiet: Hide Lightning's progress bar, banners and advisory warnings.
    """
    _check_int("epochs", epochs, 1)
    _check_int("num_cells", num_cells, 1)
    _check_int("num_filters", num_filters, 1)
    _check_int("num_blocks", num_blocks, 1)
    _check_int("batch_size", batch_size, 1)
    if seed is not None:
        _check_int("seed", seed, 0)
    choices = tuple(operations)
    unknown = [op for op in choices if op not in OPERATIONS]
    if not choices or unknown:
        raise ValueError(
            f"operations must be a non-empty subset of {', '.join(OPERATIONS)}; "
            f"got {list(choices)!r}"
        )
    if isinstance(dataset, str):
        datamodule = make_datamodule(
            dataset, data_dir=data_dir, batch_size=batch_size, seed=seed or 0
        )
    else:
        datamodule = dataset

    def objective(trial: optuna.Trial) -> float:
        import lightning.pytorch as pl
        from optuna_integration import PyTorchLightningPruningCallback

        from lightning_modules.module import NASNetModule
        from lightning_modules.network import count_flops
        from lightning_modules.network import count_parameters

        genotype = suggest_genotype(trial, num_blocks, choices)
        trial.set_user_attr(GENOTYPE_ATTR, str(genotype))
        if artifact_store is not None:
            from optuna_amoeba.visualization.dashboard import upload_cell_picture

            artifact_id = upload_cell_picture(trial.study, trial, genotype, artifact_store)
            trial.set_user_attr(CELL_PICTURE_ATTR, artifact_id)

        with quiet_lightning(quiet):
            if seed is not None:
                pl.seed_everything(seed + trial.number, workers=True, verbose=False)
            module = NASNetModule(
                genotype=genotype,
                num_cells=num_cells,
                num_filters=num_filters,
                num_classes=datamodule.num_classes,
                in_channels=datamodule.in_channels,
                image_size=datamodule.image_size,
                learning_rate=learning_rate,
                weight_decay=weight_decay,
                label_smoothing=label_smoothing,
            )
            trial.set_user_attr(PARAMS_ATTR, count_parameters(module.network))
            trial.set_user_attr(
                FLOPS_ATTR,
                count_flops(
                    module.network,
                    in_channels=datamodule.in_channels,
                    image_size=datamodule.image_size,
                ),
            )
            callbacks: list[pl.Callback] = []
            if pruning:
                callbacks.append(PyTorchLightningPruningCallback(trial, monitor=MONITOR))
            trainer = pl.Trainer(
                max_epochs=epochs,
                accelerator=accelerator,
                devices=1,
                precision=resolve_precision(accelerator, precision),  # type: ignore[arg-type]
                # Fixed input shapes: let cuDNN pick the fastest kernels once.
                benchmark=uses_cuda(accelerator) or None,
                logger=False,
                enable_checkpointing=False,
                enable_progress_bar=not quiet,
                enable_model_summary=False,
                num_sanity_val_steps=0,
                limit_train_batches=limit_train_batches,
                callbacks=callbacks,
            )
            start = time.perf_counter()
            try:
                trainer.fit(module, datamodule=datamodule)
            finally:
                trial.set_user_attr(TRAIN_SECONDS_ATTR, time.perf_counter() - start)
        if MONITOR not in trainer.callback_metrics:
            raise RuntimeError(f"training of trial {trial.number} logged no {MONITOR!r}")
        return float(trainer.callback_metrics[MONITOR].item())

    return objective


SIZE_OBJECTIVES = {PARAMS_ATTR: "parameters", FLOPS_ATTR: "FLOPs"}
"""The size a two-objective search can minimise: user attr name -> metric name."""


def make_accuracy_size_objective(
    size: str = PARAMS_ATTR, **options: Any
) -> Callable[[optuna.Trial], tuple[float, float]]:
    """:func:`make_objective`'s objective for a two-objective study: it returns (validation
    accuracy, size), to maximise and minimise.

    ``size`` is ``"params"`` (trainable parameters) or ``"flops"`` (forward FLOPs per image),
    the user attr the trial records. ``options`` are :func:`make_objective`'s; pruning is off,
    as Optuna prunes single-objective studies only. For example::

        study = optuna.create_study(
            directions=["maximize", "minimize"], sampler=AgingEvolutionSampler(seed=0)
        )
        study.set_metric_names(["validation accuracy", "parameters"])
        study.optimize(make_accuracy_size_objective("params", dataset="digits"), n_trials=20)
    """
    if size not in SIZE_OBJECTIVES:
        raise ValueError(f"size must be one of {', '.join(SIZE_OBJECTIVES)}, got {size!r}")
    if options.get("pruning"):
        raise ValueError("pruning=True needs a single-objective study; leave it out")
    objective = make_objective(**{**options, "pruning": False})

    def accuracy_and_size(trial: optuna.Trial) -> tuple[float, float]:
        accuracy = objective(trial)
        return accuracy, float(trial.user_attrs[size])

    return accuracy_and_size
