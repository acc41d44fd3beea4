"""Every trial a dot, with the population's best and mean over time (Real et al. 2019, Fig. 3)."""

from __future__ import annotations

from collections.abc import Sequence
import math
from typing import Any
from typing import Literal

from matplotlib.figure import Figure
import numpy as np
import optuna
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_amoeba.visualization._history import group_by_mutation
from optuna_amoeba.visualization._history import population_history
from optuna_amoeba.visualization._history import population_settings
from optuna_amoeba.visualization._history import Target
from optuna_amoeba.visualization._history import value_function
from optuna_amoeba.visualization._style import mutation_color


XAxis = Literal["number", "time"]


def x_values(trials: Sequence[FrozenTrial], x: XAxis) -> np.ndarray[Any, Any]:
    """Trial numbers, or completion times (every trial given must have completed)."""
    if x == "number":
        return np.array([trial.number for trial in trials], dtype=float)
    return np.array([trial.datetime_complete for trial in trials], dtype="datetime64[us]")


def _in_axis_order(trials: Sequence[FrozenTrial], x: XAxis) -> list[FrozenTrial]:
    if x == "number":
        return sorted(trials, key=lambda trial: trial.number)
    return sorted(trials, key=lambda trial: (trial.datetime_complete, trial.number))


def check_x(x: str) -> XAxis:
    if x not in ("number", "time"):
        raise ValueError(f"x must be 'number' or 'time', got {x!r}")
    return "number" if x == "number" else "time"


def plot_progress(
    study: optuna.Study,
    *,
    x: XAxis = "number",
    target: Target | None = None,
    target_name: str = "Objective Value",
    population_size: int | None = None,
    aging: bool | None = None,
) -> Figure:
    """Draw each completed trial as a dot and the population's best and mean over time.

    The population after each completion is replayed with the sampler's rule: the
    ``population_size`` most recent completed trials (``aging=True``), or the best ones
    (``aging=False``). Both default to the study's :class:`AgingEvolutionSampler` if it has
    one (``optuna.load_study`` gives a study without it: pass them), else to that sampler's
    defaults; the legend states the values used. The best value of any trial so far,
    re-evaluations included, is drawn dashed. Infinite values are left out of the dots and
    lines, and a note gives their count.

    Args:
        study: The study to draw.
        x: ``"number"`` (trial number) or ``"time"`` (completion time) on the x axis.
        target: Value to plot per trial; default the objective value (a multi-objective
            study's first, and the axis label says so).
        target_name: Axis label for the value.
        population_size: P of the replayed population (``>= 1``).
        aging: Whether the oldest (``True``) or the worst member leaves the population.

    Returns:
        A :class:`matplotlib.figure.Figure`; a study without completed trials gives an empty
        plot that says so.
    """
    axis = check_x(x)
    value_of, value_label = value_function(study, target, target_name)
    size, is_aging = population_settings(study, population_size, aging)
    figure = Figure(figsize=(9.0, 5.0), layout="constrained")
    plot = figure.add_subplot()
    plot.set_title(f"Progress of study {study.study_name!r}", fontsize=11)
    plot.set_xlabel("trial number" if axis == "number" else "completion time")
    plot.set_ylabel(value_label)
    plot.grid(alpha=0.3)

    completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    value = {trial.number: value_of(trial) for trial in completed}
    trials = [trial for trial in completed if math.isfinite(value[trial.number])]
    infinite = sum(math.isinf(value[trial.number]) for trial in completed)
    if infinite:
        plot.text(0.01, 0.01, f"{infinite} trial(s) with an infinite value not drawn",
                  fontsize=8, transform=plot.transAxes)  # fmt: skip
    if not trials:
        plot.text(0.5, 0.5, "no completed trials yet", ha="center", transform=plot.transAxes)
        return figure

    for mutation, members in group_by_mutation(trials).items():
        plot.scatter(
            x_values(members, axis),
            [value[trial.number] for trial in members],
            s=12,
            alpha=0.6,
            color=mutation_color(mutation),
            label=f"trial ({mutation})",
            zorder=2,
        )

    history = population_history(study, population_size=size, aging=is_aging, target=value_of)
    xs = x_values([point.trial for point in history], axis)
    maximize = study.directions[0] == optuna.study.StudyDirection.MAXIMIZE
    in_order = _in_axis_order(trials, axis)
    running = np.array([value[trial.number] for trial in in_order])
    best_so_far = np.maximum.accumulate(running) if maximize else np.minimum.accumulate(running)
    kind = "aging" if is_aging else "non-aging"
    plot.step(xs, [p.best for p in history], where="post", color="#d62728", lw=1.6, zorder=3,
              label=f"population best (P={size}, {kind})")  # fmt: skip
    plot.step(xs, [p.mean for p in history], where="post", color="#1f77b4", lw=1.6, zorder=3,
              label=f"population mean (P={size}, {kind})")  # fmt: skip
    plot.step(x_values(in_order, axis), best_so_far, where="post", color="black", lw=1.0,
              ls="--", zorder=3, label="best so far")  # fmt: skip
    plot.legend(fontsize=8, loc="best")
    if axis == "time":
        figure.autofmt_xdate()
    return figure
