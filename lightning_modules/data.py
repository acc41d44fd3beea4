"""Data modules: CIFAR-10, your own images (``ImageFolder``) and scikit-learn's 8x8 digits.

Each module exposes ``num_classes``, ``in_channels`` and ``image_size`` for building the
network, a seeded train/validation split (``val_size=0``: no validation split at all, never
the test set in its place) and a test split.

CIFAR-10 and image folders keep their decoded images as uint8 in memory and share one
training path: on a CUDA GPU with room for them, the whole data set stays on the GPU and
random crop, flip and cutout run there (:meth:`ResidentImageDataModule.device_transform`);
otherwise a torch ``DataLoader`` applies the same augmentation with torchvision transforms.
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Sequence
import concurrent.futures
import contextlib
import os
from pathlib import Path
import shutil
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader
from torch.utils.data import Dataset
from torch.utils.data import TensorDataset

from lightning_modules.datasets import dataset_kind
from lightning_modules.datasets import DEFAULT_VAL_SIZES
from lightning_modules.datasets import IMAGEFOLDER_IMAGE_SIZE
from lightning_modules.datasets import imagefolder_path
from optuna_amoeba._checks import check_bool
from optuna_amoeba._checks import check_int
from optuna_amoeba._checks import check_optional_bool
from optuna_amoeba._checks import check_optional_int


# Per-channel mean and standard deviation of the CIFAR-10 training images (the usual values).
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
CIFAR10_TRAIN_SIZE = 50_000
CROP_PADDING = 4
"""Zero padding of the random crop for 32x32 images (an eighth of the side)."""

IMAGEFOLDER_HELD_OUT = 0.1
"""Share of a flat image folder held out for testing, and the default share for validation."""
GPU_MEMORY_SHARE = 0.5
"""The GPU-resident path is used when the decoded images take at most this share of the
GPU's free memory."""


class ImageDataModule(pl.LightningDataModule):
    """Common attributes: what a network needs to know about the images, and ``source``,
    what the images are in messages."""

    num_classes: int
    in_channels: int
    image_size: int
    source: str

    def split_sizes(self) -> dict[str, int]:
        """Number of images per split (after ``setup``); absent splits are left out."""
        raise NotImplementedError

    @property
    def has_validation(self) -> bool:
        """Whether there is a validation split (after ``setup``)."""
        return self.split_sizes().get("val", 0) > 0

    @property
    def has_test(self) -> bool:
        """Whether there is a test split (after ``setup``)."""
        return self.split_sizes().get("test", 0) > 0


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


def cutout(images: torch.Tensor, length: int) -> torch.Tensor:
    """Cutout (DeVries & Taylor 2017) of an ``N x C x H x W`` batch: per image, zero a
    ``length`` x ``length`` square centred on a uniformly drawn pixel, clipped at the border.

    Applied after normalisation, so the square holds the data set's mean colour. Runs on the
    batch's device with one mask for the whole batch.
    """
    if length <= 0:
        return images
    num, _, height, width = images.shape
    device = images.device
    top = torch.randint(0, height, (num, 1), device=device) - length // 2
    left = torch.randint(0, width, (num, 1), device=device) - length // 2
    rows = torch.arange(height, device=device)
    cols = torch.arange(width, device=device)
    in_rows = (rows >= top) & (rows < top + length)
    in_cols = (cols >= left) & (cols < left + length)
    square = in_rows[:, None, :, None] & in_cols[:, None, None, :]
    return images.masked_fill(square, 0)


class Cutout:
    """:func:`cutout` as a torchvision transform of one ``C x H x W`` tensor."""

    def __init__(self, length: int) -> None:
        self.length = length

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        return cutout(image.unsqueeze(0), self.length).squeeze(0)

    def __repr__(self) -> str:
        return f"Cutout(length={self.length})"


