"""Write a study's pictures to files (what ``optuna-amoeba show`` calls)."""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Sequence
import os
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_amoeba._checks import check_float
from optuna_amoeba.visualization._cell import plot_cell
from optuna_amoeba.visualization._history import genotype_of
from optuna_amoeba.visualization._history import resolve_trial
from optuna_amoeba.visualization._history import Target
from optuna_amoeba.visualization._history import trial_title
from optuna_amoeba.visualization._history import value_function
from optuna_amoeba.visualization._lineage import plot_lineage
from optuna_amoeba.visualization._progress import plot_progress


_logger = optuna.logging.get_logger("optuna.amoeba.visualization")

FILE_FORMATS: tuple[str, ...] = ("png", "svg", "pdf")
MAX_DPI = 600
"""The finest PNG resolution ``write_figures`` takes: print quality; a lineage figure at
much more needs gigabytes."""


def _check_formats(formats: Sequence[str]) -> tuple[str, ...]:
    if isinstance(formats, str):
        chosen: tuple[object, ...] = (formats,)
    elif isinstance(formats, Iterable):
        chosen = tuple(formats)
    else:
        chosen = ()
    if not chosen or any(fmt not in FILE_FORMATS for fmt in chosen):
        raise ValueError(
            f"formats must be a non-empty selection of {', '.join(FILE_FORMATS)}, got {formats!r}"
        )
    return tuple(str(fmt) for fmt in dict.fromkeys(chosen))


def _default_trials(study: optuna.Study) -> list[FrozenTrial]:
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return []
    if len(study.directions) > 1:
        return list(study.best_trials)
    return [study.best_trial]


def write_figures(
    study: optuna.Study,
    out_dir: str | os.PathLike[str],
    *,
    formats: Sequence[str] = ("png",),
    trials: Sequence[FrozenTrial | int] | None = None,
    target: Target | None = None,
    target_name: str = "Objective Value",
    population_size: int | None = None,
    aging: bool | None = None,
    dpi: float = 100,
) -> list[Path]:
    """Write the cells and lineage of ``trials`` and the study's progress into ``out_dir``.

    Files: ``trial_{number}_cells.{fmt}`` (for trials with NASNet parameters),
    ``trial_{number}_lineage.{fmt}`` and ``progress.{fmt}``, one per format. ``trials=None``
    draws the best trial (the Pareto front of a multi-objective study), none if no trial has
    completed yet. A multi-objective study without ``target`` is plotted by its first
    objective.

    Args:
        study: The study to draw.
        out_dir: Directory for the files; created if missing, existing files are replaced.
        formats: Any of ``"png"``, ``"svg"``, ``"pdf"``.
        trials: Trials (or numbers) to draw cells and lineages for.
        target: Value to plot per trial (see :func:`plot_progress`).
        target_name: Axis label for the value.
        population_size: P of the population drawn in the progress plot (see
            :func:`plot_progress`; pass it for a study loaded from storage).
        aging: Whether that population ages (see :func:`plot_progress`).
        dpi: Resolution of PNG files, in ``(0, 600]``.

    Returns:
        The paths written, in writing order.
    """
    chosen_formats = _check_formats(formats)
    dpi = check_float("dpi", dpi, low=0.0, high=MAX_DPI, low_open=True)
    if trials is not None and (isinstance(trials, str) or not isinstance(trials, Iterable)):
        raise ValueError(
            f"trials must be a sequence of trials or trial numbers, or None; got {trials!r}"
        )
    if trials is None:
        selected = _default_trials(study)
    else:
        resolved = (resolve_trial(study, trial) for trial in trials)
        selected = list({trial.number: trial for trial in resolved}.values())
    target, target_name = value_function(study, target, target_name)
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)

    figures = []
    for trial in selected:
        try:
            genotype = genotype_of(trial)
        except ValueError as error:
            _logger.info(f"Trial {trial.number} has no cell picture: {error}")
        else:
            cells = plot_cell(genotype, title=trial_title(study, trial.number, trial.values))
            figures.append((f"trial_{trial.number}_cells", cells))
        lineage = plot_lineage(study, trial, target=target, target_name=target_name)
        figures.append((f"trial_{trial.number}_lineage", lineage))
    progress = plot_progress(
        study,
        target=target,
        target_name=target_name,
        population_size=population_size,
        aging=aging,
    )
    figures.append(("progress", progress))

    written = []
    for stem, figure in figures:
        for fmt in chosen_formats:
            path = directory / f"{stem}.{fmt}"
            figure.savefig(path, format=fmt, dpi=dpi)
            written.append(path)
    return written
