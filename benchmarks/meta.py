"""What a benchmark result must record to be reproduced: command, versions, machine, date."""

from __future__ import annotations

from collections.abc import Sequence
import datetime
from importlib import metadata
import os
from pathlib import Path
import platform
import shlex
import subprocess
import sys


_PACKAGES = ("optuna-amoeba", "optuna", "numpy", "scipy", "matplotlib")
TRAINING_PACKAGES = ("torch", "torchvision", "lightning", "torchmetrics", "scikit-learn")
_REPOSITORY = Path(__file__).resolve().parent.parent


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def command_line(module: str, argv: Sequence[str]) -> str:
    """The command as a user would type it again."""
    return shlex.join(["python", "-m", module, *argv])


def versions(extra: Sequence[str] = ()) -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in (*_PACKAGES, *extra):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def git_commit() -> str:
    """``HEAD``'s commit, with ``+dirty`` when tracked files differ from it."""
    # Read-only: no optional index refresh, so parallel git users are not disturbed.
    environment = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=_REPOSITORY,
            capture_output=True,
            text=True,
            check=True,
            env=environment,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=_REPOSITORY,
            capture_output=True,
            text=True,
            check=True,
            env=environment,
        ).stdout.strip()
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
