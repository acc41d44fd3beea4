"""The LightningModule that trains the network of one genotype."""

from __future__ import annotations

from collections.abc import Iterable
import math
from typing import Any

import lightning.pytorch as pl
import torch
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from lightning_modules.network import NASNetwork
from optuna_amoeba._checks import check_float
from optuna_amoeba._checks import check_optional_bool
from optuna_amoeba.nasnet import Genotype


class NASNetModule(pl.LightningModule):
    """Train and evaluate :class:`~lightning_modules.network.NASNetwork` for one genotype.

    The genotype is kept as text in the hyperparameters, so
    ``NASNetModule.load_from_checkpoint(path)`` rebuilds the network, and
    :func:`lightning_modules.export.load_network` rebuilds it without Lightning. Optimisation:
    SGD with momentum, L2 weight decay (not on batch-norm and bias parameters), cosine decay
    per step from ``learning_rate`` to ``min_learning_rate`` over the whole training, one
    resumed to more epochs included (the defaults are the paper's search settings, Real et
    al. 2019: momentum 0.9, weight decay 5e-4, learning rate 0.024). Validation and test
    share one step and log ``{stage}_loss`` and ``{stage}_acc`` (torchmetrics accuracy, a
    fraction in [0, 1]).

    Args:
        genotype: The genotype, as text (``str(genotype)``) or a
            :class:`~optuna_amoeba.nasnet.Genotype`.
        num_cells: N, normal cells per stack.
        num_filters: F, filters in the first stack.
        num_classes: Number of classes.
        in_channels: Image channels.
        image_size: Image height and width.
        stem_multiplier: Stem width as a multiple of F.
        drop_path_keep_prob: Final scheduled drop-path keep probability; 1 disables it.
        auxiliary_weight: Weight of the auxiliary head's loss; 0 builds no auxiliary head
            (the reference implementations' full-size training: 0.4, docs/training.md).
        dropout: Dropout before the classifier.
        learning_rate: Initial learning rate.
        min_learning_rate: Learning rate at the end of the cosine decay, in
            ``[0, learning_rate]``.
        momentum: SGD momentum, in ``[0, 1)``.
        weight_decay: L2 weight decay on convolution and linear weights.
        label_smoothing: Label smoothing of the training loss, in ``[0, 1)``.
        channels_last: Use the channels-last memory format; ``None``: on CUDA only.
        input_mean: Per-channel mean the inputs were normalised with (``in_channels``
            finite numbers), kept for users of the checkpoint (not used in training).
        input_std: Per-channel standard deviation (``in_channels`` numbers > 0), likewise.
        class_names: Names of the ``num_classes`` classes in label order, likewise.
    """

    def __init__(
        self,
        *,
        genotype: str | Genotype,
        num_cells: int,
        num_filters: int,
        num_classes: int,
        in_channels: int = 3,
        image_size: int = 32,
        stem_multiplier: int = 3,
        drop_path_keep_prob: float = 1.0,
        auxiliary_weight: float = 0.0,
        dropout: float = 0.0,
        learning_rate: float = 0.024,
        min_learning_rate: float = 0.0,
        momentum: float = 0.9,
        weight_decay: float = 5e-4,
        label_smoothing: float = 0.0,
        channels_last: bool | None = None,
        input_mean: tuple[float, ...] | None = None,
        input_std: tuple[float, ...] | None = None,
        class_names: list[str] | None = None,
    ) -> None:
        super().__init__()
        auxiliary_weight = check_float("auxiliary_weight", auxiliary_weight, low=0.0)
        learning_rate = check_float("learning_rate", learning_rate, low=0.0)
        label_smoothing = check_float(
            "label_smoothing", label_smoothing, low=0.0, high=1.0, high_open=True
        )
        network = NASNetwork(
            genotype,
            num_cells=num_cells,
            num_filters=num_filters,
            num_classes=num_classes,
            in_channels=in_channels,
            image_size=image_size,
            stem_multiplier=stem_multiplier,
            drop_path_keep_prob=drop_path_keep_prob,
            auxiliary_head=auxiliary_weight > 0,
            dropout=dropout,
        )
        # Checked values only: a checkpoint holding numpy scalars would not load with
        # weights_only.
        self.save_hyperparameters(
            {
                "genotype": str(network.genotype),
                **network.settings,
                "auxiliary_weight": auxiliary_weight,
                "learning_rate": learning_rate,
                "min_learning_rate": check_float(
                    "min_learning_rate", min_learning_rate, low=0.0, high=learning_rate
                ),
                "momentum": check_float("momentum", momentum, low=0.0, high=1.0, high_open=True),
                "weight_decay": check_float("weight_decay", weight_decay, low=0.0),
                "label_smoothing": label_smoothing,
                "channels_last": check_optional_bool("channels_last", channels_last),
                "input_mean": _channel_values("input_mean", input_mean, network.in_channels),
                "input_std": _channel_values(
                    "input_std", input_std, network.in_channels, positive=True
                ),
                "class_names": _class_names(class_names, num_classes=network.num_classes),
            }
        )
        self.network = network
        self.train_loss = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
        self.eval_loss = nn.CrossEntropyLoss()
        self.train_accuracy = MulticlassAccuracy(num_classes, average="micro")
        self.val_accuracy = MulticlassAccuracy(num_classes, average="micro")
        self.test_accuracy = MulticlassAccuracy(num_classes, average="micro")

    @property
    def genotype(self) -> Genotype:
        return self.network.genotype

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        output = self.network(images)
        logits: torch.Tensor = output[0] if isinstance(output, tuple) else output
        return logits

    def on_fit_start(self) -> None:
        channels_last = self.hparams["channels_last"]
        if channels_last is None:
            channels_last = self.device.type == "cuda"
        if channels_last:
            self.network.to(memory_format=torch.channels_last)

    def on_train_start(self) -> None:
        """Stretch the cosine decay of a training resumed to more epochs over the new total.

        A resumed training restores its checkpoint's scheduler, whose period is the step count
        of the epochs it started with; left so, the decay would reach ``min_learning_rate``
        early and rise again. Here, once the checkpoint is restored, the period becomes the
        training's total steps (the span drop-path's progress also uses) and each learning
        rate the cosine's value at the steps taken, so that the rest of the training follows
        the schedule of one that had been started with its ``max_epochs``."""
        total = self._total_steps()
        for config in self.trainer.lr_scheduler_configs:
            scheduler = config.scheduler
            if (
                not isinstance(scheduler, torch.optim.lr_scheduler.CosineAnnealingLR)
                or scheduler.T_max == total
            ):
                continue
            scheduler.T_max = total
            share = (1 + math.cos(math.pi * scheduler.last_epoch / total)) / 2
            for group, base_lr in zip(
                scheduler.optimizer.param_groups, scheduler.base_lrs, strict=True
            ):
                group["lr"] = scheduler.eta_min + (base_lr - scheduler.eta_min) * share

    def _total_steps(self) -> int:
        return max(1, int(self.trainer.estimated_stepping_batches))

    def _progress(self) -> float:
        total = self.trainer.estimated_stepping_batches
        if not total or total == float("inf"):
            return 0.0
        return min(1.0, self.global_step / float(total))

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> Any:
        images, labels = batch
        self.network.drop_path_progress = self._progress()
        output = self.network(images)
        if isinstance(output, tuple):
            logits, auxiliary_logits = output
            loss = self.train_loss(logits, labels) + self.hparams[
                "auxiliary_weight"
            ] * self.train_loss(auxiliary_logits, labels)
        else:
            logits = output
            loss = self.train_loss(logits, labels)
        self.train_accuracy(logits, labels)
        self.log("train_loss", loss, prog_bar=True)
        self.log("train_acc", self.train_accuracy, on_step=False, on_epoch=True)
        return loss

    def _shared_eval_step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> None:
        images, labels = batch
        logits = self(images)
        accuracy = self.val_accuracy if stage == "val" else self.test_accuracy
        accuracy(logits, labels)
        self.log(f"{stage}_loss", self.eval_loss(logits, labels), sync_dist=True)
        self.log(f"{stage}_acc", accuracy, prog_bar=True)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._shared_eval_step(batch, "val")

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._shared_eval_step(batch, "test")

    def configure_optimizers(self) -> Any:
        decay: list[nn.Parameter] = []
        no_decay: list[nn.Parameter] = []
        for parameter in self.network.parameters():
            (decay if parameter.ndim > 1 else no_decay).append(parameter)
        optimizer = torch.optim.SGD(
            [
                {"params": decay, "weight_decay": self.hparams["weight_decay"]},
                {"params": no_decay, "weight_decay": 0.0},
            ],
            lr=self.hparams["learning_rate"],
            momentum=self.hparams["momentum"],
        )
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer,
            T_max=self._total_steps(),
            eta_min=self.hparams["min_learning_rate"],
        )
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }


def _channel_values(
    name: str, values: Iterable[float] | None, channels: int, *, positive: bool = False
) -> tuple[float, ...] | None:
    """``values`` as a tuple of one finite float per channel (each > 0 if ``positive``)."""
    if values is None:
        return None
    numbers = None if isinstance(values, str) or not isinstance(values, Iterable) else list(values)
    if numbers is None or len(numbers) != channels:
        raise ValueError(
            f"{name} must be None or {channels} numbers (one per input channel), got {values!r}"
        )
    return tuple(
        check_float(
            f"{name}[{index}]", number, low=0.0 if positive else -math.inf, low_open=positive
        )
        for index, number in enumerate(numbers)
    )


def _class_names(names: Iterable[str] | None, *, num_classes: int) -> list[str] | None:
    """``names`` as a list of ``num_classes`` plain ``str``."""
    if names is None:
        return None
    listed = None if isinstance(names, str) or not isinstance(names, Iterable) else list(names)
    if (
        listed is None
        or len(listed) != num_classes
        or not all(isinstance(name, str) for name in listed)
    ):
        raise ValueError(
            f"class_names must be None or {num_classes} str (one per class, in label order), "
            f"got {names!r}"
        )
    return [str(name) for name in listed]
