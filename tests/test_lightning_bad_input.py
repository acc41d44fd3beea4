"""Bad arguments of the training code: a ``ValueError`` at once, naming the argument, what is
allowed and the value; numpy scalars work as the Python numbers they stand for."""

from __future__ import annotations

from collections.abc import Callable
import math
from pathlib import Path
import pickle

import lightning.pytorch as pl
import numpy as np
import optuna
from optuna.trial import TrialState
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader
from torch.utils.data import TensorDataset

from lightning_modules.data import DigitsDataModule
from lightning_modules.data import ImageFolderDataModule
from lightning_modules.data import make_datamodule
from lightning_modules.export import load_network
from lightning_modules.module import NASNetModule
from lightning_modules.network import count_flops
from lightning_modules.network import NASNetwork
from lightning_modules.objective import make_objective
from lightning_modules.operations import make_operation
from lightning_modules.testing import write_image_folder
from optuna_amoeba.nasnet import AMOEBANET_A


pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY_NETWORK: dict[str, object] = {
    "num_cells": 1,
    "num_filters": 4,
    "num_classes": 10,
    "in_channels": 1,
    "image_size": 8,
}


def _objective(**options: object) -> object:
    settings: dict[str, object] = {
        "dataset": "digits",
        "epochs": 1,
        "num_cells": 1,
        "num_filters": 2,
        "num_blocks": 1,
        "batch_size": 32,
        "limit_train_batches": 1,
        "accelerator": "cpu",
        "seed": 0,
    }
    settings.update(options)
    return make_objective(**settings)  # type: ignore[arg-type]


def _module(**options: object) -> NASNetModule:
    return NASNetModule(**{"genotype": AMOEBANET_A, **TINY_NETWORK, **options})  # type: ignore[arg-type]


def _save_checkpoint(module: NASNetModule, path: Path) -> Path:
    # What Lightning's checkpoint holds for load_network.
    torch.save({"hyper_parameters": dict(module.hparams), "state_dict": module.state_dict()}, path)
    return path


def _plain(value: object) -> bool:
    """Whether ``value`` is made of Python's own scalars, as weights_only loading needs."""
    if isinstance(value, (tuple, list)):
        return type(value) in (tuple, list) and all(_plain(item) for item in value)
    return type(value) in (int, float, str, bool, type(None))


def test_objective_trains_with_numpy_scalars() -> None:
    objective = _objective(
        epochs=np.int64(1),
        batch_size=np.int64(16),
        num_cells=np.int64(1),
        learning_rate=np.float64(0.05),
        label_smoothing=np.float32(0.1),
        seed=np.int64(3),
        limit_train_batches=np.int64(1),
    )
    study = optuna.create_study(direction="maximize")
    study.optimize(objective, n_trials=1)  # type: ignore[arg-type]
    assert study.trials[0].state == TrialState.COMPLETE


def test_module_with_numpy_scalars_saves_a_checkpoint_load_network_reads(tmp_path: Path) -> None:
    module = _module(
        num_cells=np.int64(1),
        num_filters=np.int32(4),
        learning_rate=np.float64(0.05),
        label_smoothing=np.float32(0.25),
        momentum=np.float64(0.5),
        drop_path_keep_prob=np.float64(0.8),
        channels_last=np.bool_(False),
        input_mean=np.array([0.5]),
        input_std=(np.float32(0.25),),
        class_names=tuple(np.array([f"c{index}" for index in range(10)])),
    )
    assert all(_plain(value) for value in module.hparams.values()), dict(module.hparams)
    assert module.hparams["label_smoothing"] == 0.25
    assert module.hparams["class_names"] == [f"c{index}" for index in range(10)]
    network = load_network(_save_checkpoint(module, tmp_path / "model.ckpt"))
    assert network.genotype == AMOEBANET_A
    assert network.settings == {name: module.hparams[name] for name in network.settings}


