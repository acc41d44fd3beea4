"""A fair GPU check of the training path: four arms that change one thing at a time.

The network is the paper's search proxy (AmoebaNet-A, N=3, F=24, batch 128, SGD with
momentum), every arm with the same augmentation (random crop, horizontal flip, cutout 16)
and the same training loop; each measures steady-state images/s over ``--steps`` steps
after ``--warmup`` steps:

* ``a_plain``: torchvision ``CIFAR10`` with torchvision transforms in a ``DataLoader``
  (8 workers, pinned memory), fp32, NCHW, cuDNN autotuning off;
* ``b_precision``: arm a plus bf16 autocast, ``channels_last`` and cuDNN autotuning;
* ``c_resident``: arm b with the GPU-resident data path instead of the ``DataLoader``
  (uint8 images on the GPU, :meth:`~lightning_modules.data.ResidentImageDataModule.
  device_transform` augmenting there);
* ``d_compiled``: arm c plus ``torch.compile`` of the network.

Ratios b/a, c/b and d/c are reported. Then ``determinism`` trains the proxy twice with
Lightning's deterministic settings (``optuna-amoeba --deterministic``) and once without, and
compares the weights; ``search`` runs ``optuna-amoeba search`` (3 trials, 1 epoch of 50
batches); ``train`` runs ``optuna-amoeba train`` (AmoebaNet-A recipe, 1 epoch of 30
batches, test and ``--export torch-export``). The data are random images written in
torchvision's CIFAR-10 format, so the real loading code reads them (accuracies are chance).

One command: ``python benchmarks/gpu_check.py`` (or ``bash benchmarks/gpu_check.sh``,
which first installs missing packages from wheels). Each stage runs in its own process
with a time limit; the whole check stays under 8 minutes on one H100/H200. Results:
``<stage>.json``, ``summary.json`` and ``summary.md`` in ``--out`` (default ``$OUT_DIR``,
else ``benchmarks/results/gpu_check``). ``--smoke`` shrinks everything (N=1, F=4, batch 16,
a few steps, ``torch.compile`` with the ``eager`` backend) so that the check itself is
tested on a CPU (``--in-process`` runs the stages in this process, as the tests do).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
import contextlib
import json
import os
from pathlib import Path
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any


ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "gpu_check"
ARMS = ("a_plain", "b_precision", "c_resident", "d_compiled")
ARM_CHANGES = {
    "a_plain": "DataLoader, fp32, NCHW, no cuDNN autotuning",
    "b_precision": "a + bf16 autocast + channels_last + cuDNN autotuning",
    "c_resident": "b with the GPU-resident data path",
    "d_compiled": "c + torch.compile",
}
STAGES = ("prepare", "a_plain", "b_precision", "c_resident", "determinism", "search", "train")
# The compiled arm goes last: its compile time is the least predictable.
ORDER = (*STAGES, "d_compiled")
LIMITS = {  # seconds per stage; the whole check is also held to TOTAL_LIMIT
    "prepare": 45,
    "a_plain": 60,
    "b_precision": 45,
    "c_resident": 45,
    "determinism": 60,
    "search": 90,
    "train": 90,
    "d_compiled": 150,
}
TOTAL_LIMIT = 450
CUTOUT = 16  # DeVries & Taylor 2017, as in the training recipes


class Sizes:
    """The check's sizes: the paper's search proxy, or tiny ones with ``smoke``."""

    def __init__(self, smoke: bool) -> None:
        self.smoke = smoke
        self.batch_size = 16 if smoke else 128  # Real et al. 2019: batch 128
        self.cells = 1 if smoke else 3  # the search proxy: N=3, F=24
        self.filters = 4 if smoke else 24
        self.num_train = 200 if smoke else 50_000
        self.num_test = 40 if smoke else 10_000
        self.val_size = 40 if smoke else 5000  # the paper's 45k/5k split
        self.workers = 0 if smoke else 8
        self.warmup = 2 if smoke else 20
        self.steps = 3 if smoke else 150
        self.determinism_steps = 3 if smoke else 20
        self.search_batches = 2 if smoke else 50
        self.train_batches = 2 if smoke else 30


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


@contextlib.contextmanager
def _trusted(data: Path) -> Iterator[None]:
    from lightning_modules.testing import trust_cifar10_files

    with trust_cifar10_files(data):
        yield


def prepare(args: argparse.Namespace, sizes: Sizes) -> dict[str, Any]:
    from lightning_modules.testing import write_cifar10

    write_cifar10(args.data, num_train=sizes.num_train, num_test=sizes.num_test, seed=0)
    return {"num_train": sizes.num_train, "num_test": sizes.num_test}


def _network(sizes: Sizes, *, channels_last: bool) -> Any:
    import torch

    from lightning_modules.network import NASNetwork
    from optuna_amoeba.nasnet import AMOEBANET_A

    torch.manual_seed(0)
    network = NASNetwork(
        AMOEBANET_A, num_cells=sizes.cells, num_filters=sizes.filters, num_classes=10
    ).to(_device())
    if channels_last:
        network = network.to(memory_format=torch.channels_last)
    return network


def _loader_batches(args: argparse.Namespace, sizes: Sizes, *, channels_last: bool) -> Any:
    """Endless batches from torchvision's CIFAR10 and transforms in a DataLoader."""
    import torch
    from torch.utils.data import DataLoader
    from torchvision import transforms
    from torchvision.datasets import CIFAR10

    from lightning_modules.data import CIFAR10_MEAN
    from lightning_modules.data import CIFAR10_STD
    from lightning_modules.data import Cutout

    transform = transforms.Compose(
        [
            transforms.RandomCrop(32, padding=4),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(CIFAR10_MEAN, CIFAR10_STD),
            Cutout(CUTOUT),
        ]
    )
    with _trusted(args.data):
        dataset = CIFAR10(str(args.data), train=True, download=False, transform=transform)
    device = _device()
    loader = DataLoader(
        dataset,
        batch_size=sizes.batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=sizes.workers,
        pin_memory=device == "cuda",
        persistent_workers=sizes.workers > 0,
    )
    while True:
        for images, labels in loader:
            images = images.to(device, non_blocking=True)
            if channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            yield images, labels.to(device, non_blocking=True)


