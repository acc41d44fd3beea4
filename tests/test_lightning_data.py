from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
import threading
import time

import numpy as np
import pytest
import torch

from lightning_modules.data import CIFAR10DataModule
from lightning_modules.data import cutout
from lightning_modules.data import DeviceBatches
from lightning_modules.data import DigitsDataModule
from lightning_modules.data import gpu_augment
from lightning_modules.data import ImageFolderDataModule
from lightning_modules.data import make_datamodule
from lightning_modules.testing import trust_cifar10_files
from lightning_modules.testing import write_cifar10
from lightning_modules.testing import write_image_folder


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


def test_cifar10_val_size_zero_has_no_validation_and_never_the_test_set(cifar_dir: Path) -> None:
    datamodule = CIFAR10DataModule(cifar_dir, val_size=0, download=False)
    datamodule.setup("fit")
    assert datamodule.split_sizes() == {"train": 60, "test": 20}
    assert not datamodule.has_validation and datamodule.has_test
    assert datamodule.val_dataloader() == []
    digits = DigitsDataModule(val_size=0)
    digits.setup("fit")
    assert digits.split_sizes() == {"train": 1797 - 360, "test": 360}
    assert not digits.has_validation and digits.val_dataloader() == []


def test_cifar10_missing_files_fail_without_download(tmp_path: Path) -> None:
    datamodule = CIFAR10DataModule(tmp_path / "nothing", download=False)
    with pytest.raises(RuntimeError, match="Dataset not found or corrupted"):
        datamodule.prepare_data()
    assert not list(tmp_path.iterdir())  # no folder and no lock file made


class _SlowDownloads:
    """Stands in for torchvision's ``CIFAR10``: a split that is missing is "downloaded" slowly
    (the folder made first, as torchvision does, a marker file written last), failing in the
    threads named in ``failing``; counts downloads and how many ran at once."""

    def __init__(self, failing: frozenset[str] = frozenset()) -> None:
        self.failing = failing
        self.downloads = 0
        self.running = 0
        self.most_running = 0
        self.started = threading.Event()
        self._guard = threading.Lock()

    def __call__(self, root: str, train: bool, download: bool) -> None:
        marker = Path(root) / ("train.done" if train else "test.done")
        if marker.exists():
            return
        with self._guard:
            self.downloads += 1
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        try:
            Path(root).mkdir(parents=True, exist_ok=True)
            self.started.set()
            time.sleep(0.3)
            if threading.current_thread().name in self.failing:
                raise OSError("connection reset by peer")
            marker.write_text("")
        finally:
            with self._guard:
                self.running -= 1


def _prepare_in_threads(data_dir: Path, downloads: _SlowDownloads) -> dict[str, BaseException]:
    """``prepare_data`` of two data modules on ``data_dir``, the second started once the first
    is downloading; the errors each raised."""
    errors: dict[str, BaseException] = {}

    def prepare() -> None:
        try:
            CIFAR10DataModule(data_dir).prepare_data()
        except BaseException as error:  # handed to the test
            errors[threading.current_thread().name] = error

    first = threading.Thread(target=prepare, name="first")
    second = threading.Thread(target=prepare, name="second")
    first.start()
    assert downloads.started.wait(10)
    second.start()
    first.join(30)
    second.join(30)
    return errors


def test_cifar10_workers_sharing_a_folder_download_once_in_turn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torchvision.datasets

    downloads = _SlowDownloads()
    monkeypatch.setattr(torchvision.datasets, "CIFAR10", downloads)
    data_dir = tmp_path / "data" / "cifar10"
    assert _prepare_in_threads(data_dir, downloads) == {}
    assert downloads.downloads == 2 and downloads.most_running == 1
    assert {path.name for path in data_dir.iterdir()} == {"train.done", "test.done"}


