"""Two-objective searches on the command line: validation accuracy against network size.

``search --objectives accuracy,params`` (or ``accuracy,flops``) maximises validation accuracy
and minimises the trial's ``params`` (or ``flops``) user attr; the study's directions and metric
names say which, so a study is never continued with other objectives. The progress line, the
final summary and ``show`` report the Pareto front instead of a best trial.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
import warnings

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from lightning_modules.commands._common import trial_genotype
from lightning_modules.commands._common import UsageError


ACCURACY = "accuracy"
OBJECTIVE_CHOICES = ("accuracy", "accuracy,params", "accuracy,flops")
# Objective -> (the study's metric name, the short name printed beside values).
_NAMES = {
    "accuracy": ("validation accuracy", "val_acc"),
    "params": ("parameters", "params"),
    "flops": ("FLOPs", "flops"),
}
FRONT_PICTURE = "pareto_front"


def parse_objectives(text: str) -> tuple[str, ...]:
    """``--objectives`` as a tuple of objective names, or a :class:`UsageError`."""
    objectives = tuple(item.strip() for item in text.split(","))
    if ",".join(objectives) not in OBJECTIVE_CHOICES:
        raise UsageError(
            f"--objectives must be one of {', '.join(OBJECTIVE_CHOICES)}, got {text!r}"
        )
    return objectives


def directions(objectives: Sequence[str]) -> list[StudyDirection]:
    """Maximise the accuracy, minimise the size."""
    return [StudyDirection.MAXIMIZE] + [StudyDirection.MINIMIZE] * (len(objectives) - 1)


def metric_names(objectives: Sequence[str]) -> list[str]:
    return [_NAMES[objective][0] for objective in objectives]


def study_objectives(study: optuna.Study) -> tuple[str, ...] | None:
    """The objectives ``search`` created ``study`` with; ``None`` for any other study."""
    if study.directions == [StudyDirection.MAXIMIZE]:
        return (ACCURACY,)
    for choice in OBJECTIVE_CHOICES:
        objectives = tuple(choice.split(","))
        if len(objectives) > 1 and study.directions == directions(objectives):
            if study.metric_names == metric_names(objectives):
                return objectives
    return None


def check_objectives(study: optuna.Study, objectives: Sequence[str]) -> None:
    """Refuse to continue ``study`` with other objectives than it was searched for."""
    found = study_objectives(study)
    wanted = ",".join(objectives)
    if found is not None and found != tuple(objectives):
        searched = ",".join(found)
        raise UsageError(
            f"study {study.study_name!r} was searched with --objectives {searched}, not "
            f"{wanted}; continue it with --objectives {searched} or use another --study-name"
        )
    if found is None and tuple(objectives) == (ACCURACY,):
        raise UsageError(
            f"study {study.study_name!r} exists but does not maximise one value; "
            "use another --study-name"
        )
    if found is None:
        size = _NAMES[objectives[-1]][0]
        raise UsageError(
            f"study {study.study_name!r} exists but does not maximise validation accuracy and "
            f"minimise {size}; use another --study-name"
        )


def create_study(
    storage: optuna.storages.BaseStorage, study_name: str, objectives: Sequence[str]
) -> optuna.Study:
    """The study (created, or loaded when another worker just created it) with the
    objectives' directions and, for two objectives, their metric names."""
    study = optuna.create_study(
        storage=storage,
        study_name=study_name,
        directions=directions(objectives),
        load_if_exists=True,
    )
    if len(objectives) > 1 and study.metric_names is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(metric_names(objectives))
    return study


def _short_names(study: optuna.Study) -> list[str]:
    objectives = study_objectives(study)
    if objectives is not None:
        return [_NAMES[objective][1] for objective in objectives]
    names = study.metric_names
    return list(names) if names else [f"objective {i}" for i in range(len(study.directions))]


def _format_value(name: str, value: float) -> str:
    if name == "params":
        return f"{value:,.0f} params"
    if name == "flops":
        return f"{value / 1e6:,.1f} MFLOPs"
    return f"{name}={value:.4f}"


def format_values(study: optuna.Study, values: Sequence[float]) -> str:
    """``val_acc=0.9712, 12,345 params`` for a trial's values."""
    return ", ".join(
        _format_value(name, value) for name, value in zip(_short_names(study), values, strict=True)
    )


def front_status(study: optuna.Study) -> str:
    """The progress line's summary of a two-objective study: the Pareto front's size."""
    return f"Pareto front: {len(study.best_trials)} trial(s)"


def _marks(
    study: optuna.Study, front: list[FrozenTrial], knee: FrozenTrial | None
) -> dict[int, list[str]]:
    names = _short_names(study)
    smallest = "smallest" if names[1] in ("params", "flops") else f"best {names[1]}"
    accurate = "most accurate" if names[0] == "val_acc" else f"best {names[0]}"
    marks: dict[int, list[str]] = {}
    marks.setdefault(front[0].number, []).append(smallest)
    if knee is not None:
        marks.setdefault(knee.number, []).append("knee")
    marks.setdefault(front[-1].number, []).append(accurate)
    return marks


def print_trade_offs(study: optuna.Study) -> list[FrozenTrial]:
    """Print the Pareto front, smallest first, with each trial's genotype and the smallest,
    knee and most accurate trials marked; return the marked trials."""
    from optuna_amoeba.visualization import pareto_trade_offs

    trade_offs = pareto_trade_offs(study)
    if trade_offs is None:
        print("no complete trial yet")
        return []
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    objectives = study_objectives(study)
    names = metric_names(objectives) if objectives else list(study.metric_names or ())
    against = f": {names[0]} against {names[1]}" if len(names) == 2 else ""
    print(
        f"Pareto front: {len(trade_offs.front)} of {len(complete)} complete trials{against}, "
        "from the smallest:"
    )
    marks = _marks(study, trade_offs.front, trade_offs.knee)
    for trial in trade_offs.front:
        label = f"  [{', '.join(marks[trial.number])}]" if trial.number in marks else ""
        print(f"  trial {trial.number}: {format_values(study, trial.values)}{label}")
        print(f"    {trial_genotype(trial)}")
    marked = [trial for trial in trade_offs.front if trial.number in marks]
    return marked


def show_front(study: optuna.Study, output_dir: Path, formats: Sequence[str]) -> int:
    """``show`` for a two-objective study: draw the Pareto front, the marked trials' cells and
    lineages and the progress, and name the trade-off architectures."""
    if len(study.directions) != 2:
        raise UsageError(
            f"study {study.study_name!r} has {len(study.directions)} objectives; show draws "
            "studies with one or two"
        )
    from optuna_amoeba.visualization import plot_pareto_front
    from optuna_amoeba.visualization import write_figures

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        print(f"study {study.study_name!r} has no complete trial yet")
        return 0
    marked = print_trade_offs(study)
    output_dir.mkdir(parents=True, exist_ok=True)
    figure = plot_pareto_front(study)
    fronts = []
    for fmt in formats:
        path = output_dir / f"{FRONT_PICTURE}.{fmt}"
        figure.savefig(path, format=fmt)
        fronts.append(path)
    written = write_figures(
        study, output_dir, formats=formats, trials=marked, target_name="validation accuracy"
    )
    print(f"Pareto front picture: {', '.join(str(path) for path in fronts)}")
    print(f"pictures: {len(fronts) + len(written)} files in {output_dir}")
    return 0