def _resident_batches(args: argparse.Namespace, sizes: Sizes) -> Any:
    """Endless batches of the GPU-resident path: uint8 data on the device, augmented there."""
    import torch

    from lightning_modules.data import CIFAR10DataModule
    from lightning_modules.data import DeviceBatches

    datamodule = CIFAR10DataModule(
        args.data, batch_size=sizes.batch_size, val_size=sizes.val_size, cutout=CUTOUT
    )
    with _trusted(args.data):
        datamodule.setup("fit")
    images, labels = datamodule.device_split("train", torch.device(_device()))
    batches = DeviceBatches(
        images, labels, batch_size=sizes.batch_size, shuffle=True, drop_last=True
    )
    while True:
        for batch_images, batch_labels in batches:
            yield datamodule.device_transform(batch_images, train=True), batch_labels


def _measure(
    sizes: Sizes, network: Any, batches: Iterator[Any], *, bf16: bool, benchmark: bool
) -> dict[str, Any]:
    import torch

    torch.backends.cudnn.benchmark = benchmark
    device = _device()
    optimizer = torch.optim.SGD(network.parameters(), lr=0.024, momentum=0.9, weight_decay=5e-4)
    loss_function = torch.nn.CrossEntropyLoss()
    network.train()
    start = time.perf_counter()
    loss = torch.zeros(())
    for step in range(sizes.warmup + sizes.steps):
        if step == sizes.warmup:
            _sync()
            start = time.perf_counter()
        images, labels = next(batches)
        with torch.autocast(device, dtype=torch.bfloat16, enabled=bf16):
            loss = loss_function(network(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    _sync()
    seconds = time.perf_counter() - start
    return {
        "images_per_second": sizes.steps * sizes.batch_size / seconds,
        "seconds": seconds,
        "steps": sizes.steps,
        "warmup_steps": sizes.warmup,
        "batch_size": sizes.batch_size,
        "final_loss": float(loss.item()),
        "device": device,
    }


def _bf16() -> bool:
    import torch

    # On a CPU (smoke runs) bf16 convolutions are emulated and slow: fp32 there.
    return _device() == "cuda" and torch.cuda.is_bf16_supported()


def a_plain(args: argparse.Namespace, sizes: Sizes) -> dict[str, Any]:
    network = _network(sizes, channels_last=False)
    batches = _loader_batches(args, sizes, channels_last=False)
    result = _measure(sizes, network, batches, bf16=False, benchmark=False)
    return {**result, "changes": ARM_CHANGES["a_plain"], "workers": sizes.workers}


def b_precision(args: argparse.Namespace, sizes: Sizes) -> dict[str, Any]:
    network = _network(sizes, channels_last=True)
    batches = _loader_batches(args, sizes, channels_last=True)
    result = _measure(sizes, network, batches, bf16=_bf16(), benchmark=True)
    return {**result, "changes": ARM_CHANGES["b_precision"], "workers": sizes.workers}


def c_resident(args: argparse.Namespace, sizes: Sizes) -> dict[str, Any]:
    network = _network(sizes, channels_last=True)
    result = _measure(sizes, network, _resident_batches(args, sizes), bf16=_bf16(), benchmark=True)
    return {**result, "changes": ARM_CHANGES["c_resident"]}


def d_compiled(args: argparse.Namespace, sizes: Sizes) -> dict[str, Any]:
    network = _network(sizes, channels_last=True)
    # On a CPU smoke run, the eager backend tests the plumbing without a C++ toolchain.
    backend = "eager" if sizes.smoke else "inductor"
    network.compile(backend=backend)
    result = _measure(sizes, network, _resident_batches(args, sizes), bf16=_bf16(), benchmark=True)
    return {**result, "changes": ARM_CHANGES["d_compiled"], "backend": backend}


def determinism(args: argparse.Namespace, sizes: Sizes) -> dict[str, Any]:
    """Train the proxy for a few steps: twice deterministic, once not; compare weights."""
    import lightning.pytorch as pl
    import torch

    from lightning_modules.data import CIFAR10DataModule
    from lightning_modules.module import NASNetModule
    from lightning_modules.objective import quiet_lightning
    from lightning_modules.objective import trainer_settings
    from optuna_amoeba.nasnet import AMOEBANET_A

    def weights(deterministic: bool) -> dict[str, torch.Tensor]:
        pl.seed_everything(0, workers=True, verbose=False)
        module = NASNetModule(
            genotype=AMOEBANET_A,
            num_cells=sizes.cells,
            num_filters=sizes.filters,
            num_classes=10,
            drop_path_keep_prob=0.7,
            auxiliary_weight=0.4,
        )
        datamodule = CIFAR10DataModule(
            args.data,
            batch_size=sizes.batch_size,
            val_size=sizes.val_size,
            download=False,
            cutout=CUTOUT,
        )
        with _trusted(args.data), quiet_lightning():
            trainer = pl.Trainer(
                devices=1,
                max_steps=sizes.determinism_steps,
                limit_val_batches=0,
                logger=False,
                enable_checkpointing=False,
                enable_progress_bar=False,
                enable_model_summary=False,
                **trainer_settings(
                    accelerator="auto", precision=None, deterministic=deterministic
                ),
            )
            trainer.fit(module, datamodule=datamodule)
        return {name: tensor.detach().cpu() for name, tensor in module.state_dict().items()}

    first, second, free = weights(True), weights(True), weights(False)

    def same(left: dict[str, torch.Tensor], right: dict[str, torch.Tensor]) -> bool:
        return all(torch.equal(left[name], right[name]) for name in left)

    return {
        "steps": sizes.determinism_steps,
        "deterministic_runs_equal": same(first, second),
        "non_deterministic_run_equal": same(first, free),
    }


def _cli(argv: Sequence[str], data: Path) -> tuple[int, float]:
    from lightning_modules.cli import main

    start = time.perf_counter()
    with _trusted(data):
        code = main(list(argv))
    return code, time.perf_counter() - start


def search(args: argparse.Namespace, sizes: Sizes) -> dict[str, Any]:
    import optuna

    storage = f"sqlite:///{args.out / 'search.db'}"
    argv = [
        "search",
        *("--dataset", "cifar10", "--data-dir", str(args.data), "--no-download"),
        *("--storage", storage, "--study-name", "gpu-check", "--n-trials", "3"),
        *("--epochs", "1", "--cells", str(sizes.cells), "--filters", str(sizes.filters)),
        *("--batch-size", str(sizes.batch_size), "--val-size", str(sizes.val_size)),
        *("--limit-train-batches", str(sizes.search_batches), "--seed", "0"),
        *("--artifact-dir", ""),
    ]
    code, seconds = _cli(argv, args.data)
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
                "train_seconds": trial.user_attrs.get("train_seconds"),
            }
            for trial in study.trials
        ],
    }


