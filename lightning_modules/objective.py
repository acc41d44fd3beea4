"""An Optuna objective that trains the network of each trial's genotype."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
import contextlib
from dataclasses import dataclass
import importlib.util
import logging
from numbers import Integral
import os
import signal
import sys
import threading
import time
from typing import Any
from typing import TextIO
from typing import TYPE_CHECKING
import warnings

from lightning.fabric.utilities.exceptions import MisconfigurationException
import lightning.pytorch as pl
import optuna

from lightning_modules.data import check_batch_size
from lightning_modules.data import make_datamodule
from lightning_modules.datasets import DATASETS
from optuna_amoeba._checks import check_bool
from optuna_amoeba._checks import check_float
from optuna_amoeba._checks import check_int
from optuna_amoeba.nasnet import DEFAULT_NUM_BLOCKS
from optuna_amoeba.nasnet import Genotype
from optuna_amoeba.nasnet import OPERATIONS
from optuna_amoeba.nasnet import suggest_genotype
from optuna_amoeba.nasnet._genotype import check_operations


if TYPE_CHECKING:
    from optuna.artifacts._protocol import ArtifactStore


_logger = optuna.logging.get_logger("optuna.amoeba.objective")

GENOTYPE_ATTR = "genotype"
PARAMS_ATTR = "params"
FLOPS_ATTR = "flops"
TRAIN_SECONDS_ATTR = "train_seconds"
CELL_PICTURE_ATTR = "cell_picture_artifact"
MONITOR = "val_acc"
SEED_LIMIT = 2**32
"""Seeds are ints below this (numpy's and Lightning's range)."""

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


def trainer_settings(
    *, accelerator: str, precision: str | None, deterministic: bool
) -> dict[str, Any]:
    """``pl.Trainer`` keyword arguments for the hardware.

    bf16 mixed precision on a bf16-capable GPU (unless ``precision`` says otherwise) and
    cuDNN autotuning on CUDA (fixed input shapes: the fastest kernels are picked once, not
    always the same ones). ``deterministic`` turns autotuning off and makes torch use
    deterministic algorithms only (``torch.use_deterministic_algorithms``, through
    Lightning), so that a seeded run repeats exactly on the same hardware and software.
    """
    return {
        "accelerator": accelerator,
        "precision": resolve_precision(accelerator, precision),
        "benchmark": False if deterministic else (uses_cuda(accelerator) or None),
        "deterministic": deterministic,
    }


def probe_trainer(
    accelerator: str, precision: str | None = None, devices: int | str = 1
) -> pl.Trainer:
    """A throwaway ``Trainer`` with these settings, built to learn whether this machine can
    run them: Lightning's error propagates (``ValueError``, ``MisconfigurationException``, or
    ``ImportError`` for a missing package such as torch_xla for tpu); see
    :data:`HARDWARE_ERRORS`."""
    with quiet_lightning():
        return pl.Trainer(
            devices=devices,
            logger=False,
            enable_checkpointing=False,
            **trainer_settings(accelerator=accelerator, precision=precision, deterministic=False),
        )


HARDWARE_ERRORS: tuple[type[Exception], ...] = (
    ValueError,
    ImportError,
    MisconfigurationException,
)
"""What :func:`probe_trainer` raises for settings this machine cannot run."""


def check_hardware(accelerator: str, precision: str | None) -> None:
    """Refuse an ``accelerator`` or ``precision`` that a one-device Lightning ``Trainer``
    cannot use on this machine, with ``ValueError`` (Lightning would fail each trial)."""
    # The accelerator is tried with its default precision first, so that the error names
    # the argument at fault.
    checks: list[tuple[str, str, str | None]] = [("accelerator", accelerator, None)]
    if precision is not None:
        checks.append(("precision", precision, precision))
    for name, value, tried_precision in checks:
        try:
            probe_trainer(accelerator, tried_precision)
        except HARDWARE_ERRORS as error:
            raise ValueError(
                f"{name} must be one Lightning can use on this machine, got {value!r}: {error}"
            ) from None


class EpochLines(pl.Callback):
    """One line per epoch on ``stream`` (rank zero only): epoch, mean training loss (this
    rank's batches), validation accuracy (a fraction) when there is validation, seconds."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream
        self.start = 0.0
        self.loss_sum: Any = 0.0
        self.batches = 0

    def on_train_epoch_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self.start = time.perf_counter()
        self.loss_sum, self.batches = 0.0, 0

    def on_train_batch_end(
        self, trainer: pl.Trainer, module: pl.LightningModule, outputs: Any, *args: Any
    ) -> None:
        # Summed on the device: reading each loss back would make the host wait every step.
        if isinstance(outputs, dict) and "loss" in outputs:
            self.loss_sum = self.loss_sum + outputs["loss"].detach()
            self.batches += 1

    def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        # Runs after the epoch's validation, so its val_acc is in callback_metrics.
        if not trainer.is_global_zero:
            return
        parts = [f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}"]
        if self.batches:
            parts.append(f"train_loss={float(self.loss_sum) / self.batches:.4f}")
        if MONITOR in trainer.callback_metrics:
            parts.append(f"{MONITOR}={float(trainer.callback_metrics[MONITOR]):.4f}")
        parts.append(f"{time.perf_counter() - self.start:.1f} s")
        print("  ".join(parts), file=self.stream or sys.stdout, flush=True)


@contextlib.contextmanager
def keyboard_interrupts(trainer: pl.Trainer) -> Iterator[None]:
    """Around ``trainer.fit`` or ``trainer.test``: Ctrl-C raised as ``KeyboardInterrupt``.

    Lightning catches Ctrl-C inside those, ignores any further one and calls
    ``sys.exit(1)``, which Optuna's trial loop does not catch: the trial would stay
    ``RUNNING`` for ever. Optuna fails a trial on ``KeyboardInterrupt``; so this raises that,
    with Ctrl-C handled again as before the block.
    """
    in_main_thread = threading.current_thread() is threading.main_thread()
    handler = signal.getsignal(signal.SIGINT) if in_main_thread else None
    try:
        yield
    except SystemExit:
        if not trainer.interrupted:
            raise
        if handler is not None:
            signal.signal(signal.SIGINT, handler)
        raise KeyboardInterrupt from None


def draw_genotype(
    trial: optuna.Trial,
    num_blocks: int = DEFAULT_NUM_BLOCKS,
    operations: Iterable[str] = OPERATIONS,
) -> Genotype:
    """The trial's architecture, as the sampler proposes it, recorded in the trial's
    ``genotype`` user attr; drawn again, the same (Optuna keeps a trial's parameters)."""
    genotype = suggest_genotype(trial, num_blocks, operations)
    if trial.user_attrs.get(GENOTYPE_ATTR) != str(genotype):
        trial.set_user_attr(GENOTYPE_ATTR, str(genotype))
    return genotype


def make_objective(
    *,
    dataset: str | pl.LightningDataModule = "digits",
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
    val_size: int | None = None,
    cutout: int = 0,
    image_size: int | None = None,
    accelerator: str = "auto",
    precision: str | None = None,
    compile_network: bool = False,
    deterministic: bool = False,
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
    id); return the final validation accuracy (maximise). The test split is never used: the
    fitness of a search is measured on held-out training images, never on the test set.

    The data is loaded (CIFAR-10 downloaded) here, before any trial, and bad arguments raise
    ``ValueError`` here too, naming the argument, what is allowed and the value.

    Args:
        dataset: ``"cifar10"``, ``"digits"``, ``"imagefolder:PATH"`` or a ready
            ``LightningDataModule`` (kept across trials) with a validation split and, once set
            up, ``num_classes``, ``in_channels`` and ``image_size``, as an
            :class:`~lightning_modules.data.ImageDataModule` has.
        data_dir: Where CIFAR-10 lives or is downloaded to.
        epochs: Training epochs per trial (paper's search: 25).
        num_cells: N of the proxy network (paper's search: 3).
        num_filters: F of the proxy network (paper's search: 24).
        num_blocks: Blocks per cell (paper: 5).
        operations: The operation choices, a subset of
            :data:`optuna_amoeba.nasnet.OPERATIONS`.
        batch_size: Training batch size of a data module built here, at most its training
            images (a ready data module keeps its own).
        learning_rate: Initial SGD learning rate (cosine decay to 0).
        weight_decay: L2 weight decay.
        label_smoothing: Label smoothing of the training loss.
        val_size: Training images held out for validation, ``>= 1`` (``None``: the data
            set's default); a data module built here only.
        cutout: Side of the cutout square in pixels (0: none); a data module built here only.
        image_size: Side of the images of an image folder (default 32).
        accelerator: Lightning accelerator (``"auto"``: the GPU when there is one).
        precision: Lightning precision; ``None``: ``"bf16-mixed"`` on a bf16-capable GPU,
            else ``"32-true"``.
        compile_network: Compile each trial's network with ``torch.compile``.
        deterministic: Deterministic algorithms only and no cuDNN autotuning (see
            :func:`trainer_settings`).
        limit_train_batches: Cap on training batches per epoch (an int >= 1) or a fraction of
            them (in ``(0, 1]``), for quick runs; ``None`` uses every batch.
        seed: Seed of the data split and, with the trial number added (modulo 2**32,
            Lightning's range), of each trial's weights and batch order; in
            ``[0, 2**32 - 1]``. A seeded trial repeats exactly on a CPU; on a GPU only
            with ``deterministic`` (cuDNN autotuning and atomic adds otherwise vary).
            ``None`` leaves training unseeded.
        artifact_store: An Optuna artifact store for the cell pictures (e.g.
            ``optuna.artifacts.FileSystemArtifactStore("artifacts")``), or ``None``.
        pruning: Report to the study's pruner after each epoch and stop pruned trials.
        quiet: Hide Lightning's progress bar, banners and advisory warnings.
    """
    options = _check_objective_arguments(
        dataset=dataset,
        epochs=epochs,
        num_cells=num_cells,
        num_filters=num_filters,
        num_blocks=num_blocks,
        operations=operations,
        batch_size=batch_size,
        learning_rate=learning_rate,
        weight_decay=weight_decay,
        label_smoothing=label_smoothing,
        val_size=val_size,
        compile_network=compile_network,
        deterministic=deterministic,
        limit_train_batches=limit_train_batches,
        seed=seed,
        artifact_store=artifact_store,
        pruning=pruning,
        quiet=quiet,
    )
    check_hardware(accelerator, precision)
    datamodule: Any  # an ImageDataModule, or a user's module with the same sizes
    if isinstance(dataset, str):
        datamodule = make_datamodule(
            dataset,
            data_dir=data_dir,
            batch_size=options.batch_size,
            val_size=val_size,
            seed=options.seed or 0,
            cutout=cutout,
            image_size=image_size,
        )
    else:
        datamodule = dataset
    # The network's sizes need the data (an image folder's classes), and a batch larger than
    # the training split would fail every trial: both are known once the data is set up.
    with quiet_lightning(options.quiet):
        try:
            datamodule.prepare_data()
            datamodule.setup("fit")
        except FileNotFoundError as error:
            if not isinstance(dataset, str):
                raise
            raise ValueError(
                f"dataset must name data that exists, got {dataset!r}: {error}"
            ) from None
    if isinstance(dataset, str):
        check_batch_size("batch_size", options.batch_size, datamodule, dataset)
    missing = [name for name in _DATA_SIZES if not hasattr(datamodule, name)]
    if missing:
        raise ValueError(
            f"dataset must have {', '.join(_DATA_SIZES)} once set up, as an ImageDataModule "
            f"has; {dataset!r} lacks {', '.join(missing)}"
        )
    hardware = trainer_settings(
        accelerator=accelerator, precision=precision, deterministic=options.deterministic
    )

    # The note that shows a cell picture full size needs optuna-dashboard (extra viz).
    embed_in_note = importlib.util.find_spec("optuna_dashboard") is not None

    def objective(trial: optuna.Trial) -> float:
        from lightning_modules.module import NASNetModule

        genotype = draw_genotype(trial, options.num_blocks, options.operations)
        if artifact_store is not None:
            from optuna_amoeba.visualization.dashboard import upload_cell_picture

            artifact_id = upload_cell_picture(
                trial.study,
                trial,
                genotype,
                artifact_store,
                embed_in_note=embed_in_note,
            )
            trial.set_user_attr(CELL_PICTURE_ATTR, artifact_id)

        with quiet_lightning(options.quiet):
            if options.seed is not None:
                trial_seed = (options.seed + trial.number) % SEED_LIMIT
                pl.seed_everything(trial_seed, workers=True, verbose=False)
            module = NASNetModule(
                genotype=genotype,
                num_cells=options.num_cells,
                num_filters=options.num_filters,
                num_classes=datamodule.num_classes,
                in_channels=datamodule.in_channels,
                image_size=datamodule.image_size,
                learning_rate=options.learning_rate,
                weight_decay=options.weight_decay,
                label_smoothing=options.label_smoothing,
            )
            _record_sizes(trial, module, datamodule)
            if options.compile_network:
                module.network.compile()
            trainer = _trial_trainer(
                trial,
                epochs=options.epochs,
                hardware=hardware,
                quiet=options.quiet,
                pruning=options.pruning,
                limit_train_batches=options.limit_train_batches,
            )
            start = time.perf_counter()
            try:
                with keyboard_interrupts(trainer):
                    trainer.fit(module, datamodule=datamodule)
            finally:
                trial.set_user_attr(TRAIN_SECONDS_ATTR, time.perf_counter() - start)
        if MONITOR not in trainer.callback_metrics:
            raise RuntimeError(f"training of trial {trial.number} logged no {MONITOR!r}")
        return float(trainer.callback_metrics[MONITOR].item())

    return objective


@dataclass(frozen=True)
class _Options:
    """The checked arguments of :func:`make_objective` (numpy scalars made Python numbers)."""

    epochs: int
    num_cells: int
    num_filters: int
    num_blocks: int
    operations: tuple[str, ...]
    batch_size: int
    learning_rate: float
    weight_decay: float
    label_smoothing: float
    compile_network: bool
    deterministic: bool
    limit_train_batches: int | float | None
    seed: int | None
    pruning: bool
    quiet: bool


# What the network is built from: a user's data module must say them.
_DATA_SIZES = ("num_classes", "in_channels", "image_size")


def _check_objective_arguments(
    *,
    dataset: str | pl.LightningDataModule,
    epochs: int,
    num_cells: int,
    num_filters: int,
    num_blocks: int,
    operations: Iterable[str],
    batch_size: int,
    learning_rate: float,
    weight_decay: float,
    label_smoothing: float,
    val_size: int | None,
    compile_network: bool,
    deterministic: bool,
    limit_train_batches: int | float | None,
    seed: int | None,
    artifact_store: ArtifactStore | None,
    pruning: bool,
    quiet: bool,
) -> _Options:
    """Refuse :func:`make_objective`'s bad arguments before any trial; return them checked."""
    if not isinstance(dataset, (str, pl.LightningDataModule)):
        raise ValueError(
            f"dataset must be one of {', '.join(DATASETS)} or a LightningDataModule "
            f"(such as an ImageDataModule); got {dataset!r}"
        )
    if artifact_store is not None and not all(
        callable(getattr(artifact_store, method, None))
        for method in ("open_reader", "write", "remove")
    ):
        raise ValueError(
            "artifact_store must be None or an Optuna artifact store (with open_reader, write "
            f"and remove), got {artifact_store!r}"
        )
    choices = check_operations(operations)
    unknown = [op for op in choices if op not in OPERATIONS]
    if unknown:
        raise ValueError(
            f"operations must be a non-empty subset of {', '.join(OPERATIONS)}; "
            f"got {list(choices)!r}"
        )
    if val_size == 0 or getattr(dataset, "val_size", None) == 0:
        raise ValueError(
            "val_size must be >= 1: the search's fitness is the validation accuracy, and "
            "without a validation split there is none (the test set is never used instead)"
        )
    return _Options(
        epochs=check_int("epochs", epochs, 1),
        num_cells=check_int("num_cells", num_cells, 1),
        num_filters=check_int("num_filters", num_filters, 1),
        num_blocks=check_int("num_blocks", num_blocks, 1),
        operations=choices,
        batch_size=check_int("batch_size", batch_size, 1),
        learning_rate=check_float("learning_rate", learning_rate, low=0.0, low_open=True),
        weight_decay=check_float("weight_decay", weight_decay, low=0.0),
        label_smoothing=check_float(
            "label_smoothing", label_smoothing, low=0.0, high=1.0, high_open=True
        ),
        compile_network=check_bool("compile_network", compile_network),
        deterministic=check_bool("deterministic", deterministic),
        limit_train_batches=_check_limit_train_batches(limit_train_batches),
        seed=None if seed is None else check_int("seed", seed, 0, SEED_LIMIT - 1),
        pruning=check_bool("pruning", pruning),
        quiet=check_bool("quiet", quiet),
    )


def _check_limit_train_batches(value: object) -> int | float | None:
    """``None``, a number of batches (an int >= 1) or a fraction of them (in ``(0, 1]``)."""
    if value is None:
        return None
    try:
        if isinstance(value, Integral) and not isinstance(value, bool):
            return check_int("limit_train_batches", value, 1)
        return check_float("limit_train_batches", value, low=0.0, high=1.0, low_open=True)
    except ValueError:
        raise ValueError(
            "limit_train_batches must be None, an int >= 1 (batches) or a number in (0, 1] "
            f"(a fraction of the batches), got {value!r}"
        ) from None


def _record_sizes(trial: optuna.Trial, module: Any, datamodule: Any) -> None:
    """The trial's ``params`` and ``flops`` user attrs."""
    from lightning_modules.network import count_flops
    from lightning_modules.network import count_parameters

    trial.set_user_attr(PARAMS_ATTR, count_parameters(module.network))
    trial.set_user_attr(
        FLOPS_ATTR,
        count_flops(
            module.network,
            in_channels=datamodule.in_channels,
            image_size=datamodule.image_size,
        ),
    )


def _trial_trainer(
    trial: optuna.Trial,
    *,
    epochs: int,
    hardware: dict[str, Any],
    quiet: bool,
    pruning: bool,
    limit_train_batches: int | float | None,
) -> pl.Trainer:
    """A one-device trainer without logs or checkpoints, reporting to the pruner if asked."""
    from optuna_integration import PyTorchLightningPruningCallback

    callbacks: list[pl.Callback] = []
    if pruning:
        callbacks.append(PyTorchLightningPruningCallback(trial, monitor=MONITOR))
    return pl.Trainer(
        max_epochs=epochs,
        devices=1,
        **hardware,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=not quiet,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_train_batches=limit_train_batches,
        callbacks=callbacks,
    )


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
    if "pruning" in options and check_bool("pruning", options["pruning"]):
        raise ValueError("pruning=True needs a single-objective study; leave it out")
    objective = make_objective(**{**options, "pruning": False})

    def accuracy_and_size(trial: optuna.Trial) -> tuple[float, float]:
        accuracy = objective(trial)
        return accuracy, float(trial.user_attrs[size])

    return accuracy_and_size
