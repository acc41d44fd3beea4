"""Show a running evolution in optuna-dashboard: cell pictures, a progress graph and a note.

Needs the ``viz`` extra (``pip install 'optuna-amoeba[viz]'``: plotly and optuna-dashboard).
Call :func:`upload_cell_picture` inside the objective while the trial runs (Optuna refuses
to attach artifacts to finished trials) and :func:`update_study_dashboard` after each trial,
e.g. from a study callback; then ``optuna-dashboard STORAGE --artifact-dir DIR`` shows them.

:func:`progress_figure`, :func:`best_note` and :func:`update_study_dashboard` read the study's
trials once per call; a caller that has read them already (``study.get_trials()``: every
state, in number order) passes them as ``trials``, so that one read serves it all.
"""

from __future__ import annotations

from collections.abc import Sequence
import importlib
import io
import math
import os
import tempfile
from typing import Any
from typing import TYPE_CHECKING

import optuna
from optuna.artifacts import upload_artifact
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_amoeba import MeanEstimate
from optuna_amoeba import nasnet
from optuna_amoeba import rank_trials
from optuna_amoeba._checks import check_bool
from optuna_amoeba._sampler import PARENT_KEY
from optuna_amoeba.visualization._cell import plot_cell
from optuna_amoeba.visualization._history import describe_descent
from optuna_amoeba.visualization._history import genotype_of
from optuna_amoeba.visualization._history import group_by_mutation
from optuna_amoeba.visualization._history import lineage
from optuna_amoeba.visualization._history import mutation_of
from optuna_amoeba.visualization._history import population_history
from optuna_amoeba.visualization._history import population_settings
from optuna_amoeba.visualization._history import study_trials
from optuna_amoeba.visualization._history import Target
from optuna_amoeba.visualization._history import trial_title
from optuna_amoeba.visualization._history import value_function
from optuna_amoeba.visualization._style import mutation_color


if TYPE_CHECKING:
    from optuna.artifacts._protocol import ArtifactStore


GRAPH_ID = "amoeba-progress"
"""The id of the study's plotly graph; each update replaces it."""

CELL_PICTURE_FORMATS: dict[str, str] = {"png": "image/png", "svg": "image/svg+xml"}
_VIZ_HINT = "install the viz extra: pip install 'optuna-amoeba[viz]'"


def _require(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"the optuna-dashboard integration needs {error.name or module}; {_VIZ_HINT}"
        ) from error


def render_cell_picture(
    genotype: nasnet.Genotype, *, title: str, file_format: str = "png"
) -> bytes:
    """The cell picture as PNG or SVG bytes; the file's metadata carries ``title`` and the
    genotype's text form, so a stored picture can be traced to its trial."""
    if file_format not in CELL_PICTURE_FORMATS:
        raise ValueError(
            f"file_format must be one of {', '.join(CELL_PICTURE_FORMATS)}, got {file_format!r}"
        )
    figure = plot_cell(genotype, title=title)
    buffer = io.BytesIO()
    metadata = {"Title": title, "Description": str(genotype)}
    figure.savefig(buffer, format=file_format, metadata=metadata, dpi=100)
    return buffer.getvalue()


def upload_cell_picture(
    study: optuna.Study,
    trial: optuna.Trial | FrozenTrial,
    genotype: nasnet.Genotype,
    artifact_store: ArtifactStore,
    *,
    file_format: str = "png",
    embed_in_note: bool = True,
) -> str:
    """Render ``genotype``'s cells and attach the picture to ``trial`` as an artifact.

    The trial must still be running (call this in the objective, right after
    :func:`~optuna_amoeba.nasnet.suggest_genotype`). The picture's title names the study and
    trial; its metadata holds the genotype's text form. With ``embed_in_note`` (and an
    :class:`optuna.Trial`), the trial's optuna-dashboard note is set to the picture and the
    genotype, so the trial page shows the cells full size rather than as a thumbnail.

    Args:
        study: The trial's study.
        trial: The running trial.
        genotype: The trial's architecture.
        artifact_store: Where optuna-dashboard reads artifacts from, e.g.
            ``optuna.artifacts.FileSystemArtifactStore(DIR)`` for ``--artifact-dir DIR``.
        file_format: ``"png"`` or ``"svg"``.
        embed_in_note: Replace the trial's note with the picture (needs optuna-dashboard).

    Returns:
        The artifact id.
    """
    embed_in_note = check_bool("embed_in_note", embed_in_note)
    if isinstance(trial, FrozenTrial) and trial.state != TrialState.RUNNING:
        raise ValueError(
            f"trial {trial.number} is {trial.state.name}: Optuna attaches artifacts only to "
            "running trials; upload the cell picture inside the objective"
        )
    data = render_cell_picture(
        genotype, title=trial_title(study, trial.number, None), file_format=file_format
    )
    with tempfile.TemporaryDirectory(prefix="optuna-amoeba-") as directory:
        path = os.path.join(directory, f"trial_{trial.number}_cells.{file_format}")
        with open(path, "wb") as file:
            file.write(data)
        artifact_id = upload_artifact(
            artifact_store=artifact_store,
            file_path=path,
            study_or_trial=trial,
            storage=study._storage,
            mimetype=CELL_PICTURE_FORMATS[file_format],
        )
    if embed_in_note and isinstance(trial, optuna.Trial):
        url = _require("optuna_dashboard.artifact").get_artifact_path(trial, artifact_id)
        note = f"![cells of trial {trial.number}]({url})\n\n`{genotype}`"
        _require("optuna_dashboard").save_note(trial, note)
    return artifact_id