def train(args: argparse.Namespace, sizes: Sizes) -> dict[str, Any]:
    from lightning_modules.export import load_exported
    from lightning_modules.export import load_network

    checkpoints = args.out / "train_checkpoints"
    shutil.rmtree(checkpoints, ignore_errors=True)
    argv = [
        "train",
        *("--genotype", "amoebanet_a", "--dataset", "cifar10", "--data-dir", str(args.data)),
        *("--no-download", "--val-size", str(sizes.val_size), "--epochs", "1"),
        *("--limit-train-batches", str(sizes.train_batches), "--devices", "1"),
        *("--checkpoint-dir", str(checkpoints), "--restart", "--export", "torch-export"),
    ]
    if sizes.smoke:
        argv += ["--cells", "1", "--filters", "4", "--batch-size", str(sizes.batch_size)]
    code, seconds = _cli(argv, args.data)
    import torch

    [selected] = checkpoints.glob("best-*.ckpt")
    network = load_network(selected)
    exported = load_exported(checkpoints / "model.pt2")
    images = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        same = bool(torch.allclose(network(images), exported(images), atol=1e-4))
    return {"exit_code": code, "argv": argv, "seconds": seconds, "export_matches": same}


FUNCTIONS: dict[str, Callable[[argparse.Namespace, Sizes], dict[str, Any]]] = {
    "prepare": prepare,
    "a_plain": a_plain,
    "b_precision": b_precision,
    "c_resident": c_resident,
    "d_compiled": d_compiled,
    "determinism": determinism,
    "search": search,
    "train": train,
}


