"""Layering rules that ruff and mypy cannot see (those two run from ``.ci/run``)."""

from __future__ import annotations

from pathlib import Path
import subprocess
import sys


ROOT = Path(__file__).resolve().parent.parent


def test_sampler_package_does_not_import_torch() -> None:
    code = (
        "import sys, optuna_amoeba, optuna_amoeba.nasnet; "
        "assert 'torch' not in sys.modules, 'optuna_amoeba imported torch'"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
