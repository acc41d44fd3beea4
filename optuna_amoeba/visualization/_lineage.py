"""The ancestor chain of one trial: objective values over the chain and each step's mutation."""

from __future__ import annotations

from matplotlib.figure import Figure
import optuna
from optuna.trial import FrozenTrial

from optuna_amoeba._checks import check_int
from optuna_amoeba.visualization._history import describe_descent
from optuna_amoeba.visualization._history import lineage
from optuna_amoeba.visualization._history import Target
from optuna_amoeba.visualization._history import value_function
from optuna_amoeba.visualization._style import mutation_color


_ROW_HEIGHT = 0.19  # inches per table row at 8 pt
_PLOT_HEIGHT = 3.2
_WIDTH = 10.0
_MAX_CHANGE_CHARS = 80


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plot_lineage(
    study: optuna.Study,
    trial: FrozenTrial | int,
    *,
    target: Target | None = None,
    target_name: str = "Objective Value",
    max_rows: int = 30,
) -> Figure:
    """Draw the ancestor chain of ``trial`` back to its founder.

    The upper panel plots the objective value of every ancestor against its trial number,
    each dot colored by the mutation that produced it (``random`` for the founder). The
    lower panel lists the steps, founder first: trial number, mutation, value and what the
    mutation changed (e.g. ``normal b2 op a: sep_conv_3x3 → identity``). Works for any search
    space: the chain only needs the ``amoeba:parent`` attrs the sampler writes.

    Args:
        study: The study holding the trial.
        trial: The trial (or its number) whose ancestry to draw.
        target: Value to plot per trial; default the objective value (a multi-objective
            study's first, and the axis label says so).
        target_name: Axis label for the value.
        max_rows: Most steps listed in the table (``>= 1``); longer chains list the founder
            and the ``max_rows - 1`` most recent steps.

    Returns:
        A :class:`matplotlib.figure.Figure`.
    """
    max_rows = check_int("max_rows", max_rows, 1)
    value_of, value_label = value_function(study, target, target_name)
    steps = lineage(study, trial)
    recent = steps[len(steps) - (max_rows - 1) :] if max_rows > 1 else []
    listed = steps if len(steps) <= max_rows else [steps[0], *recent]
    num_rows = len(listed) + 1 + (len(listed) < len(steps))
    table_height = num_rows * _ROW_HEIGHT + 0.3
    height = _PLOT_HEIGHT + table_height + 0.6
    figure = Figure(figsize=(_WIDTH, height))
    last = steps[-1].trial
    figure.suptitle(
        f"Lineage of trial {last.number}: {describe_descent(steps)}",
        fontsize=11,
    )

    plot = figure.add_axes((0.08, (table_height + 0.6) / height, 0.9, 2.5 / height))
    numbers = [step.trial.number for step in steps]
    values = [value_of(step.trial) for step in steps]
    plot.plot(numbers, values, color="#999999", linewidth=1, zorder=1)
    for mutation in dict.fromkeys(step.mutation for step in steps):
        chosen = [i for i, step in enumerate(steps) if step.mutation == mutation]
        plot.scatter(
            [numbers[i] for i in chosen],
            [values[i] for i in chosen],
            color=mutation_color(mutation),
            label=mutation,
            zorder=2,
            s=28,
        )
    plot.set_xlabel("trial number")
    plot.set_ylabel(value_label)
    plot.grid(alpha=0.3)
    plot.legend(title="mutation", fontsize=8, title_fontsize=8, loc="best")

    table = figure.add_axes((0.02, 0.1 / height, 0.96, table_height / height))
    table.set_axis_off()
    table.set_xlim(0, 1)
    table.set_ylim(-num_rows, 0)
    header = f"{'trial':>6}  {'mutation':<13} {'value':>14}  change from parent"
    rows = [header]
    for index, step in enumerate(listed):
        value = value_of(step.trial)
        change = _shorten(step.change or "founder", _MAX_CHANGE_CHARS)
        rows.append(f"{step.trial.number:>6}  {step.mutation:<13} {value:>14.6g}  {change}")
        if index == 0 and len(listed) < len(steps):
            rows.append(f"{'…':>6}  ({len(steps) - len(listed)} steps not listed)")
    for row_index, row in enumerate(rows):
        table.text(
            0,
            -row_index - 0.5,
            row,
            family="monospace",
            fontsize=8,
            va="center",
            fontweight="bold" if row_index == 0 else "normal",
        )
    return figure
