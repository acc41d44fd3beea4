from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from lightning_modules.data import CIFAR10DataModule
from lightning_modules.data import DeviceBatches
from lightning_modules.data import DigitsDataModule
from lightning_modules.data import gpu_augment
from lightning_modules.data import make_datamodule
from lightning_modules.testing import trust_cifar10_files
from lightning_modules.testing import write_cifar10


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def cifar_dir(tmp_path: Path) -> Iterator[Path]:
    write_cifar10(tmp_path, num_train=60, num_test=20, seed=1)
    with trust_cifar10_files(tmp_path):
        yield tmp_path


def test_cifar10_reads_torchvision_files_and_splits_with_seed(cifar_dir: Path) -> None:
    first = CIFAR10DataModule(cifar_dir, batch_size=8, val_size=10, seed=5, download=False)
    first.prepare_data()
    first.setup("fit")
    assert first.split_sizes() == {"train": 50, "val": 10, "test": 20}

    again = CIFAR10DataModule(cifar_dir, batch_size=8, val_size=10, seed=5, download=False)
    again.setup("fit")
    other = CIFAR10DataModule(cifar_dir, batch_size=8, val_size=10, seed=6, download=False)
    other.setup("fit")
    assert np.array_equal(first._arrays["val"][0], again._arrays["val"][0])
    assert not np.array_equal(first._arrays["val"][0], other._arrays["val"][0])
    train, val = first._arrays["train"][0], first._arrays["val"][0]
    train_rows = {image.tobytes() for image in train}
    assert not any(image.tobytes() in train_rows for image in val)


def test_cifar10_loader_yields_normalized_batches(cifar_dir: Path) -> None:
    datamodule = CIFAR10DataModule(cifar_dir, batch_size=8, val_size=10, download=False)
    datamodule.setup("fit")
    assert not datamodule.uses_fast_path()
    images, labels = next(iter(datamodule.train_dataloader()))
    assert images.shape == (8, 3, 32, 32) and images.dtype == torch.float32
    assert labels.shape == (8,) and labels.dtype == torch.int64
    assert -3.0 < images.min() < 0.0 < images.max() < 3.0
    assert len(datamodule.train_dataloader()) == 50 // 8
    assert sum(len(batch[1]) for batch in datamodule.val_dataloader()) == 10


def test_cifar10_val_size_zero_validates_on_test_set(cifar_dir: Path) -> None:
    datamodule = CIFAR10DataModule(cifar_dir, val_size=0, download=False)
    datamodule.setup("fit")
    assert datamodule.split_sizes() == {"train": 60, "val": 20, "test": 20}


def test_cifar10_missing_files_fail_without_download(tmp_path: Path) -> None:
    datamodule = CIFAR10DataModule(tmp_path / "nothing", download=False)
    with pytest.raises(RuntimeError, match="Dataset not found or corrupted"):
        datamodule.prepare_data()


def test_fast_path_batches_and_augments_uint8_on_device(cifar_dir: Path) -> None:
    # Forced on a CPU: the same slicing and augmentation code a GPU runs.
    datamodule = CIFAR10DataModule(
        cifar_dir, batch_size=16, val_size=10, download=False, fast_path=True
    )
    datamodule.setup("fit")
    loader = datamodule.train_dataloader()
    assert isinstance(loader, DeviceBatches)
    assert len(loader) == 50 // 16
    batches = list(loader)
    assert len(batches) == 3
    images, labels = batches[0]
    assert images.dtype == torch.uint8 and images.shape == (16, 3, 32, 32)
    seen = torch.cat([batch_labels for _, batch_labels in batches])
    assert len(seen) == 48
    normalized, same_labels = datamodule.on_after_batch_transfer((images, labels), 0)
    assert normalized.dtype == torch.float32 and normalized.shape == images.shape
    assert torch.equal(same_labels, labels)
    assert -3.0 < normalized.min() < 0.0 < normalized.max() < 3.0


def test_device_batches_shard_across_ranks() -> None:
    images = torch.arange(20).view(20, 1, 1, 1)
    labels = torch.arange(20)
    shards = [
        torch.cat(
            [
                batch_labels
                for _, batch_labels in DeviceBatches(
                    images,
                    labels,
                    batch_size=3,
                    shuffle=False,
                    drop_last=False,
                    rank=rank,
                    world_size=2,
                )
            ]
        )
        for rank in (0, 1)
    ]
    assert shards[0].tolist() == list(range(0, 20, 2))
    assert shards[1].tolist() == list(range(1, 20, 2))


def test_gpu_augment_crops_a_window_of_the_padded_image() -> None:
    torch.manual_seed(0)
    images = torch.randint(0, 256, (64, 3, 6, 6), dtype=torch.uint8)
    augmented = gpu_augment(images, padding=2)
    assert augmented.shape == images.shape and augmented.dtype == torch.uint8
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2))
    flips = 0
    for original, out in zip(padded, augmented, strict=True):
        windows = [
            original[:, top : top + 6, left : left + 6] for top in range(5) for left in range(5)
        ]
        plain = any(torch.equal(out, window) for window in windows)
        flipped = any(torch.equal(out, window.flip(2)) for window in windows)
        assert plain or flipped
        flips += flipped and not plain
    assert 10 < flips < 54


def test_digits_splits_are_disjoint_and_seeded() -> None:
    datamodule = DigitsDataModule(batch_size=32, val_size=100, seed=2)
    datamodule.setup("fit")
    assert datamodule.split_sizes() == {"train": 1797 - 360 - 100, "val": 100, "test": 360}
    splits = {name: datamodule._splits[name].tensors[0] for name in ("train", "val", "test")}
    rows = {name: {image.numpy().tobytes() for image in split} for name, split in splits.items()}
    # The 1,797 bundled images are pairwise distinct, so disjoint splits share no image.
    assert not rows["test"] & rows["train"]
    assert not rows["test"] & rows["val"]
    assert not rows["val"] & rows["train"]
    images, _ = next(iter(datamodule.train_dataloader()))
    assert images.shape == (32, 1, 8, 8) and -1.0 <= images.min() and images.max() <= 1.0

    other = DigitsDataModule(val_size=100, seed=3)
    other.setup("fit")
    assert torch.equal(other._splits["test"].tensors[0], splits["test"])
    assert not torch.equal(other._splits["val"].tensors[0], splits["val"])


def test_make_datamodule_validates_its_arguments() -> None:
    with pytest.raises(ValueError, match="dataset must be one of cifar10, digits; got 'mnist'"):
        make_datamodule("mnist")
    with pytest.raises(ValueError, match="data_dir is required for dataset 'cifar10'"):
        make_datamodule("cifar10")
    with pytest.raises(ValueError, match=r"val_size must be an int in \[0, 49999\], got 50000"):
        CIFAR10DataModule("data", val_size=50_000)
    with pytest.raises(ValueError, match="batch_size must be an int >= 1, got 0"):
        DigitsDataModule(batch_size=0)