def normalize_uint8(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    return (images.float().div_(255.0) - mean) / std


def fits_on_device(num_bytes: int, device: torch.device) -> bool:
    """Whether ``num_bytes`` of data fit in :data:`GPU_MEMORY_SHARE` of ``device``'s free
    memory (a CUDA device; other devices never)."""
    if device.type != "cuda":
        return False
    free, _ = torch.cuda.mem_get_info(device)
    return num_bytes <= GPU_MEMORY_SHARE * free


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


Split = tuple[np.ndarray, np.ndarray]
"""``(images, labels)``: ``N x H x W x C`` uint8 images and int64 labels."""


class ResidentImageDataModule(ImageDataModule):
    """Decoded uint8 images in memory, augmented by random crop, flip and cutout.

    Subclasses load the splits (:meth:`_load_splits`) and give the normalisation
    (:meth:`mean_std`). GPU fast path (``fast_path=None``: on a CUDA device when the images
    fit, see :func:`fits_on_device`): the data set stays on the GPU as uint8, batches are
    sliced there and :meth:`device_transform` augments and normalises them in
    :meth:`on_after_batch_transfer`, arriving as ``channels_last``. Otherwise a torch
    ``DataLoader`` with torchvision transforms (the same crop, flip, normalisation and
    :class:`Cutout`) feeds the model.

    Args:
        batch_size: Training batch size.
        eval_batch_size: Batch size for validation and test (default: ``2 * batch_size``).
        seed: Seed of the train/validation split.
        cutout: Side of the cutout square in pixels; 0 disables it.
        fast_path: Force the GPU-resident path on (``True``) or off (``False``).
        num_workers: Loader processes for the ``DataLoader`` path; ``None`` picks up to 4
            on a GPU and 0 on a CPU.
    """

    crop_padding = CROP_PADDING

    def __init__(
        self,
        *,
        batch_size: int,
        eval_batch_size: int | None,
        seed: int,
        cutout: int,
        fast_path: bool | None,
        num_workers: int | None,
    ) -> None:
        super().__init__()
        self.batch_size = check_int("batch_size", batch_size, 1)
        self.eval_batch_size = (
            check_optional_int("eval_batch_size", eval_batch_size, 1) or 2 * self.batch_size
        )
        self.seed = check_int("seed", seed, 0)
        self.cutout = check_int("cutout", cutout, 0)
        self.fast_path = check_optional_bool("fast_path", fast_path)
        self.num_workers = check_optional_int("num_workers", num_workers, 0)
        self._arrays: dict[str, Split] = {}
        self._device_tensors: dict[tuple[str, str], tuple[torch.Tensor, torch.Tensor]] = {}
        self._normalization: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self._fits: dict[str, bool] = {}

    def _load_splits(self) -> dict[str, Split]:
        """The ``train`` split and whichever of ``val`` and ``test`` exist."""
        raise NotImplementedError

    def mean_std(self) -> tuple[Sequence[float], Sequence[float]]:
        """Per-channel mean and standard deviation the images are normalised with."""
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        if not self._arrays:
            self._arrays = self._load_splits()

    def split_sizes(self) -> dict[str, int]:
        return {
            name: len(self._arrays[name][1])
            for name in ("train", "val", "test")
            if name in self._arrays
        }

    def data_bytes(self) -> int:
        """Bytes the decoded images and labels of every split take."""
        return sum(images.nbytes + labels.nbytes for images, labels in self._arrays.values())

    def _device(self) -> torch.device:
        if self.trainer is None:
            return torch.device("cpu")
        return self.trainer.strategy.root_device

    def uses_fast_path(self) -> bool:
        if self.fast_path is not None:
            return self.fast_path
        device = self._device()
        # Decided once per device: the copies made for one split lower the free memory
        # that the next split's decision would see.
        if str(device) not in self._fits:
            self._fits[str(device)] = fits_on_device(self.data_bytes(), device)
        return self._fits[str(device)]

    def device_split(
        self, split: str, device: torch.device | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A split's uint8 ``N x C x H x W`` images and labels on ``device`` (default: the
        trainer's), copied there once."""
        device = device or self._device()
        key = (split, str(device))
        if key not in self._device_tensors:
            images, labels = self._arrays[split]
            self._device_tensors[key] = (
                torch.from_numpy(images).permute(0, 3, 1, 2).contiguous().to(device),
                torch.from_numpy(labels).to(device),
            )
        return self._device_tensors[key]

    def _loader(self, split: str, *, train: bool) -> Any:
        if split not in self._arrays:
            return []
        if train:
            check_batch_size("batch_size", self.batch_size, self, self.source)
        batch_size = self.batch_size if train else self.eval_batch_size
        if self.uses_fast_path():
            device_images, device_labels = self.device_split(split)
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
        on_gpu = self._device().type == "cuda"
        num_workers = self.num_workers
        if num_workers is None:
            num_workers = min(4, os.cpu_count() or 1) if on_gpu else 0
        images, labels = self._arrays[split]
        return DataLoader(
            _ArrayImages(images, labels, self.cpu_transform(train=train)),
            batch_size=batch_size,
            shuffle=train,
            drop_last=train,
            num_workers=num_workers,
            pin_memory=on_gpu,
            persistent_workers=num_workers > 0,
        )

    def cpu_transform(self, *, train: bool) -> Any:
        """The torchvision transform of the ``DataLoader`` path (PIL image in, tensor out)."""
        from torchvision import transforms

        steps: list[Any] = []
        if train:
            steps += [
                transforms.RandomCrop(self.image_size, padding=self.crop_padding),
                transforms.RandomHorizontalFlip(),
            ]
        steps += [transforms.ToTensor(), transforms.Normalize(*self.mean_std())]
        if train and self.cutout:
            steps.append(Cutout(self.cutout))
        return transforms.Compose(steps)

    def train_dataloader(self) -> Any:
        return self._loader("train", train=True)

    def val_dataloader(self) -> Any:
        return self._loader("val", train=False)

    def test_dataloader(self) -> Any:
        return self._loader("test", train=False)

    def _device_mean_std(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        # Kept on the device: a copy from pageable host memory every batch would make the
        # host wait for the GPU each step.
        key = str(device)
        if key not in self._normalization:
            mean, std = self.mean_std()
            self._normalization[key] = (
                torch.tensor(mean, device=device).view(1, -1, 1, 1),
                torch.tensor(std, device=device).view(1, -1, 1, 1),
            )
        return self._normalization[key]

    def device_transform(self, images: torch.Tensor, *, train: bool) -> torch.Tensor:
        """The fast path's augmentation of a uint8 ``N x C x H x W`` batch on its device:
        crop and flip (training only), normalisation, cutout (training only), and
        ``channels_last`` on CUDA."""
        if train:
            images = gpu_augment(images, self.crop_padding)
        images = normalize_uint8(images, *self._device_mean_std(images.device))
        if train:
            images = cutout(images, self.cutout)
        if images.device.type == "cuda":
            images = images.contiguous(memory_format=torch.channels_last)
        return images

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        images, labels = batch
        if images.dtype == torch.uint8:
            training = self.trainer is not None and self.trainer.training
            images = self.device_transform(images, train=training)
        elif images.device.type == "cuda":
            images = images.contiguous(memory_format=torch.channels_last)
        return images, labels


class CIFAR10DataModule(ResidentImageDataModule):
    """CIFAR-10 through ``torchvision.datasets.CIFAR10``.

    ``prepare_data`` downloads the data (when ``download``); ``setup`` splits the 50,000
    training images into ``50000 - val_size`` for training and ``val_size`` for validation
    with ``seed`` (the paper: 45k/5k); ``val_size=0`` trains on all 50,000 with no
    validation split. The test split is the 10,000 test images. Augmentation: random crop
    with 4-pixel zero padding, horizontal flip and, when ``cutout`` > 0, cutout (see
    :class:`ResidentImageDataModule` for the GPU-resident path).

    Args:
        data_dir: Directory holding (or to receive) ``cifar-10-batches-py``.
        batch_size: Training batch size (paper: 128).
        val_size: Images held out for validation, in ``[0, 49999]``.
        seed: Seed of the split.
        download: Download the data when missing.
        cutout: Side of the cutout square in pixels (DeVries & Taylor 2017: 16); 0: none.
        fast_path: Force the GPU-resident path on (``True``) or off (``False``).
        num_workers: Loader processes for the ``DataLoader`` path.
        eval_batch_size: Batch size for validation and test (default: ``2 * batch_size``).
    """

    num_classes = 10
    in_channels = 3
    image_size = 32
    source = "cifar10"

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        batch_size: int = 128,
        val_size: int = 5000,
        seed: int = 0,
        download: bool = True,
        cutout: int = 0,
        fast_path: bool | None = None,
        num_workers: int | None = None,
        eval_batch_size: int | None = None,
    ) -> None:
        super().__init__(
            batch_size=batch_size,
            eval_batch_size=eval_batch_size,
            seed=seed,
            cutout=cutout,
            fast_path=fast_path,
            num_workers=num_workers,
        )
        self.val_size = check_int("val_size", val_size, 0, CIFAR10_TRAIN_SIZE - 1)
        self.data_dir = Path(data_dir).expanduser()
        self.download = check_bool("download", download)

    def prepare_data(self) -> None:
        """Download CIFAR-10 into ``data_dir`` unless it is there; a failed or interrupted
        download removes ``data_dir`` again when this call created it. Processes sharing
        ``data_dir`` (the workers of one machine) download in turn, holding a lock file
        beside it (``.NAME.lock``): the first downloads, the others then find the data."""
        from torchvision.datasets import CIFAR10

        with self._download_lock():
            created = not self.data_dir.exists()
            try:
                for train in (True, False):
                    CIFAR10(str(self.data_dir), train=train, download=self.download)
            except BaseException:
                if created:
                    shutil.rmtree(self.data_dir, ignore_errors=True)
                raise

    def _download_lock(self) -> contextlib.AbstractContextManager[object]:
        if not self.download:
            return contextlib.nullcontext()  # nothing is written: no one to wait for
        from filelock import FileLock

        target = self.data_dir.resolve()
        target.parent.mkdir(parents=True, exist_ok=True)
        return FileLock(target.parent / f".{target.name}.lock")

    def mean_std(self) -> tuple[Sequence[float], Sequence[float]]:
        return CIFAR10_MEAN, CIFAR10_STD

    def _load_splits(self) -> dict[str, Split]:
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
        splits = {
            "train": (images[train_index], labels[train_index]),
            "test": (
                np.asarray(test.data, dtype=np.uint8),
                np.asarray(test.targets, dtype=np.int64),
            ),
        }
        if self.val_size:
            splits["val"] = (images[val_index], labels[val_index])
        return splits


def _decode(path: str, image_size: int) -> np.ndarray:
    from PIL import Image
    from torchvision.transforms import functional

    with Image.open(path) as image:
        rgb = image.convert("RGB")
    square = functional.center_crop(functional.resize(rgb, image_size), [image_size])
    return np.asarray(square, dtype=np.uint8)


class ImageFolderDataModule(ResidentImageDataModule):
    """Your own images: one subfolder per class, as ``torchvision.datasets.ImageFolder``
    reads them (``root/dog/1.png``, ``root/cat/2.jpg``, ...).

    Layouts:

    * ``root/train/<class>/...`` with ``root/val/<class>/...`` and optionally
      ``root/test/<class>/...``: the folders are the splits (``val_size`` must be ``None``);
      without ``val/``, ``val_size`` images of ``train/`` chosen with ``seed`` validate;
      without ``test/`` there is no test split.
    * ``root/<class>/...``: a fixed tenth of the images (chosen with seed 0, whatever
      ``seed`` is) is the test split; from the rest, ``val_size`` images chosen with
      ``seed`` validate and the others train.

    ``val_size=None`` holds out a tenth (at least one image); 0 keeps no validation split.
    Every image is decoded once in ``setup``, converted to RGB, resized so that its shorter
    side is ``image_size`` and centre-cropped to ``image_size`` x ``image_size``. The
    normalisation is the per-channel mean and standard deviation of the training images.
    Augmentation and the GPU-resident path are those of CIFAR-10, the crop padding being an
    eighth of ``image_size``.

    Args:
        root: The image folder.
        image_size: Side of the square images, ``>= 4``.
        batch_size: Training batch size.
        val_size: Training images held out for validation, or ``None`` (a tenth).
        seed: Seed of the train/validation split.
        cutout: Side of the cutout square in pixels; 0 disables it.
        fast_path: Force the GPU-resident path on (``True``) or off (``False``).
        num_workers: Loader processes for the ``DataLoader`` path.
        eval_batch_size: Batch size for validation and test (default: ``2 * batch_size``).
    """

    in_channels = 3

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        image_size: int = IMAGEFOLDER_IMAGE_SIZE,
        batch_size: int = 128,
        val_size: int | None = None,
        seed: int = 0,
        cutout: int = 0,
        fast_path: bool | None = None,
        num_workers: int | None = None,
        eval_batch_size: int | None = None,
    ) -> None:
        super().__init__(
            batch_size=batch_size,
            eval_batch_size=eval_batch_size,
            seed=seed,
            cutout=cutout,
            fast_path=fast_path,
            num_workers=num_workers,
        )
        self.image_size = check_int("image_size", image_size, 4)
        self.val_size = check_optional_int("val_size", val_size, 0)
        self.root = Path(root).expanduser()
        self.source = str(self.root)
        self.crop_padding = max(1, self.image_size // 8)
        self.num_classes = 0  # known after setup()
        self.classes: list[str] = []
        self._mean: tuple[float, ...] = ()
        self._std: tuple[float, ...] = ()

    def split_folders(self) -> dict[str, Path]:
        """The split subfolders (``train``, ``val``, ``test``) present, or ``{}`` when the
        root holds the classes directly."""
        if not (self.root / "train").is_dir():
            return {}
        return {
            name: self.root / name
            for name in ("train", "val", "test")
            if (self.root / name).is_dir()
        }

    def prepare_data(self) -> None:
        if not self.root.is_dir():
            raise FileNotFoundError(f"no folder {self.root}")
        if self.val_size is not None and "val" in self.split_folders():
            raise ValueError(
                f"val_size must be None when {self.root} has its own val/ folder, "
                f"got {self.val_size}"
            )

    def _read(self, folder: Path) -> tuple[list[str], Split]:
        from torchvision.datasets import ImageFolder

        try:
            listing = ImageFolder(str(folder))
        # torchvision's error for a folder without class subfolders, or a class without images.
        except FileNotFoundError as error:
            raise ValueError(
                f"{folder} must hold one subfolder per class, each with at least one image: "
                f"{error}"
            ) from None
        paths = [path for path, _ in listing.samples]
        with concurrent.futures.ThreadPoolExecutor(min(8, os.cpu_count() or 1)) as pool:
            images = list(pool.map(lambda path: _decode(path, self.image_size), paths))
        labels = np.asarray(listing.targets, dtype=np.int64)
        return list(listing.classes), (np.stack(images), labels)

    def _held_out(self, available: int) -> int:
        size = self.val_size
        if size is None:
            size = max(1, round(IMAGEFOLDER_HELD_OUT * available))
        if size >= available:
            raise ValueError(
                f"val_size must be smaller than the {available} training images of "
                f"{self.root}, got {size}"
            )
        return size

    def _load_splits(self) -> dict[str, Split]:
        folders = self.split_folders()
        splits: dict[str, Split] = {}
        if folders:
            read = {name: self._read(folder) for name, folder in folders.items()}
            self.classes = read["train"][0]
            for name, (classes, split) in read.items():
                if classes != self.classes:
                    raise ValueError(
                        f"{folders[name]} has classes {classes} but {folders['train']} has "
                        f"{self.classes}"
                    )
                splits[name] = split
            if "val" not in folders:
                splits["train"], val = self._split(splits["train"], self.seed)
                if len(val[1]):
                    splits["val"] = val
        else:
            self.classes, everything = self._read(self.root)
            test_size = max(1, round(IMAGEFOLDER_HELD_OUT * len(everything[1])))
            order = np.random.default_rng(0).permutation(len(everything[1]))
            test_index, rest = order[:test_size], np.sort(order[test_size:])
            splits["test"] = (everything[0][test_index], everything[1][test_index])
            splits["train"], val = self._split(
                (everything[0][rest], everything[1][rest]), self.seed
            )
            if len(val[1]):
                splits["val"] = val
        if len(self.classes) < 2:
            raise ValueError(f"{self.root} must hold at least 2 class folders, got {self.classes}")
        self.num_classes = len(self.classes)
        pixels = splits["train"][0].reshape(-1, 3).astype(np.float64) / 255.0
        self._mean = tuple(float(value) for value in pixels.mean(axis=0))
        self._std = tuple(max(float(value), 1e-3) for value in pixels.std(axis=0))
        return splits

    def _split(self, split: Split, seed: int) -> tuple[Split, Split]:
        images, labels = split
        size = self._held_out(len(labels))
        order = np.random.default_rng(seed).permutation(len(labels))
        val_index, train_index = np.sort(order[:size]), np.sort(order[size:])
        return (images[train_index], labels[train_index]), (images[val_index], labels[val_index])

    def mean_std(self) -> tuple[Sequence[float], Sequence[float]]:
        return self._mean, self._std


class DigitsDataModule(ImageDataModule):
    """scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes), offline.

    A fixed 20% (360 images, chosen with seed 0 whatever ``seed`` is) is the test set; from
    the rest, ``val_size`` images chosen with ``seed`` validate and the others train
    (``val_size=0``: all train, with no validation split). Pixel values 0..16 are scaled to
    [-1, 1]. No augmentation.
    """

    num_classes = 10
    in_channels = 1
    image_size = 8
    test_size = 360
    source = "digits"

    def __init__(
        self,
        *,
        batch_size: int = 64,
        val_size: int = 288,
        seed: int = 0,
        eval_batch_size: int | None = None,
    ) -> None:
        super().__init__()
        self.batch_size = check_int("batch_size", batch_size, 1)
        self.eval_batch_size = (
            check_optional_int("eval_batch_size", eval_batch_size, 1) or 2 * self.batch_size
        )
        self.val_size = check_int("val_size", val_size, 0, 1000)
        self.seed = check_int("seed", seed, 0)
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
            if len(index):
                order = torch.from_numpy(np.sort(index))
                self._splits[name] = TensorDataset(images[order], labels[order])

    def split_sizes(self) -> dict[str, int]:
        return {name: len(split) for name, split in self._splits.items()}

    def train_dataloader(self) -> DataLoader[tuple[torch.Tensor, ...]]:
        check_batch_size("batch_size", self.batch_size, self, self.source)
        return DataLoader(
            self._splits["train"], batch_size=self.batch_size, shuffle=True, drop_last=True
        )

    def val_dataloader(self) -> Any:
        if "val" not in self._splits:
            return []
        return DataLoader(self._splits["val"], batch_size=self.eval_batch_size)

    def test_dataloader(self) -> DataLoader[tuple[torch.Tensor, ...]]:
        return DataLoader(self._splits["test"], batch_size=self.eval_batch_size)


def check_batch_size(name: str, batch_size: int, datamodule: ImageDataModule, data: str) -> None:
    """Refuse a training batch larger than ``datamodule``'s training split (after ``setup``):
    incomplete training batches are dropped, so every epoch would train on nothing. The
    ``ValueError`` names the argument ``name``, the training images of ``data`` and the value.
    """
    training_images = datamodule.split_sizes().get("train", 0)
    if batch_size > training_images:
        raise ValueError(
            f"{name} must be at most the {training_images} training images of {data}, "
            f"got {batch_size}"
        )


def make_datamodule(
    dataset: str,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    batch_size: int = 128,
    val_size: int | None = None,
    seed: int = 0,
    download: bool = True,
    cutout: int = 0,
    image_size: int | None = None,
    fast_path: bool | None = None,
) -> ImageDataModule:
    """The data module for ``dataset``: ``"cifar10"``, ``"digits"`` or
    ``"imagefolder:PATH"`` (see :class:`ImageFolderDataModule`).

    ``val_size=None`` takes each data set's default (CIFAR-10: 5,000; digits: 288; an image
    folder: a tenth). ``cutout`` applies to CIFAR-10 and image folders (digits have no
    augmentation); ``image_size`` to image folders only (default 32).
    """
    kind = dataset_kind(dataset)
    if image_size is not None and kind != "imagefolder":
        raise ValueError(
            f"image_size applies to image folders only, got {image_size} for {dataset}"
        )
    if kind == "cifar10":
        if data_dir is None:
            raise ValueError("data_dir is required for dataset 'cifar10', got None")
        return CIFAR10DataModule(
            data_dir,
            batch_size=batch_size,
            val_size=DEFAULT_VAL_SIZES["cifar10"] if val_size is None else val_size,
            seed=seed,
            download=download,
            cutout=cutout,
            fast_path=fast_path,
        )
    if kind == "imagefolder":
        return ImageFolderDataModule(
            imagefolder_path(dataset),
            image_size=IMAGEFOLDER_IMAGE_SIZE if image_size is None else image_size,
            batch_size=batch_size,
            val_size=val_size,
            seed=seed,
            cutout=cutout,
            fast_path=fast_path,
        )
    if cutout:
        raise ValueError(
            f"cutout must be 0 for digits (8x8 images, no augmentation), got {cutout}"
        )
    return DigitsDataModule(
        batch_size=batch_size,
        val_size=DEFAULT_VAL_SIZES["digits"] if val_size is None else val_size,
        seed=seed,
    )