def test_cifar10_a_failed_download_leaves_the_folder_to_the_next_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torchvision.datasets

    downloads = _SlowDownloads(failing=frozenset({"first"}))
    monkeypatch.setattr(torchvision.datasets, "CIFAR10", downloads)
    data_dir = tmp_path / "cifar10"
    errors = _prepare_in_threads(data_dir, downloads)
    # The first worker's failure removed the folder it made before the second began, and
    # the second downloaded into a folder of its own making.
    assert list(errors) == ["first"] and isinstance(errors["first"], OSError)
    assert downloads.most_running == 1 and downloads.downloads == 3
    assert {path.name for path in data_dir.iterdir()} == {"train.done", "test.done"}


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
    with pytest.raises(
        ValueError, match="dataset must be one of cifar10, digits, imagefolder:PATH; got 'mnist'"
    ):
        make_datamodule("mnist")
    with pytest.raises(ValueError, match="data_dir is required for dataset 'cifar10'"):
        make_datamodule("cifar10")
    with pytest.raises(ValueError, match=r"val_size must be an int in \[0, 49999\], got 50000"):
        CIFAR10DataModule("data", val_size=50_000)
    with pytest.raises(ValueError, match="batch_size must be an int >= 1, got 0"):
        DigitsDataModule(batch_size=0)


def _zeroed_rectangles(images: torch.Tensor, length: int) -> list[tuple[int, int]]:
    """Per image, the sides of the one all-channel zero rectangle (asserted present, filled,
    ``length`` on each side unless clipped by the border)."""
    sides = []
    _, _, height, width = images.shape
    for image in images:
        zero = (image == 0).all(dim=0)
        rows = zero.any(dim=1).nonzero().flatten()
        cols = zero.any(dim=0).nonzero().flatten()
        assert rows.numel() and cols.numel(), "no cutout square"
        top, bottom = int(rows.min()), int(rows.max()) + 1
        left, right = int(cols.min()), int(cols.max()) + 1
        assert bool(zero[top:bottom, left:right].all())
        assert int(zero.sum()) == (bottom - top) * (right - left)
        if 0 < top and bottom < height:
            assert bottom - top == length
        if 0 < left and right < width:
            assert right - left == length
        assert length // 2 <= bottom - top <= length and length // 2 <= right - left <= length
        sides.append((bottom - top, right - left))
    return sides


def test_cutout_zeroes_one_square_per_image_clipped_at_the_border() -> None:
    torch.manual_seed(0)
    images = torch.rand(200, 3, 32, 32) + 0.5
    sides = _zeroed_rectangles(cutout(images, 16), 16)
    assert (16, 16) in sides and any(side != (16, 16) for side in sides)
    assert torch.equal(cutout(images, 0), images)


def test_cutout_on_the_dataloader_path(cifar_dir: Path) -> None:
    datamodule = CIFAR10DataModule(
        cifar_dir, batch_size=25, val_size=10, download=False, cutout=16, fast_path=False
    )
    datamodule.setup("fit")
    torch.manual_seed(0)
    images, _ = next(iter(datamodule.train_dataloader()))
    assert (16, 16) in _zeroed_rectangles(images, 16)
    val_images, _ = next(iter(datamodule.val_dataloader()))
    assert not bool((val_images == 0).all(dim=1).any())


def test_cutout_on_the_gpu_resident_path(cifar_dir: Path) -> None:
    # Forced on a CPU: the same tensors and code a GPU runs.
    datamodule = CIFAR10DataModule(
        cifar_dir, batch_size=25, val_size=10, download=False, cutout=16, fast_path=True
    )
    datamodule.setup("fit")
    torch.manual_seed(0)
    images, _ = next(iter(datamodule.train_dataloader()))
    assert images.dtype == torch.uint8
    augmented = datamodule.device_transform(images, train=True)
    assert (16, 16) in _zeroed_rectangles(augmented, 16)
    evaluated = datamodule.device_transform(images, train=False)
    assert not bool((evaluated == 0).all(dim=1).any())


