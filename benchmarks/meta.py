"""What a benchmark result must record to be reproduced: command, versions, machine, date."""

from __future__ import annotations

from collections.abc import Sequence
import datetime
import functools
import hashlib
from importlib import metadata
import os
from pathlib import Path
import platform
import shlex
import subprocess
import sys
from typing import Any

import optuna

import optuna_amoeba


_PACKAGES = ("optuna-amoeba", "optuna", "numpy", "scipy", "matplotlib")
TRAINING_PACKAGES = ("torch", "torchvision", "lightning", "torchmetrics", "scikit-learn")
_REPOSITORY = Path(__file__).resolve().parent.parent


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def command_line(module: str, argv: Sequence[str]) -> str:
    """The command as a user would type it again."""
    return shlex.join(["python", "-m", module, *argv])


@functools.cache
def source_fingerprint() -> str:
    """A hash of the Python sources of ``optuna_amoeba`` and ``benchmarks`` (results aside):
    a saved run is reused only by the code that made it, not just the same version number."""
    digest = hashlib.sha256()
    for package in ("optuna_amoeba", "benchmarks"):
        for path in sorted((_REPOSITORY / package).rglob("*.py")):
            relative = path.relative_to(_REPOSITORY)
            if relative.parts[:2] != ("benchmarks", "results"):
                digest.update(str(relative).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def run_libraries() -> dict[str, str]:
    """The libraries a saved run must match to be reused: Optuna's version and this code."""
    return {
        "optuna": optuna.__version__,
        "optuna-amoeba": optuna_amoeba.__version__,
        "source": source_fingerprint(),
    }


def versions(extra: Sequence[str] = ()) -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in (*_PACKAGES, *extra):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def _git(*arguments: str) -> str:
    """The standard output, stripped, of ``git ARGUMENTS`` run in the repository.

    Raises:
        OSError: git cannot be run.
        subprocess.CalledProcessError: git fails.
    """
    # Read-only: no optional index refresh, so parallel git users are not disturbed.
    environment = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}
    return subprocess.run(
        ["git", *arguments],
        cwd=_REPOSITORY,
        capture_output=True,
        text=True,
        check=True,
        env=environment,
    ).stdout.strip()


def git_commit() -> str:
    """``HEAD``'s commit, with ``+dirty`` when tracked files differ from it."""
    try:
        head = _git("rev-parse", "HEAD")
        status = _git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if status else "")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def machine() -> dict[str, object]:
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "python_executable": sys.executable,
    }


def started_record(
    module: str,
    arguments: Sequence[str],
    out: Path,
    config: dict[str, Any],
    *,
    sampler_settings: dict[str, Any],
    extra_packages: Sequence[str] = (),
) -> dict[str, Any]:
    """The ``meta.json`` record of a benchmark command ``python -m MODULE ARGUMENTS`` as it
    starts: the command, ``out``, ``config``, the versions (with ``extra_packages``), the
    sampler settings, git commit, machine and start time; ``finished`` is None and
    ``runs_reused`` 0 until the runs end."""
    return {
        "command": command_line(module, arguments),
        "out": str(out),
        "config": config,
        "versions": versions(extra_packages),
        "sampler_settings": sampler_settings,
        "git_commit": git_commit(),
        "machine": machine(),
        "started": now(),
        "finished": None,
        "runs_reused": 0,
    }