def _value_and_name(
    study: optuna.Study, target: Target | None, target_name: str | None
) -> tuple[Target, str]:
    if target_name is None:
        target_name = "objective value" if target is None else "target"
    return value_function(study, target, target_name)


def _trials(study: optuna.Study, trials: Sequence[FrozenTrial] | None) -> Sequence[FrozenTrial]:
    # The lineage looks parents up by position: a filtered or reordered read would draw the
    # wrong ancestors without a word.
    if trials is not None and (
        not isinstance(trials, Sequence)
        or any(
            not isinstance(trial, FrozenTrial) or trial.number != number
            for number, trial in enumerate(trials)
        )
    ):
        raise ValueError(
            "trials must be the study's trials as study.get_trials() returns them: every "
            "state, in number order"
        )
    return study_trials(study, trials)


def _hover(trial: FrozenTrial, value: float) -> str:
    parent = trial.system_attrs.get(PARENT_KEY)
    mutation = mutation_of(trial)
    origin = f"{mutation} of trial {parent}" if parent is not None else mutation
    return f"trial {trial.number}<br>value {value:.6g}<br>{origin}"


def progress_figure(
    study: optuna.Study,
    *,
    target: Target | None = None,
    target_name: str | None = None,
    population_size: int | None = None,
    aging: bool | None = None,
    trials: Sequence[FrozenTrial] | None = None,
) -> Any:
    """A plotly figure: every completed trial, the population's best and mean, and the
    lineage of the study's result (hover a dot for its mutation and parent): the
    architecture :func:`~optuna_amoeba.recommend_by_mean` recommends, or with ``target`` or
    several objectives the best trial. ``target_name`` labels the value (default "objective
    value", or "target" with a ``target``)."""
    go = _require("plotly.graph_objects")
    value_of, value_name = _value_and_name(study, target, target_name)
    size, is_aging = population_settings(study, population_size, aging)
    trials = _trials(study, trials)
    completed = _completed(trials, value_of)
    figure = go.Figure()
    for mutation, members in group_by_mutation(completed).items():
        figure.add_trace(
            go.Scatter(
                x=[trial.number for trial in members],
                y=[value_of(trial) for trial in members],
                mode="markers",
                name=f"trial ({mutation})",
                marker={"color": mutation_color(mutation), "size": 6, "opacity": 0.7},
                text=[_hover(trial, value_of(trial)) for trial in members],
                hoverinfo="text",
            )
        )
    history = population_history(
        study, population_size=size, aging=is_aging, target=value_of, trials=trials
    )
    kind = "aging" if is_aging else "non-aging"
    for name, color, values in (
        ("best", "#d62728", [point.best for point in history]),
        ("mean", "#1f77b4", [point.mean for point in history]),
    ):
        figure.add_trace(
            go.Scatter(
                x=[point.trial.number for point in history],
                y=values,
                mode="lines",
                line={"color": color, "shape": "hv"},
                name=f"population {name} (P={size}, {kind})",
            )
        )
    incumbent = _incumbent(study, completed, value_of, target)
    if incumbent is not None:
        best, estimate = incumbent
        kind = "recommended" if estimate is not None else "best"
        steps = lineage(study, best, trials)
        figure.add_trace(
            go.Scatter(
                x=[step.trial.number for step in steps],
                y=[value_of(step.trial) for step in steps],
                mode="lines+markers",
                line={"color": "black", "width": 1.5},
                marker={"symbol": "diamond", "size": 8, "color": "black"},
                name=f"lineage of {kind} trial {best.number}",
                text=[
                    f"{_hover(step.trial, value_of(step.trial))}<br>{step.change or 'founder'}"
                    for step in steps
                ],
                hoverinfo="text",
            )
        )
    figure.update_layout(
        title=f"Evolution of {study.study_name}: trials, population and lineage",
        xaxis_title="trial number",
        yaxis_title=value_name,
        legend={"orientation": "h", "y": -0.2},
        template="plotly_white",
    )
    return figure


def _completed(trials: Sequence[FrozenTrial], value_of: Target) -> list[FrozenTrial]:
    """The complete trials that have a value to draw."""
    return [
        trial
        for trial in trials
        if trial.state == TrialState.COMPLETE and not math.isnan(value_of(trial))
    ]