def test_image_folder_splits_a_flat_folder_reproducibly(tmp_path: Path) -> None:
    write_image_folder(tmp_path, classes=("red", "blue", "green"), per_class=10)
    first = ImageFolderDataModule(tmp_path, image_size=8, batch_size=4, val_size=5, seed=1)
    first.prepare_data()
    first.setup("fit")
    assert first.classes == ["blue", "green", "red"] and first.num_classes == 3
    assert first.split_sizes() == {"test": 3, "train": 22, "val": 5}
    images, labels = first._arrays["train"]
    assert images.shape == (22, 8, 8, 3) and images.dtype == np.uint8
    assert set(labels.tolist()) <= {0, 1, 2}
    again = ImageFolderDataModule(tmp_path, image_size=8, val_size=5, seed=1)
    again.setup("fit")
    other = ImageFolderDataModule(tmp_path, image_size=8, val_size=5, seed=2)
    other.setup("fit")
    for split in ("train", "val", "test"):
        assert np.array_equal(first._arrays[split][0], again._arrays[split][0])
    # The test split does not depend on the seed; the validation split does.
    assert np.array_equal(first._arrays["test"][0], other._arrays["test"][0])
    assert not np.array_equal(first._arrays["val"][0], other._arrays["val"][0])
    rows = {name: {image.tobytes() for image in first._arrays[name][0]} for name in first._arrays}
    assert not rows["test"] & rows["train"] and not rows["val"] & rows["train"]
    assert len(first.mean_std()[0]) == 3
    batch, _ = next(iter(first.train_dataloader()))
    assert batch.shape == (4, 3, 8, 8) and batch.dtype == torch.float32


def test_image_folder_uses_its_own_train_val_test_folders(tmp_path: Path) -> None:
    write_image_folder(tmp_path, per_class=3, splits=("train", "val", "test"))
    datamodule = make_datamodule(f"imagefolder:{tmp_path}", batch_size=2, image_size=6)
    datamodule.prepare_data()
    datamodule.setup("fit")
    assert datamodule.split_sizes() == {"train": 6, "val": 6, "test": 6}
    assert (datamodule.image_size, datamodule.in_channels) == (6, 3)

    refused = ImageFolderDataModule(tmp_path, val_size=2)
    with pytest.raises(ValueError, match=r"val_size must be None when .* has its own val/"):
        refused.prepare_data()

    only_train = tmp_path / "no_val"
    write_image_folder(only_train, per_class=5, splits=("train",))
    datamodule = ImageFolderDataModule(only_train, val_size=0)
    datamodule.setup("fit")
    assert datamodule.split_sizes() == {"train": 10}
    assert not datamodule.has_validation and not datamodule.has_test


def test_image_folder_refuses_mismatched_classes(tmp_path: Path) -> None:
    write_image_folder(tmp_path, classes=("red", "blue"), per_class=2, splits=("train",))
    write_image_folder(tmp_path, classes=("red", "green"), per_class=2, splits=("val",))
    with pytest.raises(ValueError, match=r"val has classes \['green', 'red'\] but"):
        ImageFolderDataModule(tmp_path).setup("fit")


def test_gpu_resident_path_only_when_the_images_fit(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from lightning_modules import data

    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (1000, 4000))
    assert data.fits_on_device(500, torch.device("cuda"))
    assert not data.fits_on_device(501, torch.device("cuda"))
    assert not data.fits_on_device(1, torch.device("cpu"))

    write_image_folder(tmp_path, per_class=3)
    datamodule = ImageFolderDataModule(tmp_path, image_size=8)
    datamodule.setup("fit")
    assert datamodule.data_bytes() == 6 * 8 * 8 * 3 + 6 * 8
    monkeypatch.setattr(datamodule, "_device", lambda: torch.device("cuda"))
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (2400, 4000))
    assert datamodule.uses_fast_path()
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (2398, 4000))
    assert datamodule.uses_fast_path()  # decided once, whatever the copies took since
    datamodule._fits.clear()
    assert not datamodule.uses_fast_path()


class _FailingDownload:
    """Stands for torchvision's CIFAR10 when the download breaks off: it creates its folder
    and a partial archive, then fails."""

    def __init__(self, root: str, train: bool, download: bool) -> None:
        Path(root).mkdir(parents=True, exist_ok=True)
        (Path(root) / "cifar-10-python.tar.gz").write_bytes(b"partial")
        raise OSError("Name or service not known")


@pytest.mark.parametrize("existed", [False, True])
def test_cifar10_failed_download_removes_only_a_folder_it_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, existed: bool
) -> None:
    monkeypatch.setattr("torchvision.datasets.CIFAR10", _FailingDownload)
    data_dir = tmp_path / "data"
    if existed:
        data_dir.mkdir()
        (data_dir / "mine.txt").write_text("kept")
    datamodule = CIFAR10DataModule(data_dir, val_size=10, download=True)
    with pytest.raises(OSError, match="Name or service not known"):
        datamodule.prepare_data()
    assert data_dir.exists() is existed
    if existed:
        assert (data_dir / "mine.txt").read_text() == "kept"
