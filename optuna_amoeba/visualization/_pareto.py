"""The Pareto front of a two-objective study (e.g. accuracy against size) and its trade-offs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from matplotlib.figure import Figure
import numpy as np
import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_amoeba._checks import check_bool
from optuna_amoeba._checks import check_int


@dataclass(frozen=True)
class ParetoTradeOffs:
    """The non-dominated complete trials of a two-objective study, and the notable ones.

    Attributes:
        front: The Pareto-optimal trials, from the best value of the ``x_objective`` to the
            best value of the other objective (ties: lower trial number first).
        knee: The front trial farthest from the straight line between the front's two ends,
            both objectives scaled to the front's range: where giving up a little of one
            objective stops buying much of the other. ``None`` for fronts of fewer than three
            trials or with no bend.
    """

    front: list[FrozenTrial]
    knee: FrozenTrial | None

    @property
    def best_on_x(self) -> FrozenTrial:
        """The front's best trial on the ``x_objective`` (e.g. the smallest network)."""
        return self.front[0]

    @property
    def best_on_y(self) -> FrozenTrial:
        """The front's best trial on the other objective (e.g. the most accurate)."""
        return self.front[-1]


def _check_objectives(study: optuna.Study, x_objective: object) -> tuple[int, int]:
    """``(x_objective, the other one)``, or ``ValueError``."""
    if len(study.directions) != 2:
        raise ValueError(
            f"study {study.study_name!r} has {len(study.directions)} objective(s); a Pareto "
            "front is drawn for two-objective studies"
        )
    x = check_int("x_objective", x_objective, 0, 1)
    return x, 1 - x


def _losses(study: optuna.Study, trials: list[FrozenTrial]) -> np.ndarray:
    """Trials' values as losses (minimised), one row per trial."""
    signs = np.array([-1.0 if d == StudyDirection.MAXIMIZE else 1.0 for d in study.directions])
    values = np.array([trial.values for trial in trials], dtype=float).reshape(-1, 2)
    return np.asarray(values * signs)


def pareto_trade_offs(study: optuna.Study, *, x_objective: int = 1) -> ParetoTradeOffs | None:
    """The Pareto front of a two-objective ``study`` ordered along ``x_objective``, with its
    knee; ``None`` while no trial has completed.

    Raises:
        ValueError: The study does not have two objectives, or ``x_objective`` is not 0 or 1.
    """
    x_objective, y_objective = _check_objectives(study, x_objective)
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return None
    front = list(study.best_trials)
    losses = _losses(study, front)
    numbers = np.array([trial.number for trial in front])
    order = np.lexsort((numbers, losses[:, y_objective], losses[:, x_objective]))
    front = [front[i] for i in order]
    losses = losses[order]
    knee = None
    if len(front) >= 3:
        span = losses.max(axis=0) - losses.min(axis=0)
        scaled = (losses - losses.min(axis=0)) / np.where(span > 0, span, 1.0)
        chord = scaled[-1] - scaled[0]
        offsets = scaled - scaled[0]
        # Distance to the chord through both ends (its length is positive: the ends differ).
        cross = chord[0] * offsets[:, 1] - chord[1] * offsets[:, 0]
        distances = np.abs(cross) / np.linalg.norm(chord)
        if distances.max() > 1e-12:
            knee = front[int(np.argmax(distances))]
    return ParetoTradeOffs(front=front, knee=knee)


def _objective_names(study: optuna.Study) -> list[str]:
    names = study.metric_names
    return list(names) if names is not None else ["objective 0", "objective 1"]


def plot_pareto_front(
    study: optuna.Study,
    *,
    x_objective: int = 1,
    annotate: bool = True,
    log_x: bool = False,
) -> Figure:
    """Draw every complete trial of a two-objective study in grey and its Pareto front on top.

    The front is drawn as the boundary of what it dominates, each front trial labelled with
    its number (``annotate``; trials with equal values share a label); the best trial on each
    objective and the knee (see :class:`ParetoTradeOffs`) are marked. Axes are named by the
    study's metric names (``study.set_metric_names``) when it has them.

    Args:
        study: A study with two objectives, e.g. validation accuracy (maximised) and
            parameter count (minimised).
        x_objective: The objective on the x axis (0 or 1); the other is on the y axis.
            Default 1: the size of an (accuracy, size) study.
        annotate: Label the front's trials with their numbers.
        log_x: A logarithmic x axis (sizes spanning orders of magnitude).

    Returns:
        A :class:`matplotlib.figure.Figure`; a study without completed trials gives an empty
        plot that says so.

    Raises:
        ValueError: The study does not have two objectives, or ``x_objective`` is not 0 or 1.
    """
    x_objective, y_objective = _check_objectives(study, x_objective)
    annotate = check_bool("annotate", annotate)
    log_x = check_bool("log_x", log_x)
    names = _objective_names(study)
    figure = Figure(figsize=(8.0, 5.5), layout="constrained")
    plot = figure.add_subplot()
    plot.set_title(f"Pareto front of study {study.study_name!r}", fontsize=11)
    plot.set_xlabel(names[x_objective])
    plot.set_ylabel(names[y_objective])
    plot.grid(alpha=0.3)
    if log_x:
        plot.set_xscale("log")
    trade_offs = pareto_trade_offs(study, x_objective=x_objective)
    if trade_offs is None:
        plot.text(0.5, 0.5, "no completed trials yet", ha="center", transform=plot.transAxes)
        return figure

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    values = np.array([trial.values for trial in complete], dtype=float)
    plot.scatter(values[:, x_objective], values[:, y_objective], s=14, color="0.72",
                 label=f"complete trials ({len(complete)})", zorder=2)  # fmt: skip
    front = np.array([trial.values for trial in trade_offs.front], dtype=float)
    # Along a front sorted by x, the dominated region's corner sits after each point when x
    # is minimised and before it when x is maximised.
    where: Literal["pre", "post"] = (
        "post" if study.directions[x_objective] == StudyDirection.MINIMIZE else "pre"
    )
    plot.step(front[:, x_objective], front[:, y_objective], where=where, color="#d62728",
              lw=1.4, zorder=3)  # fmt: skip
    plot.scatter(front[:, x_objective], front[:, y_objective], s=30, color="#d62728", zorder=4,
                 label=f"Pareto front ({len(front)})")  # fmt: skip
    if annotate:
        # Trials with equal values share one label.
        numbers: dict[tuple[float, float], list[int]] = {}
        for trial in trade_offs.front:
            point = (trial.values[x_objective], trial.values[y_objective])
            numbers.setdefault(point, []).append(trial.number)
        for point, same in numbers.items():
            plot.annotate(", ".join(f"#{n}" for n in same), point, xytext=(4, -10),
                          textcoords="offset points", fontsize=8, color="#8b0000")  # fmt: skip
    marks = [
        (trade_offs.best_on_x, _best_label(study, names, x_objective), "s"),
        (trade_offs.best_on_y, _best_label(study, names, y_objective), "D"),
    ]
    if trade_offs.knee is not None:
        marks.append((trade_offs.knee, "knee", "*"))
    for trial, label, marker in marks:
        plot.scatter([trial.values[x_objective]], [trial.values[y_objective]], s=150,
                     marker=marker, facecolors="none", edgecolors="black", linewidths=1.3,
                     zorder=5, label=f"{label}: trial {trial.number}")  # fmt: skip
    plot.legend(fontsize=8, loc="best", markerscale=0.7)
    return figure


def _best_label(study: optuna.Study, names: list[str], objective: int) -> str:
    best = "max" if study.directions[objective] == StudyDirection.MAXIMIZE else "min"
    return f"{best} {names[objective]}"
