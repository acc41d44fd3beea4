"""The Pareto front of a two-objective study: trade-offs and the picture."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal
import warnings

from matplotlib.figure import Figure
from matplotlib.text import Text
import optuna
import pytest

from optuna_amoeba.visualization import pareto_trade_offs
from optuna_amoeba.visualization import plot_pareto_front


optuna.logging.set_verbosity(optuna.logging.WARNING)
Direction = Literal["minimize", "maximize"]


def _study(
    values: Sequence[tuple[float, float]],
    directions: tuple[Direction, Direction] = ("maximize", "minimize"),
    names: list[str] | None = None,
) -> optuna.Study:
    study = optuna.create_study(directions=list(directions), study_name="trade")
    if names is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(names)
    for value in values:
        study.add_trial(optuna.trial.create_trial(values=list(value)))
    return study


# (accuracy, size): 0-4 are on the front; 5 is dominated by 1, 6 by 3.
VALUES = [(0.70, 10.0), (0.80, 12.0), (0.90, 20.0), (0.93, 40.0), (0.94, 80.0), (0.79, 15.0),
          (0.90, 50.0)]  # fmt: skip


def test_trade_offs_order_the_front_from_the_smallest_and_find_the_knee() -> None:
    trade_offs = pareto_trade_offs(_study(VALUES))
    assert trade_offs is not None
    assert [trial.number for trial in trade_offs.front] == [0, 1, 2, 3, 4]
    assert trade_offs.best_on_x.number == 0 and trade_offs.best_on_y.number == 4
    # Scaled to the front's range (accuracy 0.70-0.94, size 10-80), the chord runs from
    # (1, 0) to (0, 1) in losses; trial 2 at (1/6, 1/7) lies farthest from it.
    assert trade_offs.knee is not None and trade_offs.knee.number == 2

    by_accuracy = pareto_trade_offs(_study(VALUES), x_objective=0)
    assert by_accuracy is not None
    assert [trial.number for trial in by_accuracy.front] == [4, 3, 2, 1, 0]


def test_straight_or_short_fronts_have_no_knee() -> None:
    straight = pareto_trade_offs(_study([(0.7, 10.0), (0.8, 20.0), (0.9, 30.0)]))
    assert straight is not None and straight.knee is None
    two = pareto_trade_offs(_study([(0.7, 10.0), (0.8, 20.0), (0.6, 30.0)]))
    assert two is not None and [t.number for t in two.front] == [0, 1] and two.knee is None
    assert pareto_trade_offs(_study([])) is None


def test_both_maximised() -> None:
    study = _study([(1.0, 5.0), (2.0, 4.0), (4.0, 1.0), (1.5, 1.5)], ("maximize", "maximize"))
    trade_offs = pareto_trade_offs(study)
    assert trade_offs is not None
    assert [trial.number for trial in trade_offs.front] == [0, 1, 2]
    assert trade_offs.knee is not None and trade_offs.knee.number == 1


@pytest.mark.parametrize(
    ("study", "x_objective", "message"),
    [
        (optuna.create_study(), 1, "has 1 objective\\(s\\); a Pareto front is drawn for two"),
        (optuna.create_study(directions=["maximize"] * 3), 1, "has 3 objective"),
        (optuna.create_study(directions=["maximize"] * 2), 2, "x_objective must be an int in"),
        (optuna.create_study(directions=["maximize"] * 2), 1.0, r"in \[0, 1\], got 1\.0"),
        (optuna.create_study(directions=["maximize"] * 2), True, r"in \[0, 1\], got True"),
    ],
)
def test_bad_studies_and_axes_are_refused(
    study: optuna.Study, x_objective: object, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        pareto_trade_offs(study, x_objective=x_objective)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=message):
        plot_pareto_front(study, x_objective=x_objective)  # type: ignore[arg-type]


def _texts(figure: Figure) -> list[str]:
    return [child.get_text() for child in figure.axes[0].get_children() if isinstance(child, Text)]


def test_plot_labels_the_front_and_marks_the_trade_offs() -> None:
    study = _study(VALUES, names=["validation accuracy", "parameters"])
    figure = plot_pareto_front(study)
    axes = figure.axes[0]
    assert axes.get_xlabel() == "parameters" and axes.get_ylabel() == "validation accuracy"
    assert sorted(text for text in _texts(figure) if text.startswith("#")) == [
        f"#{number}" for number in range(5)
    ]
    legend = [text.get_text() for text in axes.get_legend().get_texts()]
    assert legend == [
        "complete trials (7)",
        "Pareto front (5)",
        "min parameters: trial 0",
        "max validation accuracy: trial 4",
        "knee: trial 2",
    ]
    # The grey cloud holds every complete trial, the front's points are drawn over it.
    grey, front = axes.collections[0], axes.collections[1]
    assert len(grey.get_offsets()) == 7
    assert [tuple(point) for point in front.get_offsets()] == [
        (size, accuracy) for accuracy, size in VALUES[:5]
    ]
    # The front's boundary: a step after each point (x minimised).
    (boundary,) = axes.get_lines()
    assert boundary.get_drawstyle() == "steps-post"

    # A repeat of trial 2's values shares its label.
    repeated = plot_pareto_front(_study([*VALUES, VALUES[2]]))
    assert "#2, #7" in _texts(repeated) and "#2" not in _texts(repeated)

    unnamed = plot_pareto_front(_study(VALUES), annotate=False, log_x=True)
    assert unnamed.axes[0].get_xlabel() == "objective 1"
    assert unnamed.axes[0].get_xscale() == "log"
    assert not [text for text in _texts(unnamed) if text.startswith("#")]


def test_plot_of_an_empty_study_says_so() -> None:
    figure = plot_pareto_front(_study([]))
    assert "no completed trials yet" in _texts(figure)


@pytest.mark.parametrize("option", ["annotate", "log_x"])
def test_switches_must_be_bools(option: str) -> None:
    with pytest.raises(ValueError, match=f"{option} must be True or False, got 'no'"):
        plot_pareto_front(_study(VALUES), **{option: "no"})  # type: ignore[arg-type]