def test_data_modules_keep_numpy_scalars_as_ints(tmp_path: Path) -> None:
    digits = DigitsDataModule(
        batch_size=np.int64(8), val_size=np.int64(20), seed=np.int64(1), eval_batch_size=np.int8(4)
    )
    digits.setup("fit")
    assert next(iter(digits.train_dataloader()))[0].shape == (8, 1, 8, 8)
    assert next(iter(digits.val_dataloader()))[0].shape == (4, 1, 8, 8)
    write_image_folder(tmp_path, per_class=6)
    folder = ImageFolderDataModule(
        tmp_path, batch_size=np.int64(2), image_size=np.int64(8), val_size=np.int64(2)
    )
    folder.setup("fit")
    assert next(iter(folder.train_dataloader()))[0].shape == (2, 3, 8, 8)
    assert type(folder.image_size) is int and type(folder.val_size) is int


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("accelerator", "bogus", "accelerator must be one Lightning can use .*got 'bogus'"),
        ("accelerator", 5, "accelerator must be one Lightning can use .*got 5"),
        ("accelerator", None, "accelerator must be one Lightning can use .*got None"),
        ("precision", "bogus", "precision must be one Lightning can use .*got 'bogus'"),
        *(
            ("limit_train_batches", value, r"limit_train_batches must be None, an int >= 1")
            for value in (-1, 0, 1.5, 0.0, math.nan, "x", True)
        ),
        ("artifact_store", "nope", "artifact_store must be None or an Optuna artifact store"),
        *(
            (flag, value, f"{flag} must be True or False, got {value!r}")
            for flag in ("compile_network", "pruning", "deterministic", "quiet")
            for value in ("no", 1, None)
        ),
        ("dataset", None, "dataset must be one of .* or a LightningDataModule .*; got None"),
        ("dataset", 5, "dataset must be one of .* or a LightningDataModule .*; got 5"),
        ("dataset", object(), "dataset must be one of .* or a LightningDataModule .*; got <obj"),
        (
            "dataset",
            "imagefolder:/nonexistent",
            "dataset must name data that exists, got 'imagefolder:/nonexistent'",
        ),
    ],
)
def test_make_objective_refuses_bad_arguments_at_once(
    option: str, value: object, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        _objective(**{option: value})


@pytest.mark.parametrize("value", [None, 1, 3, 0.5, 1.0, np.float64(0.5)])
def test_make_objective_accepts_limit_train_batches(value: object) -> None:
    assert callable(_objective(limit_train_batches=value))


def test_network_accepts_genotype_text_as_the_module_does() -> None:
    network = NASNetwork(str(AMOEBANET_A), **TINY_NETWORK)  # type: ignore[arg-type]
    assert network.genotype == AMOEBANET_A
    with pytest.raises(ValueError, match="cannot parse genotype"):
        NASNetwork("normal: magic(h0) + identity(h1)", **TINY_NETWORK)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="genotype must be a Genotype or its text"):
        NASNetwork(5, **TINY_NETWORK)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        *(
            ("drop_path_keep_prob", value, r"drop_path_keep_prob must be a number in \(0, 1\]")
            for value in ("0.5", None, True, 0.0, 1.5)
        ),
        *(
            ("dropout", value, r"dropout must be a number in \[0, 1\)")
            for value in ("0.5", None, False, 1.0)
        ),
        ("auxiliary_head", "yes", "auxiliary_head must be True or False, got 'yes'"),
    ],
)
def test_network_refuses_bad_settings(option: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        NASNetwork(AMOEBANET_A, **{**TINY_NETWORK, option: value})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        *(
            ("label_smoothing", value, r"label_smoothing must be a number in \[0, 1\)")
            for value in ("0.5", None, True, 1.0)
        ),
        ("momentum", 5.0, r"momentum must be a number in \[0, 1\), got 5.0"),
        ("momentum", 1.0, r"momentum must be a number in \[0, 1\), got 1.0"),
        ("min_learning_rate", 0.1, r"min_learning_rate must be a number in \[0, 0.024\]"),
        ("channels_last", "yes", "channels_last must be True, False or None, got 'yes'"),
        ("class_names", 5, r"class_names must be None or 10 str \(one per class"),
        ("class_names", "0123456789", "class_names must be None or 10 str"),
        ("class_names", ["a", "b"], "class_names must be None or 10 str"),
        ("class_names", list(range(10)), "class_names must be None or 10 str"),
        ("input_mean", "x", r"input_mean must be None or 1 numbers \(one per input channel\)"),
        ("input_mean", (0.1, 0.2), "input_mean must be None or 1 numbers"),
        ("input_mean", ("x",), r"input_mean\[0\] must be a finite number, got 'x'"),
        ("input_std", (0.0,), r"input_std\[0\] must be a finite number > 0, got 0.0"),
        ("input_std", (math.nan,), r"input_std\[0\] must be a finite number > 0, got nan"),
        ("drop_path_keep_prob", "0.5", "drop_path_keep_prob must be a number in"),
    ],
)
def test_module_refuses_bad_settings(option: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _module(**{option: value})


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        *((("identity", 4, 4, stride), "stride must be 1 or 2") for stride in (True, 1.0, 2.0, 3)),
        (("sep_conv_3x3", 0, 4, 1), "in_channels must be an int >= 1, got 0"),
        (("sep_conv_3x3", 4.0, 4, 1), "in_channels must be an int >= 1, got 4.0"),
        (("sep_conv_3x3", 4, 0, 1), "out_channels must be an int >= 1, got 0"),
        ((["identity"], 4, 4, 1), r"name must be one of .*got \['identity'\]"),
    ],
)
def test_make_operation_refuses_bad_arguments(arguments: tuple[object, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_operation(*arguments)  # type: ignore[arg-type]


def test_make_operation_takes_numpy_sizes() -> None:
    operation = make_operation("sep_conv_3x3", np.int64(4), np.int64(6), np.int64(2))
    assert operation(torch.zeros(1, 4, 8, 8)).shape == (1, 6, 4, 4)


@pytest.mark.parametrize(
    ("in_channels", "image_size", "message"),
    [
        (3, 8, "in_channels must be the network's 1 input channels, got 3"),
        (1, 0, "image_size must be an int >= 1, got 0"),
        (1, -1, "image_size must be an int >= 1, got -1"),
        (1, 8.0, "image_size must be an int >= 1, got 8.0"),
    ],
)
def test_count_flops_refuses_bad_inputs(
    in_channels: object, image_size: object, message: str
) -> None:
    network = NASNetwork(AMOEBANET_A, **TINY_NETWORK)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=message):
        count_flops(network, in_channels=in_channels, image_size=image_size)  # type: ignore[arg-type]


def test_count_flops_of_a_module_without_parameters() -> None:
    assert count_flops(nn.ReLU(), in_channels=np.int64(2), image_size=4) == 0  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "content",
    [
        b"hello",
        b"",
        pickle.dumps(object, protocol=2),
        pickle.dumps({"hyper_parameters": 5}, protocol=2),
    ],
    ids=["text", "empty", "foreign-pickle", "no-hyperparameters"],
)
def test_load_network_refuses_a_file_that_is_not_a_checkpoint(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "file.ckpt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=f"{path} is not a NASNetModule checkpoint: ") as error:
        load_network(path)
    assert "weights_only" not in str(error.value)


@pytest.mark.parametrize("missing", ["genotype", "num_cells", "auxiliary_weight", "state_dict"])
def test_load_network_refuses_a_checkpoint_without_a_setting(tmp_path: Path, missing: str) -> None:
    path = _save_checkpoint(_module(), tmp_path / "model.ckpt")
    checkpoint = torch.load(path, weights_only=True)
    checkpoint.pop(missing, None)
    checkpoint["hyper_parameters"].pop(missing, None)
    torch.save(checkpoint, path)
    with pytest.raises(ValueError, match=f"{path} is not a NASNetModule checkpoint: .*{missing}"):
        load_network(path)


def test_load_network_refuses_weights_of_another_network(tmp_path: Path) -> None:
    path = _save_checkpoint(_module(), tmp_path / "model.ckpt")
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["hyper_parameters"]["num_filters"] = 8
    torch.save(checkpoint, path)
    with pytest.raises(ValueError, match=f"{path} is not a NASNetModule checkpoint: Error"):
        load_network(path)


def test_data_modules_refuse_a_batch_larger_than_the_training_images(tmp_path: Path) -> None:
    digits = DigitsDataModule(batch_size=2000)
    digits.setup("fit")
    with pytest.raises(ValueError, match="batch_size must be at most the 1149 training images"):
        digits.train_dataloader()
    write_image_folder(tmp_path, per_class=6)
    folder = ImageFolderDataModule(tmp_path, image_size=8, batch_size=100, fast_path=False)
    folder.setup("fit")
    message = f"batch_size must be at most the 10 training images of {tmp_path}, got 100"
    with pytest.raises(ValueError, match=message):
        folder.train_dataloader()


@pytest.mark.parametrize("layout", ["empty", "class-without-images"])
def test_image_folder_without_class_images_says_what_it_needs(tmp_path: Path, layout: str) -> None:
    if layout == "class-without-images":
        (tmp_path / "cat").mkdir()
    datamodule = ImageFolderDataModule(tmp_path, image_size=8)
    datamodule.prepare_data()
    message = f"{tmp_path} must hold one subfolder per class, each with at least one image"
    with pytest.raises(ValueError, match=message):
        datamodule.setup("fit")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda path: make_datamodule(None), "dataset must be one of .*; got None"),
        (lambda path: make_datamodule(5), "dataset must be one of .*; got 5"),
        (
            lambda path: ImageFolderDataModule(path, fast_path="yes"),
            "fast_path must be True, False or None, got 'yes'",
        ),
        (
            lambda path: make_datamodule("cifar10", data_dir=path, download="no"),
            "download must be True or False, got 'no'",
        ),
    ],
)
def test_data_modules_refuse_bad_arguments(
    tmp_path: Path, make: Callable[[Path], object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        make(tmp_path)


class _TensorData(pl.LightningDataModule):
    """A user's own data module: not an ImageDataModule, with the sizes the network needs
    (or without them, when ``sizes`` is False)."""

    def __init__(self, sizes: bool = True) -> None:
        super().__init__()
        if sizes:
            self.num_classes, self.in_channels, self.image_size = 3, 1, 8

    def setup(self, stage: str | None = None) -> None:
        generator = torch.Generator().manual_seed(0)
        self.images = torch.randn(64, 1, 8, 8, generator=generator)
        self.labels = torch.randint(0, 3, (64,), generator=generator)

    def train_dataloader(self) -> DataLoader[tuple[torch.Tensor, ...]]:
        return DataLoader(TensorDataset(self.images, self.labels), batch_size=16)

    def val_dataloader(self) -> DataLoader[tuple[torch.Tensor, ...]]:
        return DataLoader(TensorDataset(self.images, self.labels), batch_size=16)


def test_objective_takes_any_lightning_data_module_with_the_sizes() -> None:
    study = optuna.create_study(direction="maximize")
    study.optimize(_objective(dataset=_TensorData(), quiet=True), n_trials=1)  # type: ignore[arg-type]
    assert study.trials[0].state == TrialState.COMPLETE


def test_objective_refuses_a_data_module_without_the_sizes() -> None:
    with pytest.raises(ValueError, match=r"lacks num_classes, in_channels, image_size"):
        _objective(dataset=_TensorData(sizes=False))
