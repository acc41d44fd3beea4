"""ruff (lint and format) and mypy, as configured in pyproject.toml, over the whole project."""

from __future__ import annotations

from pathlib import Path
import shutil
import subprocess
import sys

import pytest


ROOT = Path(__file__).resolve().parent.parent


def tool(name: str) -> str:
    path = Path(sys.executable).parent / name
    found = str(path) if path.exists() else shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[dev]')")
    return found


@pytest.mark.parametrize(
    "command",
    [("ruff", "check", "."), ("ruff", "format", "--check", "."), ("mypy",)],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_tool_passes(command: tuple[str, ...]) -> None:
    result = subprocess.run(
        [tool(command[0]), *command[1:]], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_sampler_package_does_not_import_torch() -> None:
    code = (
        "import sys, optuna_amoeba, optuna_amoeba.nasnet; "
        "assert 'torch' not in sys.modules, 'optuna_amoeba imported torch'"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
