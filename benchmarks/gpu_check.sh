#!/usr/bin/env bash
# The GPU check in one command (under 8 minutes on one H100/H200): installs the few packages
# a GPU image with torch, torchvision and Lightning lacks, then runs benchmarks/gpu_check.py
# (four arms that change one thing at a time, a determinism check, a short search and a
# short training). docs/training.md describes it and the wheels recipe.
#
# Usage, from anywhere:   bash benchmarks/gpu_check.sh [gpu_check.py options, e.g. --smoke]
#   WHEELS_DIR=wheels   install the missing packages from these local wheels (no internet
#                       needed); make them on a connected machine as docs/training.md shows
#   PYTHON=python3      the interpreter (must have torch, torchvision and Lightning)
#   OUT_DIR=...         results folder (default benchmarks/results/gpu_check)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

# What the check imports beyond torch, torchvision and Lightning (and their dependencies).
missing=$("$PYTHON" - <<'PY'
import importlib.util
wanted = {"optuna": "optuna", "optuna_integration": "optuna-integration",
          "colorlog": "colorlog", "alembic": "alembic", "sqlalchemy": "sqlalchemy",
          "mako": "Mako"}
print(" ".join(pip for module, pip in wanted.items() if importlib.util.find_spec(module) is None))
PY
)
if [[ -n "$missing" ]]; then
    echo "missing: $missing"
    if [[ -n "${WHEELS_DIR:-}" ]]; then
        "$PYTHON" -m pip install --quiet --no-index --no-deps "$WHEELS_DIR"/*.whl
    elif ! "$PYTHON" -m pip install --quiet $missing; then
        echo "cannot install $missing: set WHEELS_DIR to a folder of wheels (docs/training.md)"
        exit 1
    fi
fi
exec "$PYTHON" benchmarks/gpu_check.py "$@"