def _environment(argv: Sequence[str], smoke: bool) -> dict[str, Any]:
    import lightning
    import optuna
    import torch
    import torchvision

    cuda = torch.cuda.is_available()
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, cwd=ROOT
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    return {
        "command": " ".join(["python", "benchmarks/gpu_check.py", *argv]),
        "smoke": smoke,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if cuda else None,  # type: ignore[no-untyped-call]
        "torchvision": torchvision.__version__,
        "lightning": lightning.__version__,
        "optuna": optuna.__version__,
        "git_commit": commit,
    }


def _ratio(stages: dict[str, Any], top: str, bottom: str) -> float | None:
    upper, lower = stages.get(top), stages.get(bottom)
    if not upper or not lower:
        return None
    if "images_per_second" not in upper or "images_per_second" not in lower:
        return None
    ratio: float = upper["images_per_second"] / lower["images_per_second"]
    return ratio


def report(out: Path, stages: dict[str, Any], environment: dict[str, Any]) -> dict[str, Any]:
    ratios = {
        "b/a": _ratio(stages, "b_precision", "a_plain"),
        "c/b": _ratio(stages, "c_resident", "b_precision"),
        "d/c": _ratio(stages, "d_compiled", "c_resident"),
    }
    summary = {"environment": environment, "stages": stages, "ratios": ratios}
    env = environment
    lines = [
        "# GPU check" + (" (smoke run on a CPU-sized problem)" if env["smoke"] else ""),
        "",
        f"Command: `{env['command']}`; machine: {env['gpu'] or 'no GPU'}, "
        f"{env['cpu_count']} CPUs; torch {env['torch']} (CUDA {env['cuda']}, cuDNN "
        f"{env['cudnn']}), torchvision {env['torchvision']}, Lightning {env['lightning']}, "
        f"Optuna {env['optuna']}; commit {env['git_commit']}.",
        "",
        "| arm | changes | images/s | ratio |",
        "|---|---|---:|---|",
    ]
    previous = {"b_precision": "b/a", "c_resident": "c/b", "d_compiled": "d/c"}
    for arm in ARMS:
        result = stages.get(arm) or {}
        speed = result.get("images_per_second")
        ratio = ratios.get(previous.get(arm, ""))
        lines.append(
            f"| {arm} | {ARM_CHANGES[arm]} | "
            + (f"{speed:,.0f}" if speed else f"did not finish ({result.get('status', 'n/a')})")
            + " | "
            + (f"{previous[arm]} = {ratio:.2f}x" if ratio else "")
            + " |"
        )
    lines.append("")
    determinism_result = stages.get("determinism") or {}
    if "deterministic_runs_equal" in determinism_result:
        lines.append(
            f"Determinism ({determinism_result['steps']} steps): two --deterministic runs "
            f"{'equal' if determinism_result['deterministic_runs_equal'] else 'DIFFER'}; "
            "a run without it "
            f"{'equal' if determinism_result['non_deterministic_run_equal'] else 'differs'}."
        )
    for stage in ("search", "train"):
        result = stages.get(stage) or {}
        if "exit_code" in result:
            extra = ""
            if stage == "search":
                states = [trial["state"] for trial in result["trials"]]
                extra = f", trials {', '.join(states)}"
            else:
                extra = f", exported model matches: {result['export_matches']}"
            lines.append(
                f"`optuna-amoeba {stage}`: exit code {result['exit_code']} in "
                f"{result['seconds']:.0f} s{extra}."
            )
        else:
            lines.append(f"`optuna-amoeba {stage}`: {result.get('status', 'not run')}.")
    for name in ORDER:
        error = (stages.get(name) or {}).get("error")
        if error:
            lines.append(f"- {name} failed: {error}")
    lines.append("")
    lines.append(
        "Stages: "
        + ", ".join(
            f"{name} {(stages.get(name) or {}).get('status', 'not run')} "
            f"({(stages.get(name) or {}).get('wall_seconds', 0):.0f} s)"
            for name in ORDER
        )
    )
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    (out / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    print("\n".join(lines))
    return summary


def _run_stage(stage: str, args: argparse.Namespace, sizes: Sizes, limit: float) -> dict[str, Any]:
    """Run one stage (in a subprocess with a time limit unless ``args.in_process``)."""
    start = time.perf_counter()
    path = args.out / f"{stage}.json"
    path.unlink(missing_ok=True)
    if args.in_process:
        code, result = _stage_result(stage, args, sizes)
        status = "ok" if code == 0 else "failed"
    else:
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--stage",
            stage,
            *("--data", str(args.data), "--out", str(args.out)),
            *(["--smoke"] if sizes.smoke else []),
        ]
        log = (args.out / "log.txt").open("a")
        try:
            completed = subprocess.run(
                command, stdout=log, stderr=subprocess.STDOUT, timeout=limit, check=False
            )
            status = "ok" if completed.returncode == 0 else f"failed (exit {completed.returncode})"
        except subprocess.TimeoutExpired:
            status = f"timed out after {limit:.0f} s"
        finally:
            log.close()
        result = json.loads(path.read_text()) if path.exists() else {}
    return {**result, "status": status, "wall_seconds": time.perf_counter() - start}


