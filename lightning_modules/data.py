"""Data modules: CIFAR-10 (with a GPU-resident fast path) and scikit-learn's 8x8 digits.

Each module exposes ``num_classes``, ``in_channels`` and ``image_size`` for building the
network, a seeded train/validation split and a test split.
"""

from __future__ import annotations

from collections.abc import Iterator
import os
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader
from torch.utils.data import Dataset
from torch.utils.data import TensorDataset


# Per-channel mean and standard deviation of the CIFAR-10 training images (the usual values).
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
CIFAR10_TRAIN_SIZE = 50_000
CROP_PADDING = 4


def _check_int(name: str, value: int, low: int, high: int | None = None) -> None:
    allowed = f"an int in [{low}, {high}]" if high is not None else f"an int >= {low}"
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    if value < low or (high is not None and value > high):
        raise ValueError(f"{name} must be {allowed}, got {value}")


class ImageDataModule(pl.LightningDataModule):
    """Common attributes: what a network needs to know about the images."""

    num_classes: int
    in_channels: int
    image_size: int


def gpu_augment(images: torch.Tensor, padding: int = CROP_PADDING) -> torch.Tensor:
    """Random crop (zero padding ``padding``) and random horizontal flip of a uint8 batch.

    Works on whatever device ``images`` (``N x C x H x W``) lives on, with one gather for the
    whole batch.
    """
    num, _, height, width = images.shape
    device = images.device
    padded = torch.nn.functional.pad(images, (padding, padding, padding, padding))
    offsets = torch.randint(0, 2 * padding + 1, (num, 2), device=device)
    rows = offsets[:, :1] + torch.arange(height, device=device)
    cols = offsets[:, 1:] + torch.arange(width, device=device)
    batch = torch.arange(num, device=device)[:, None, None]
    cropped = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]
    cropped = cropped.permute(0, 3, 1, 2)
    flip = torch.rand(num, device=device) < 0.5
    return torch.where(flip[:, None, None, None], cropped.flip(3), cropped)


