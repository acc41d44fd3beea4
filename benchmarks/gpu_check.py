"""GPU check of the training path: fast-path throughput against a plain loop, and a search.

Stages (each its own process, run in order by ``benchmarks/gpu_check.sh``; every stage
writes ``<stage>.json`` into ``--out``):

* ``prepare``: random CIFAR-shaped images (50,000 + 10,000) written in torchvision's on-disk
  CIFAR-10 format, so the real loading code reads them; no download needed.
* ``plain``: the search proxy (AmoebaNet-A, N=3, F=24, batch 128 as in Real et al. 2019)
  trained by a plain loop: ``torchvision.datasets.CIFAR10`` with torchvision transforms
  (random crop, flip, normalise) in a ``DataLoader`` (4 workers, pinned memory), fp32,
  NCHW, SGD. Steady-state images/s over ``--steps`` steps after ``--warmup`` steps.
* ``fast``: the same network and batch through the code a search runs:
  :class:`~lightning_modules.module.NASNetModule` in a Lightning ``Trainer`` on
  :class:`~lightning_modules.data.CIFAR10DataModule`'s GPU fast path (uint8 data resident on
  the GPU, crop and flip on the GPU, channels_last, bf16 autocast, cuDNN autotuning).
  Same measurement.
* ``search``: ``optuna-amoeba search --dataset cifar10`` (in process) for 5 trials on the
  random data into SQLite, each trial 2 epochs of at most 100 batches.
* ``report``: ``summary.json`` and ``summary.md`` from the stages' files, with the command,
  versions and machine.

``GPU_CHECK_TINY=1`` shrinks every stage (N=1, F=4, small batches, few steps, 2 trials) so
that the whole check runs on a CPU in a few minutes, to test the script itself.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
import contextlib
import json
import os
from pathlib import Path
import platform
import subprocess
import sys
import time
from typing import Any


TINY = os.environ.get("GPU_CHECK_TINY", "") not in ("", "0")
BATCH_SIZE = 16 if TINY else 128  # Real et al. 2019, Methods Details: batch 128
NUM_CELLS = 1 if TINY else 3  # the search proxy: N=3, F=24
NUM_FILTERS = 4 if TINY else 24
NUM_TRAIN = 600 if TINY else 50_000
NUM_TEST = 100 if TINY else 10_000
PLAIN_WORKERS = 1 if TINY else 4
SEARCH_TRIALS = 2 if TINY else 5
SEARCH_BATCHES = 3 if TINY else 100
VAL_SIZE = 100 if TINY else 5000  # the paper's 45k/5k split


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")


def _environment() -> dict[str, Any]:
    import lightning
    import optuna
    import torch
    import torchvision

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    return {
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
        "tiny": TINY,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "gpu": gpu,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.cuda.is_available() else None,  # type: ignore[no-untyped-call]
        "torchvision": torchvision.__version__,
        "lightning": lightning.__version__,
        "optuna": optuna.__version__,
        "git_commit": commit,
    }


@contextlib.contextmanager
def _trusted(data: Path) -> Iterator[None]:
    from lightning_modules.testing import trust_cifar10_files

    with trust_cifar10_files(data):
        yield


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def prepare(args: argparse.Namespace) -> dict[str, Any]:
    from lightning_modules.testing import write_cifar10

    start = time.perf_counter()
    write_cifar10(args.data, num_train=NUM_TRAIN, num_test=NUM_TEST, seed=0)
    return {"num_train": NUM_TRAIN, "num_test": NUM_TEST, "seconds": time.perf_counter() - start}


def plain(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    from torch.utils.data import DataLoader
    from torchvision import transforms
    from torchvision.datasets import CIFAR10

    from lightning_modules.data import CIFAR10_MEAN
    from lightning_modules.data import CIFAR10_STD
    from lightning_modules.network import NASNetwork
    from optuna_amoeba.nasnet import AMOEBANET_A

    torch.manual_seed(0)
    device = _device()
    transform = transforms.Compose(
        [
            transforms.RandomCrop(32, padding=4),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(CIFAR10_MEAN, CIFAR10_STD),
        ]
    )
    with _trusted(args.data):
        dataset = CIFAR10(str(args.data), train=True, download=False, transform=transform)
    loader = DataLoader(
        dataset,
        batch_size=BATCH_SIZE,
        shuffle=True,
        drop_last=True,
        num_workers=PLAIN_WORKERS,
        pin_memory=device == "cuda",
        persistent_workers=True,
    )
    network = NASNetwork(
        AMOEBANET_A, num_cells=NUM_CELLS, num_filters=NUM_FILTERS, num_classes=10
    ).to(device)
    optimizer = torch.optim.SGD(network.parameters(), lr=0.024, momentum=0.9, weight_decay=5e-4)
    loss_function = torch.nn.CrossEntropyLoss()
    network.train()
    step = 0
    start = 0.0
    total = args.warmup + args.steps
    while step < total:
        for images, labels in loader:
            if step == args.warmup:
                if device == "cuda":
                    torch.cuda.synchronize()
                start = time.perf_counter()
            images = images.to(device, non_blocking=True)
            labels = labels.to(device, non_blocking=True)
            loss = loss_function(network(images), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            if step == total:
                break
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return {
        "images_per_second": args.steps * BATCH_SIZE / seconds,
        "seconds": seconds,
        "steps": args.steps,
        "warmup_steps": args.warmup,
        "batch_size": BATCH_SIZE,
        "num_workers": PLAIN_WORKERS,
        "precision": "fp32 (PyTorch defaults)",
        "memory_format": "NCHW",
        "device": device,
        "final_loss": float(loss.item()),
    }


def fast(args: argparse.Namespace) -> dict[str, Any]:
    import lightning.pytorch as pl
    import torch

    from lightning_modules.data import CIFAR10DataModule
    from lightning_modules.module import NASNetModule
    from lightning_modules.objective import quiet_lightning
    from lightning_modules.objective import resolve_precision
    from optuna_amoeba.nasnet import AMOEBANET_A

    class Meter(pl.Callback):
        """Wall time from the start of batch ``warmup`` to the end of the last batch."""

        def __init__(self) -> None:
            self.start = 0.0
            self.seconds = 0.0
            self.loss = float("nan")

        def _sync(self) -> None:
            if torch.cuda.is_available():
                torch.cuda.synchronize()

        def on_train_batch_start(self, trainer: pl.Trainer, *_: Any) -> None:
            if trainer.global_step == args.warmup:
                self._sync()
                self.start = time.perf_counter()

        def on_train_batch_end(self, trainer: pl.Trainer, _: Any, outputs: Any, *__: Any) -> None:
            if trainer.global_step == args.warmup + args.steps:
                self._sync()
                self.seconds = time.perf_counter() - self.start
                self.loss = float(outputs["loss"].item())

    pl.seed_everything(0, verbose=False)
    datamodule = CIFAR10DataModule(
        args.data, batch_size=BATCH_SIZE, val_size=VAL_SIZE, download=False, fast_path=True
    )
    module = NASNetModule(
        genotype=AMOEBANET_A, num_cells=NUM_CELLS, num_filters=NUM_FILTERS, num_classes=10
    )
    meter = Meter()
    precision = resolve_precision("auto", None)
    with _trusted(args.data), quiet_lightning():
        trainer = pl.Trainer(
            accelerator="auto",
            devices=1,
            precision=precision,  # type: ignore[arg-type]
            benchmark=_device() == "cuda" or None,
            max_steps=args.warmup + args.steps,
            limit_val_batches=0,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            callbacks=[meter],
        )
        trainer.fit(module, datamodule=datamodule)
    return {
        "images_per_second": args.steps * BATCH_SIZE / meter.seconds,
        "seconds": meter.seconds,
        "steps": args.steps,
        "warmup_steps": args.warmup,
        "batch_size": BATCH_SIZE,
        "precision": precision,
        "memory_format": "channels_last" if _device() == "cuda" else "NCHW",
        "device": _device(),
        "data": "uint8 resident on the device, crop and flip on the device",
        "final_loss": meter.loss,
    }


def search(args: argparse.Namespace) -> dict[str, Any]:
    import importlib.util

    import optuna

    from lightning_modules.cli import main

    storage = f"sqlite:///{args.out / 'search.db'}"
    artifact_dir = str(args.out / "artifacts")
    if importlib.util.find_spec("matplotlib") is None:
        artifact_dir = ""
    argv = [
        "search",
        "--dataset",
        "cifar10",
        "--data-dir",
        str(args.data),
        "--no-download",
        "--storage",
        storage,
        "--study-name",
        "gpu-check",
        "--n-trials",
        str(SEARCH_TRIALS),
        "--epochs",
        "2",
        "--cells",
        str(NUM_CELLS),
        "--filters",
        str(NUM_FILTERS),
        "--batch-size",
        str(BATCH_SIZE),
        "--limit-train-batches",
        str(SEARCH_BATCHES),
        "--val-size",
        str(VAL_SIZE),
        "--seed",
        "0",
        "--artifact-dir",
        artifact_dir,
    ]
    start = time.perf_counter()
    with _trusted(args.data):
        code = main(argv)
    seconds = time.perf_counter() - start
    study = optuna.load_study(study_name="gpu-check", storage=storage)
    return {
        "exit_code": code,
        "argv": argv,
        "seconds": seconds,
        "trials": [
            {
                "number": trial.number,
                "state": trial.state.name,
                "value": trial.value,
                "params": trial.user_attrs.get("params"),
                "flops": trial.user_attrs.get("flops"),
                "train_seconds": trial.user_attrs.get("train_seconds"),
                "cell_picture": trial.user_attrs.get("cell_picture_artifact"),
            }
            for trial in study.trials
        ],
    }


def report(args: argparse.Namespace) -> dict[str, Any]:
    stages = {}
    for stage in ("prepare", "plain", "fast", "search"):
        path = args.out / f"{stage}.json"
        stages[stage] = json.loads(path.read_text()) if path.exists() else None
    summary: dict[str, Any] = {"environment": _environment(), "stages": stages}
    lines = ["# GPU check", ""]
    env = summary["environment"]
    lines.append(
        f"Machine: {env['gpu'] or 'no GPU'}, {env['cpu_count']} CPUs; torch {env['torch']} "
        f"(CUDA {env['cuda']}), Lightning {env['lightning']}, Optuna {env['optuna']}; "
        f"commit {env['git_commit']}{' (TINY run)' if TINY else ''}."
    )
    lines.append("")
    plain_result, fast_result = stages["plain"], stages["fast"]
    lines.append(
        f"Training throughput, AmoebaNet-A N={NUM_CELLS} F={NUM_FILTERS}, batch {BATCH_SIZE}:"
    )
    for name, result in (("plain DataLoader loop", plain_result), ("fast path", fast_result)):
        if result is None:
            lines.append(f"- {name}: did not finish (see the log)")
        else:
            lines.append(
                f"- {name}: {result['images_per_second']:,.0f} images/s "
                f"({result['precision']}, {result['memory_format']}, {result['steps']} steps "
                f"after {result['warmup_steps']})"
            )
    if plain_result and fast_result:
        speedup = fast_result["images_per_second"] / plain_result["images_per_second"]
        summary["speedup"] = speedup
        verdict = "meets" if speedup >= 2.0 else "misses"
        lines.append(f"- speed-up: {speedup:.2f}x ({verdict} the 2x target)")
    search_result = stages["search"]
    lines.append("")
    if search_result is None:
        lines.append("Search: did not finish (see the log)")
    else:
        states = [trial["state"] for trial in search_result["trials"]]
        lines.append(
            f"Search: exit code {search_result['exit_code']}, {len(states)} trials "
            f"({', '.join(states)}) in {search_result['seconds']:.0f} s"
        )
        for trial in search_result["trials"]:
            value = trial["value"]
            seconds = trial["train_seconds"]
            lines.append(
                f"- trial {trial['number']}: {trial['state']}, "
                f"val_acc={'n/a' if value is None else f'{value:.4f}'} (random labels), "
                f"{trial['params']} params, "
                f"{'n/a' if seconds is None else f'{seconds:.1f}'} s"
            )
    (args.out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return summary


STAGES = {"prepare": prepare, "plain": plain, "fast": fast, "search": search, "report": report}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=tuple(STAGES))
    parser.add_argument("--data", type=Path, required=True, help="the random CIFAR-10 folder")
    parser.add_argument("--out", type=Path, required=True, help="where results go")
    parser.add_argument("--warmup", type=int, default=3 if TINY else 30)
    parser.add_argument("--steps", type=int, default=4 if TINY else 200)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    result = STAGES[args.stage](args)
    name = "summary" if args.stage == "report" else args.stage
    _write_json(args.out / f"{name}.json", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
