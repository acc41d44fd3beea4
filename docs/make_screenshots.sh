#!/usr/bin/env bash
# Regenerate the pictures under docs/: matplotlib figures of a small search, and screenshots of
# optuna-dashboard (headless Chromium, Debian package `chromium`) showing that search.
#
#   docs/make_screenshots.sh            # from the repository root, with .venv set up
#
# Needs the viz extra (plotly, optuna-dashboard) in .venv and `chromium` on PATH. Everything
# runs on 127.0.0.1; the study, artifacts and browser profile live in a temporary directory.
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
DASHBOARD=${DASHBOARD:-.venv/bin/optuna-dashboard}
CHROMIUM=${CHROMIUM:-chromium}
PORT=${PORT:-8080}
WORK=$(mktemp -d)
DASHBOARD_PID=""
cleanup() {
    if [[ -n "$DASHBOARD_PID" ]]; then kill "$DASHBOARD_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

command -v "$CHROMIUM" >/dev/null || { echo "chromium not found (apt-get install chromium)" >&2; exit 2; }

# 1. A small search on the synthetic objective, fed to the dashboard as `optuna-amoeba search`
#    does: a cell picture per trial while it runs, the study graph and note after each trial.
PYTHONPATH=. "$PYTHON" - "$WORK" <<'EOF'
import sys
from pathlib import Path

import optuna
from optuna.artifacts import FileSystemArtifactStore

from benchmarks.synthetic import SyntheticNASNetObjective
from optuna_amoeba import AgingEvolutionSampler, nasnet
from optuna_amoeba.visualization import plot_cell, plot_lineage, plot_progress
from optuna_amoeba.visualization.dashboard import update_study_dashboard, upload_cell_picture

optuna.logging.set_verbosity(optuna.logging.WARNING)
work = Path(sys.argv[1])
(work / "artifacts").mkdir()
store = FileSystemArtifactStore(str(work / "artifacts"))
study = optuna.create_study(
    study_name="amoeba-synthetic",
    storage=f"sqlite:///{work / 'study.db'}",
    direction="maximize",
    sampler=AgingEvolutionSampler(population_size=10, sample_size=3, seed=0),
)
synthetic = SyntheticNASNetObjective(seed=0)


def objective(trial: optuna.Trial) -> float:
    genotype = nasnet.suggest_genotype(trial)
    upload_cell_picture(study, trial, genotype, store)
    return synthetic.score(genotype)


study.optimize(
    objective, n_trials=80, callbacks=[lambda study, trial: update_study_dashboard(study)]
)
best = study.best_trial
(work / "ids").write_text(f"{study._study_id} {best.number}\n")

plot_cell(nasnet.AMOEBANET_A, title="AmoebaNet-A (Real et al. 2019)").savefig(
    "docs/cell_amoebanet_a.png", dpi=80
)
plot_lineage(study, best, max_rows=12).savefig("docs/lineage.png", dpi=80)
plot_progress(study).savefig("docs/progress.png", dpi=80)
EOF
read -r STUDY_ID BEST_TRIAL < "$WORK/ids"

# 2. The dashboard on loopback only.
"$DASHBOARD" "sqlite:///$WORK/study.db" --artifact-dir "$WORK/artifacts" \
    --host 127.0.0.1 --port "$PORT" >"$WORK/dashboard.log" 2>&1 &
DASHBOARD_PID=$!
for _ in $(seq 60); do
    if "$PYTHON" -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$PORT/api/meta', timeout=1)" 2>/dev/null; then
        break
    fi
    sleep 0.5
done

# 3. Screenshots.
shot() {
    local out=$1 url=$2 size=$3
    "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --hide-scrollbars --user-data-dir="$(mktemp -d -p "$WORK")" --window-size="$size" \
        --virtual-time-budget=15000 --screenshot="$out" "$url" 2>>"$WORK/chromium.log"
}
BASE="http://127.0.0.1:$PORT/dashboard/studies/$STUDY_ID"
shot docs/dashboard_study.png "$BASE" 1400,2000
shot docs/dashboard_trial.png "$BASE/trials?numbers=$BEST_TRIAL" 1400,1600
shot docs/dashboard_note.png "$BASE/note" 1400,800
echo "study $STUDY_ID, best trial $BEST_TRIAL: wrote docs/dashboard_{study,trial,note}.png"