def normalize_uint8(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    return (images.float().div_(255.0) - mean) / std


class DeviceBatches:
    """Shuffled mini-batches sliced from tensors that already live on the training device.

    An iterable Lightning accepts as a data loader; under DDP each rank takes its own
    interleaved share. A new permutation is drawn every epoch from the global torch RNG of
    the device (seeded by ``lightning.seed_everything``).
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        *,
        batch_size: int,
        shuffle: bool,
        drop_last: bool,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.images = images
        self.labels = labels
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.rank = rank
        self.world_size = world_size
        self.per_rank = len(labels) // world_size if world_size > 1 else len(labels)

    def __len__(self) -> int:
        if self.drop_last:
            return self.per_rank // self.batch_size
        return -(-self.per_rank // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        device = self.labels.device
        if self.shuffle:
            order = torch.randperm(len(self.labels), device=device)
        else:
            order = torch.arange(len(self.labels), device=device)
        order = order[self.rank :: self.world_size][: self.per_rank]
        for batch in range(len(self)):
            index = order[batch * self.batch_size : (batch + 1) * self.batch_size]
            yield self.images[index], self.labels[index]


class _ArrayImages(Dataset[tuple[torch.Tensor, int]]):
    """HWC uint8 images through a torchvision transform, as ``torchvision`` datasets do."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform: Any) -> None:
        self.images = images
        self.labels = labels
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        from PIL import Image

        image = self.transform(Image.fromarray(self.images[index]))
        return image, int(self.labels[index])


class CIFAR10DataModule(ImageDataModule):
    """CIFAR-10 through ``torchvision.datasets.CIFAR10``.

    ``prepare_data`` downloads the data (when ``download``); ``setup`` splits the 50,000
    training images into ``50000 - val_size`` for training and ``val_size`` for validation
    with ``seed`` (the paper: 45k/5k); ``val_size=0`` validates on the test set. The test
    loader serves the 10,000 test images.

    GPU fast path (``fast_path=None``: whenever the trainer runs on CUDA): the whole data set
    stays on the GPU as uint8, batches are sliced there, random crop and flip run on the GPU
    in :meth:`on_after_batch_transfer`, and images arrive as ``channels_last``. Otherwise a
    torch ``DataLoader`` with torchvision transforms (random crop with 4-pixel padding,
    horizontal flip, normalisation) feeds the model.

    Args:
        data_dir: Directory holding (or to receive) ``cifar-10-batches-py``.
        batch_size: Training batch size (paper: 128).
        val_size: Images held out for validation, in ``[0, 49999]``.
        seed: Seed of the split.
        download: Download the data when missing.
        fast_path: Force the GPU fast path on (``True``) or off (``False``).
        num_workers: Loader processes for the ``DataLoader`` path; ``None`` picks up to 4
            on a GPU and 0 on a CPU.
        eval_batch_size: Batch size for validation and test (default: ``2 * batch_size``).
    """

    num_classes = 10
    in_channels = 3
    image_size = 32

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        batch_size: int = 128,
        val_size: int = 5000,
        seed: int = 0,
        download: bool = True,
        fast_path: bool | None = None,
        num_workers: int | None = None,
        eval_batch_size: int | None = None,
    ) -> None:
        super().__init__()
        _check_int("batch_size", batch_size, 1)
        _check_int("val_size", val_size, 0, CIFAR10_TRAIN_SIZE - 1)
        _check_int("seed", seed, 0)
        if num_workers is not None:
            _check_int("num_workers", num_workers, 0)
        if eval_batch_size is not None:
            _check_int("eval_batch_size", eval_batch_size, 1)
        self.data_dir = Path(data_dir).expanduser()
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or 2 * batch_size
        self.val_size = val_size
        self.seed = seed
        self.download = download
        self.fast_path = fast_path
        self.num_workers = num_workers
        self._arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._device_tensors: dict[tuple[str, str], tuple[torch.Tensor, torch.Tensor]] = {}
        self._mean_std: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def prepare_data(self) -> None:
        from torchvision.datasets import CIFAR10

        for train in (True, False):
            CIFAR10(str(self.data_dir), train=train, download=self.download)

    def setup(self, stage: str | None = None) -> None:
        if self._arrays:
            return
        from torchvision.datasets import CIFAR10

        train = CIFAR10(str(self.data_dir), train=True, download=False)
        test = CIFAR10(str(self.data_dir), train=False, download=False)
        images = np.asarray(train.data, dtype=np.uint8)
        labels = np.asarray(train.targets, dtype=np.int64)
        if self.val_size >= len(labels):
            raise ValueError(
                f"val_size must be smaller than the {len(labels)} training images in "
                f"{self.data_dir}, got {self.val_size}"
            )
        order = np.random.default_rng(self.seed).permutation(len(labels))
        val_index, train_index = order[: self.val_size], order[self.val_size :]
        self._arrays["train"] = (images[train_index], labels[train_index])
        self._arrays["test"] = (
            np.asarray(test.data, dtype=np.uint8),
            np.asarray(test.targets, dtype=np.int64),
        )
        self._arrays["val"] = (
            (images[val_index], labels[val_index]) if self.val_size else self._arrays["test"]
        )

    def split_sizes(self) -> dict[str, int]:
        """Number of images per split (after :meth:`setup`)."""
        return {name: len(labels) for name, (_, labels) in self._arrays.items()}

    def _device(self) -> torch.device:
        if self.trainer is None:
            return torch.device("cpu")
        return self.trainer.strategy.root_device

    def uses_fast_path(self) -> bool:
        if self.fast_path is not None:
            return self.fast_path
        return self._device().type == "cuda"

    def _device_split(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        device = self._device()
        key = (split, str(device))
        if key not in self._device_tensors:
            images, labels = self._arrays[split]
            self._device_tensors[key] = (
                torch.from_numpy(images).permute(0, 3, 1, 2).contiguous().to(device),
                torch.from_numpy(labels).to(device),
            )
        return self._device_tensors[key]

    def _loader(self, split: str, *, train: bool) -> Any:
        batch_size = self.batch_size if train else self.eval_batch_size
        if self.uses_fast_path():
            device_images, device_labels = self._device_split(split)
            rank, world_size = 0, 1
            if self.trainer is not None:
                rank, world_size = self.trainer.global_rank, self.trainer.world_size
            return DeviceBatches(
                device_images,
                device_labels,
                batch_size=batch_size,
                shuffle=train,
                drop_last=train,
                rank=rank,
                world_size=world_size,
            )
        from torchvision import transforms

        steps: list[Any] = []
        if train:
            steps += [
                transforms.RandomCrop(self.image_size, padding=CROP_PADDING),
                transforms.RandomHorizontalFlip(),
            ]
        steps += [transforms.ToTensor(), transforms.Normalize(CIFAR10_MEAN, CIFAR10_STD)]
        on_gpu = self._device().type == "cuda"
        num_workers = self.num_workers
        if num_workers is None:
            num_workers = min(4, os.cpu_count() or 1) if on_gpu else 0
        images, labels = self._arrays[split]
        return DataLoader(
            _ArrayImages(images, labels, transforms.Compose(steps)),
            batch_size=batch_size,
            shuffle=train,
            drop_last=train,
            num_workers=num_workers,
            pin_memory=on_gpu,
            persistent_workers=num_workers > 0,
        )

    def train_dataloader(self) -> Any:
        return self._loader("train", train=True)

    def val_dataloader(self) -> Any:
        return self._loader("val", train=False)

    def test_dataloader(self) -> Any:
        return self._loader("test", train=False)

    def _normalization(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        # Kept on the device: a copy from pageable host memory every batch would make the
        # host wait for the GPU each step.
        key = str(device)
        if key not in self._mean_std:
            self._mean_std[key] = (
                torch.tensor(CIFAR10_MEAN, device=device).view(1, 3, 1, 1),
                torch.tensor(CIFAR10_STD, device=device).view(1, 3, 1, 1),
            )
        return self._mean_std[key]

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        images, labels = batch
        if images.dtype == torch.uint8:
            if self.trainer is not None and self.trainer.training:
                images = gpu_augment(images)
            images = normalize_uint8(images, *self._normalization(images.device))
        if images.device.type == "cuda":
            images = images.contiguous(memory_format=torch.channels_last)
        return images, labels


class DigitsDataModule(ImageDataModule):
    """scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes), offline.

    A fixed 20% (360 images, chosen with seed 0 whatever ``seed`` is) is the test set; from
    the rest, ``val_size`` images chosen with ``seed`` validate and the others train
    (``val_size=0``: all train and the test set validates). Pixel values 0..16 are scaled
    to [-1, 1]. No augmentation.
    """

    num_classes = 10
    in_channels = 1
    image_size = 8
    test_size = 360

    def __init__(
        self,
        *,
        batch_size: int = 64,
        val_size: int = 288,
        seed: int = 0,
        eval_batch_size: int | None = None,
    ) -> None:
        super().__init__()
        _check_int("batch_size", batch_size, 1)
        _check_int("val_size", val_size, 0, 1000)
        _check_int("seed", seed, 0)
        if eval_batch_size is not None:
            _check_int("eval_batch_size", eval_batch_size, 1)
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or 2 * batch_size
        self.val_size = val_size
        self.seed = seed
        self._splits: dict[str, TensorDataset] = {}

    def setup(self, stage: str | None = None) -> None:
        if self._splits:
            return
        from sklearn.datasets import load_digits

        digits = load_digits()
        images = torch.from_numpy(digits.images.astype(np.float32) / 8.0 - 1.0).unsqueeze(1)
        labels = torch.from_numpy(digits.target.astype(np.int64))
        test_order = np.random.default_rng(0).permutation(len(labels))
        test_index, rest = test_order[: self.test_size], test_order[self.test_size :]
        rest = rest[np.random.default_rng(self.seed).permutation(len(rest))]
        val_index, train_index = rest[: self.val_size], rest[self.val_size :]
        for name, index in (("train", train_index), ("val", val_index), ("test", test_index)):
            order = torch.from_numpy(np.sort(index))
            self._splits[name] = TensorDataset(images[order], labels[order])
        if not self.val_size:
            self._splits["val"] = self._splits["test"]

    def split_sizes(self) -> dict[str, int]:
        """Number of images per split (after :meth:`setup`)."""
        return {name: len(split) for name, split in self._splits.items()}

    def train_dataloader(self) -> DataLoader[tuple[torch.Tensor, ...]]:
        return DataLoader(
            self._splits["train"], batch_size=self.batch_size, shuffle=True, drop_last=True
        )

    def val_dataloader(self) -> DataLoader[tuple[torch.Tensor, ...]]:
        return DataLoader(self._splits["val"], batch_size=self.eval_batch_size)

    def test_dataloader(self) -> DataLoader[tuple[torch.Tensor, ...]]:
        return DataLoader(self._splits["test"], batch_size=self.eval_batch_size)


DATASETS: tuple[str, ...] = ("cifar10", "digits")


def make_datamodule(
    dataset: str,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    batch_size: int = 128,
    val_size: int | None = None,
    seed: int = 0,
    download: bool = True,
    fast_path: bool | None = None,
) -> ImageDataModule:
    """The data module for ``dataset`` (one of :data:`DATASETS`)."""
    if dataset == "cifar10":
        if data_dir is None:
            raise ValueError("data_dir is required for dataset 'cifar10', got None")
        return CIFAR10DataModule(
            data_dir,
            batch_size=batch_size,
            val_size=5000 if val_size is None else val_size,
            seed=seed,
            download=download,
            fast_path=fast_path,
        )
    if dataset == "digits":
        return DigitsDataModule(
            batch_size=batch_size, val_size=288 if val_size is None else val_size, seed=seed
        )
    raise ValueError(f"dataset must be one of {', '.join(DATASETS)}; got {dataset!r}")
