#!/usr/bin/env bash
# GPU check of the training path, one prepared script (under 8 minutes on an H100/H200).
#
# Measures the training throughput (images/s, steady state) of the search proxy
# (AmoebaNet-A, N=3, F=24, batch 128) with the GPU fast path against a plain
# torchvision-DataLoader loop, then runs a 5-trial `optuna-amoeba search` on random
# CIFAR-shaped data. Figures go to benchmarks/results/gpu_check/ (summary.md, *.json, log).
#
# Usage, from the repository root:   bash benchmarks/gpu_check.sh
#   WHEELS_DIR=wheels   install missing packages (optuna, optuna-integration, torchmetrics
#                       and their dependencies) from local wheels, for machines without
#                       internet; make them here with
#                       pip download -d wheels optuna optuna-integration torchmetrics
#   PYTHON=python3      the interpreter (must have torch, torchvision and Lightning)
#   OUT_DIR=...         where results go (default benchmarks/results/gpu_check)
#   GPU_CHECK_TINY=1    shrink everything, to test this script on a CPU in a few minutes
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [[ "${GPU_CHECK_TINY:-0}" != "0" ]]; then
    OUT_DIR=${OUT_DIR:-$(mktemp -d)/gpu_check_tiny}
else
    OUT_DIR=${OUT_DIR:-benchmarks/results/gpu_check}
fi
DATA_DIR=${DATA_DIR:-$(mktemp -d)/cifar_random}
mkdir -p "$OUT_DIR"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
LOG="$OUT_DIR/log.txt"
: >"$LOG"

missing=$("$PYTHON" - <<'PY'
import importlib.util
wanted = {"optuna": "optuna", "optuna_integration": "optuna-integration",
          "torchmetrics": "torchmetrics", "lightning": "lightning"}
print(" ".join(pip for module, pip in wanted.items() if importlib.util.find_spec(module) is None))
PY
)
if [[ -n "$missing" ]]; then
    echo "installing: $missing" | tee -a "$LOG"
    if [[ -n "${WHEELS_DIR:-}" ]]; then
        "$PYTHON" -m pip install --quiet --no-index --find-links "$WHEELS_DIR" $missing 2>&1 | tee -a "$LOG"
    elif ! "$PYTHON" -m pip install --quiet $missing 2>&1 | tee -a "$LOG"; then
        echo "cannot install $missing: set WHEELS_DIR to a folder of wheels" | tee -a "$LOG"
        exit 1
    fi
fi

# Stage time limits (seconds); together under 8 minutes. A tiny run on a (slow, shared)
# CPU gets four times as long.
scale=1
[[ "${GPU_CHECK_TINY:-0}" != "0" ]] && scale=4
run_stage() {
    local stage=$1 limit=$(($2 * scale))
    echo "== $stage (limit ${limit} s)" | tee -a "$LOG"
    local start=$SECONDS
    if timeout --kill-after=10 "$limit" "$PYTHON" benchmarks/gpu_check.py "$stage" \
        --data "$DATA_DIR" --out "$OUT_DIR" >>"$LOG" 2>&1; then
        echo "   done in $((SECONDS - start)) s" | tee -a "$LOG"
    else
        echo "   FAILED or timed out after $((SECONDS - start)) s (see $LOG)" | tee -a "$LOG"
    fi
}
run_stage prepare 60
run_stage plain 100
run_stage fast 100
run_stage search 190
"$PYTHON" benchmarks/gpu_check.py report --data "$DATA_DIR" --out "$OUT_DIR" | tee -a "$LOG"
rm -rf "$DATA_DIR"
echo "results in $OUT_DIR"
