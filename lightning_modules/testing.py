"""Stand-in data for tests, examples and GPU checks that cannot download the real data.

:func:`write_cifar10` writes random images in torchvision's on-disk format
(``cifar-10-batches-py``: five training batches, a test batch and ``batches.meta``, each a
pickled dict), and :func:`trust_cifar10_files` makes ``torchvision.datasets.CIFAR10`` accept
their checksums, so the real loading code reads them. :func:`write_image_folder` writes a
small folder of PNG images, one subfolder per class, as ``--dataset imagefolder:PATH`` reads.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import hashlib
import os
from pathlib import Path
import pickle

import numpy as np

from optuna_amoeba._checks import check_int


BASE_FOLDER = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{index}" for index in range(1, 6))
TEST_FILE = "test_batch"
META_FILE = "batches.meta"
LABEL_NAMES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)


def _write_batch(path: Path, images: np.ndarray, labels: np.ndarray, name: str) -> None:
    entry = {
        "batch_label": name,
        "labels": [int(label) for label in labels],
        # One row per image: 1024 red, then 1024 green, then 1024 blue values, row-major.
        "data": images.transpose(0, 3, 1, 2).reshape(len(images), -1),
        "filenames": [f"{name}_{index}.png" for index in range(len(images))],
    }
    with open(path, "wb") as file:
        pickle.dump(entry, file, protocol=2)


def write_cifar10(
    root: str | os.PathLike[str], *, num_train: int = 100, num_test: int = 20, seed: int = 0
) -> Path:
    """Write ``num_train`` + ``num_test`` random 32x32 RGB images; return the data folder.

    Labels cycle through the 10 classes, so every class is present when there are at least
    10 images.
    """
    check_int("num_train", num_train, 1)
    check_int("num_test", num_test, 1)
    rng = np.random.default_rng(seed)
    folder = Path(root) / BASE_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    train_images = rng.integers(0, 256, (num_train, 32, 32, 3), dtype=np.uint8)
    train_labels = np.arange(num_train) % len(LABEL_NAMES)
    for name, index in zip(
        TRAIN_FILES, np.array_split(np.arange(num_train), len(TRAIN_FILES)), strict=True
    ):
        _write_batch(folder / name, train_images[index], train_labels[index], name)
    test_images = rng.integers(0, 256, (num_test, 32, 32, 3), dtype=np.uint8)
    _write_batch(
        folder / TEST_FILE, test_images, np.arange(num_test) % len(LABEL_NAMES), TEST_FILE
    )
    with open(folder / META_FILE, "wb") as file:
        pickle.dump(
            {"label_names": list(LABEL_NAMES), "num_cases_per_batch": num_train, "num_vis": 3072},
            file,
            protocol=2,
        )
    return folder


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


@contextlib.contextmanager
def trust_cifar10_files(root: str | os.PathLike[str]) -> Iterator[None]:
    """Inside the block, torchvision's CIFAR-10 checksums are those of the files in ``root``.

    torchvision checks every file against the MD5 of the real data set; this swaps those
    class attributes for the stand-in files' checksums and restores them afterwards.
    """
    from torchvision.datasets import CIFAR10

    folder = Path(root) / BASE_FOLDER
    saved = (CIFAR10.train_list, CIFAR10.test_list, CIFAR10.meta)
    CIFAR10.train_list = [[name, _md5(folder / name)] for name in TRAIN_FILES]
    CIFAR10.test_list = [[TEST_FILE, _md5(folder / TEST_FILE)]]
    CIFAR10.meta = {**CIFAR10.meta, "md5": _md5(folder / META_FILE)}
    try:
        yield
    finally:
        CIFAR10.train_list, CIFAR10.test_list, CIFAR10.meta = saved


IMAGE_FOLDER_COLOURS = ((200, 60, 60), (60, 60, 200), (60, 200, 60))


def write_image_folder(
    root: str | os.PathLike[str],
    *,
    classes: tuple[str, ...] = ("red", "blue"),
    per_class: int = 6,
    size: tuple[int, int] = (20, 14),
    splits: tuple[str, ...] = (),
    seed: int = 0,
) -> Path:
    """Write ``per_class`` PNG images of ``size`` (width, height) per class under ``root``
    and return it: ``root/<class>/<n>.png``, or with ``splits`` (e.g. ``("train", "val")``)
    ``root/<split>/<class>/<n>.png``. Each class is noise around its own colour (up to 3
    classes), so a network can learn them."""
    from PIL import Image

    if not 1 <= len(classes) <= len(IMAGE_FOLDER_COLOURS):
        raise ValueError(f"classes must name 1 to 3 classes, got {classes!r}")
    check_int("per_class", per_class, 1)
    rng = np.random.default_rng(seed)
    folders = [Path(root) / split for split in splits] or [Path(root)]
    for folder in folders:
        for name, colour in zip(classes, IMAGE_FOLDER_COLOURS, strict=False):
            (folder / name).mkdir(parents=True, exist_ok=True)
            for index in range(per_class):
                noise = rng.integers(-50, 51, (size[1], size[0], 3))
                pixels = np.clip(np.asarray(colour) + noise, 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / name / f"{index}.png")
    return Path(root)