def _stage_result(
    stage: str, args: argparse.Namespace, sizes: Sizes
) -> tuple[int, dict[str, Any]]:
    """Exit code and result of one stage; a failure is reported, and the others still run."""
    try:
        return 0, FUNCTIONS[stage](args, sizes)
    except Exception as error:
        reason = str(error).splitlines()[0] if str(error) else ""
        return 1, {"error": f"{type(error).__name__}: {reason}"}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for a CPU")
    parser.add_argument(
        "--out",
        type=Path,
        help="results folder (default: $OUT_DIR, else benchmarks/results/gpu_check)",
    )
    parser.add_argument(
        "--stages",
        nargs="+",
        choices=ORDER,
        default=list(ORDER),
        help="the stages to run, in the check's order (default: all)",
    )
    parser.add_argument("--data", type=Path, help="the random CIFAR-10 folder (default: temp)")
    parser.add_argument("--stage", choices=tuple(FUNCTIONS), help="run one stage (internal)")
    parser.add_argument(
        "--in-process", action="store_true", help="run every stage in this process"
    )
    args = parser.parse_args(argv)
    sizes = Sizes(args.smoke)
    if args.smoke:
        import torch

        torch.set_num_threads(1)  # tiny convolutions only lose time to threading
    args.out = args.out or Path(os.environ.get("OUT_DIR") or DEFAULT_OUT)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.stage:
        code, result = _stage_result(args.stage, args, sizes)
        (args.out / f"{args.stage}.json").write_text(json.dumps(result, indent=2) + "\n")
        return code
    with tempfile.TemporaryDirectory() as scratch:
        args.data = args.data or Path(scratch) / "cifar_random"
        deadline = time.monotonic() + TOTAL_LIMIT
        stages: dict[str, Any] = {}
        for stage in (name for name in ORDER if name in args.stages):
            left = deadline - time.monotonic()
            if left < 10:
                stages[stage] = {"status": "skipped (out of time)", "wall_seconds": 0.0}
                continue
            stages[stage] = _run_stage(stage, args, sizes, min(LIMITS[stage], left))
            print(f"{stage}: {stages[stage]['status']}", flush=True)
            if stage == "prepare" and stages[stage]["status"] != "ok":
                break
    report(args.out, stages, _environment(list(argv or sys.argv[1:]), sizes.smoke))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