def _incumbent(
    study: optuna.Study,
    completed: Sequence[FrozenTrial],
    value_of: Target,
    target: Target | None,
) -> tuple[FrozenTrial, MeanEstimate | None] | None:
    """The trial to show as the study's result, and its set's estimate when there is one.

    A single-objective study without ``target`` shows the architecture
    :func:`~optuna_amoeba.recommend_by_mean` recommends (its first evaluation, which carries
    its lineage); otherwise the trial with the best ``value_of``."""
    if not completed:
        return None
    if target is None and len(study.directions) == 1:
        # Without a target ``completed`` is every complete trial: ranked from this one read, the
        # set's first trial is among them even while other workers finish trials.
        recommended = rank_trials(completed, study.direction)[0]
        first = next(t for t in completed if t.number == recommended.trial_numbers[0])
        return first, recommended
    maximize = study.directions[0] == optuna.study.StudyDirection.MAXIMIZE
    return (max if maximize else min)(completed, key=value_of), None


def _describe(estimate: MeanEstimate, value_name: str) -> str:
    numbers = ", ".join(str(number) for number in estimate.trial_numbers)
    if estimate.count == 1:
        return f"Trial **{numbers}**, {value_name} **{estimate.mean:.6g}**"
    return (
        f"Trials **{numbers}**, {value_name} mean **{estimate.mean:.6g}** over "
        f"{estimate.count} evaluations, pessimistic mean {estimate.pessimistic_mean:.6g}"
    )


def best_note(
    study: optuna.Study,
    *,
    target: Target | None = None,
    target_name: str | None = None,
    trials: Sequence[FrozenTrial] | None = None,
) -> str:
    """Markdown for the study note: the study's result, its genotype and its lineage.

    The result is the architecture :func:`~optuna_amoeba.recommend_by_mean` recommends (a
    single-objective study without ``target``) or else the trial with the best value,
    labelled as in :func:`progress_figure`."""
    value_of, value_name = _value_and_name(study, target, target_name)
    trials = _trials(study, trials)
    completed = _completed(trials, value_of)
    incumbent = _incumbent(study, completed, value_of, target)
    if incumbent is None:
        return f"## Current best\n\nNo completed trial yet in `{study.study_name}`."
    best, estimate = incumbent
    steps = lineage(study, best, trials)
    if estimate is None:
        lines = [
            "## Current best",
            "",
            f"Trial **{best.number}**, {value_name} **{value_of(best):.6g}** "
            f"({len(completed)} completed trials).",
        ]
    else:
        lines = [
            "## Recommended architecture",
            "",
            f"{_describe(estimate, value_name)} ({len(completed)} completed trials; "
            "`optuna_amoeba.recommend_by_mean` ranks by pessimistic mean).",
        ]
    lines.append("")
    try:
        genotype = genotype_of(best)
    except ValueError:
        params = "\n".join(f"{name} = {value!r}" for name, value in sorted(best.params.items()))
        lines += ["Parameters:", "", "```", params, "```"]
    else:
        # One block per line; Genotype.parse reads it back as it ignores the line breaks.
        text = str(genotype).replace("; ", ";\n").replace(", ", ",\n    ")
        lines += ["Genotype (`nasnet.Genotype.parse` reads it):", "", "```", text, "```"]
    lines += [
        "",
        f"Lineage: {describe_descent(steps)} "
        "(the study page's evolution graph draws it; the trial's page shows its cells).",
    ]
    return "\n".join(lines)


def update_study_dashboard(
    study: optuna.Study,
    *,
    target: Target | None = None,
    target_name: str | None = None,
    population_size: int | None = None,
    aging: bool | None = None,
    trials: Sequence[FrozenTrial] | None = None,
) -> None:
    """Refresh the study's plotly graph (:data:`GRAPH_ID`) and its note with the best genotype.

    Cheap enough to call after every trial, with the ``trials`` a callback has read already
    (else it reads them once). A multi-objective study without ``target`` is
    drawn by its first objective. Population settings default as in
    :func:`~optuna_amoeba.visualization.plot_progress`.
    """
    optuna_dashboard = _require("optuna_dashboard")
    trials = _trials(study, trials)  # the graph and the note show the same trials
    figure = progress_figure(
        study,
        target=target,
        target_name=target_name,
        population_size=population_size,
        aging=aging,
        trials=trials,
    )
    optuna_dashboard.save_plotly_graph_object(study, figure, graph_object_id=GRAPH_ID)
    note = best_note(study, target=target, target_name=target_name, trials=trials)
    optuna_dashboard.save_note(study, note)


__all__ = [
    "CELL_PICTURE_FORMATS",
    "GRAPH_ID",
    "best_note",
    "progress_figure",
    "render_cell_picture",
    "update_study_dashboard",
    "upload_cell_picture",
]
