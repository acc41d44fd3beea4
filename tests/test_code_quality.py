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


def test_sampler_import_loads_no_more_than_optuna_needs() -> None:
    # The storage helpers need SQLAlchemy; `import optuna` does not load it, and neither may the
    # sampler's import (benchmarks/import_time.py measures the time this keeps down).
    code = (
        "import sys, optuna; loaded = 'sqlalchemy' in sys.modules; import optuna_amoeba; "
        "assert 'sqlalchemy' not in sys.modules or loaded, 'optuna_amoeba imported sqlalchemy'; "
        "assert callable(optuna_amoeba.open_storage) and 'sqlalchemy' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
