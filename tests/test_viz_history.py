"""Lineage, progress and file output."""

from __future__ import annotations

from pathlib import Path
import subprocess
import sys
from typing import Any
from typing import Literal

from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.text import Text
import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
import pytest

from optuna_amoeba import AgingEvolutionSampler
from optuna_amoeba import MUTATION_KEY
from optuna_amoeba import nasnet
from optuna_amoeba import PARENT_KEY
from optuna_amoeba.visualization import plot_lineage
from optuna_amoeba.visualization import plot_progress
from optuna_amoeba.visualization import write_figures
from optuna_amoeba.visualization._history import describe_change
from optuna_amoeba.visualization._history import lineage
from optuna_amoeba.visualization._history import population_history


optuna.logging.set_verbosity(optuna.logging.WARNING)
X = FloatDistribution(-100, 100)
COLOR = CategoricalDistribution(("red", "blue"))


def _study(
    values: list[float],
    parents: list[int | None],
    direction: Literal["minimize", "maximize"] = "maximize",
) -> optuna.Study:
    """Trials with given values and lineage, as the sampler would have recorded it."""
    study = optuna.create_study(direction=direction)
    for number, (value, parent) in enumerate(zip(values, parents, strict=True)):
        study.add_trial(
            optuna.trial.create_trial(
                params={"x": float(number), "color": "red" if number % 2 else "blue"},
                distributions={"x": X, "color": COLOR},
                value=value,
                system_attrs={
                    PARENT_KEY: parent,
                    MUTATION_KEY: "random" if parent is None else "param",
                },
            )
        )
    return study


def test_lineage_follows_parents_back_to_the_founder() -> None:
    study = _study([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [None, None, 0, 2, 1, 3])
    steps = lineage(study, 5)
    assert [step.trial.number for step in steps] == [0, 2, 3, 5]
    assert [step.mutation for step in steps] == ["random", "param", "param", "param"]
    assert steps[0].change == ""
    assert steps[1].change == "x: 0 → 2"
    assert steps[2].change == "color: blue → red; x: 2 → 3"
    assert [step.trial.number for step in lineage(study, study.trials[4])] == [1, 4]


def test_lineage_stops_at_a_cycle_or_a_missing_parent() -> None:
    study = _study([1.0, 2.0, 3.0], [2, 0, 1])
    assert [step.trial.number for step in lineage(study, 2)] == [0, 1, 2]
    study = _study([1.0, 2.0], [None, 99])
    assert [step.trial.number for step in lineage(study, 1)] == [1]
    with pytest.raises(ValueError, match=r"trial must be .* number in \[0, 1\], got 7"):
        lineage(study, 7)


def test_describe_change_names_nasnet_slots() -> None:
    parent = nasnet.AMOEBANET_A.to_params()
    assert (parent["normal_b2_op_a"], parent["reduction_b1_input_b"]) == ("identity", 2)
    child = dict(parent, normal_b2_op_a="sep_conv_7x7", reduction_b1_input_b=0)
    assert describe_change(parent, child) == (
        "normal b2 op a: identity → sep_conv_7x7; reduction b1 input b: h2 → h0"
    )
    assert describe_change({"x": 1.0}, {"x": 1.0}) == "no change"
    assert describe_change({"x": 1.0}, {"y": 2}) == "−x; +y=2"


@pytest.mark.parametrize(
    ("aging", "best", "mean"),
    [(True, [1, 5, 5, 3], [1, 3, 4, 2.5]), (False, [1, 5, 5, 5], [1, 3, 4, 4])],
)
def test_population_history_replays_aging_and_non_aging(
    aging: bool, best: list[float], mean: list[float]
) -> None:
    study = _study([1.0, 5.0, 3.0, 2.0], [None] * 4)
    history = population_history(
        study, population_size=2, aging=aging, target=lambda t: float(t.value or 0)
    )
    assert [point.trial.number for point in history] == [0, 1, 2, 3]
    assert [point.best for point in history] == best
    assert [point.mean for point in history] == pytest.approx(mean)


def test_population_history_minimize_non_aging_drops_the_largest() -> None:
    study = _study([4.0, 1.0, 3.0, 2.0], [None] * 4, direction="minimize")
    history = population_history(
        study, population_size=2, aging=False, target=lambda t: float(t.value or 0)
    )
    assert [point.best for point in history] == [4, 1, 1, 1]
    assert [point.mean for point in history] == pytest.approx([4, 2.5, 2, 1.5])


def _lines(figure: Figure) -> dict[str, np.ndarray[Any, Any]]:
    (axes,) = figure.axes
    return {str(line.get_label()): np.asarray(line.get_ydata()) for line in axes.get_lines()}


def test_plot_progress_draws_trials_and_population_lines() -> None:
    study = _study([1.0, 5.0, 3.0, 2.0], [None, 0, 0, 1])
    figure = plot_progress(study, population_size=2, aging=True)
    lines = _lines(figure)
    assert list(lines["population best (P=2, aging)"]) == [1, 5, 5, 3]
    assert list(lines["population mean (P=2, aging)"]) == pytest.approx([1, 3, 4, 2.5])
    assert list(lines["best so far"]) == [1, 5, 5, 5]
    (axes,) = figure.axes
    dots = {
        tuple(point)
        for collection in axes.collections
        if isinstance(collection, PathCollection)
        for point in np.asarray(collection.get_offsets()).tolist()
    }
    assert dots == {(0, 1), (1, 5), (2, 3), (3, 2)}


def test_plot_progress_takes_settings_from_the_sampler() -> None:
    sampler = AgingEvolutionSampler(population_size=3, sample_size=2, aging=False, seed=0)
    study = optuna.create_study(sampler=sampler)
    study.optimize(lambda t: t.suggest_float("x", -1, 1) ** 2, n_trials=6)
    assert "population best (P=3, non-aging)" in _lines(plot_progress(study))
    figure = plot_progress(study, x="time")
    assert len(_lines(figure)["best so far"]) == 6


def test_plot_progress_of_an_empty_study_says_so() -> None:
    figure = plot_progress(optuna.create_study())
    texts = [text.get_text() for text in figure.findobj(Text)]
    assert "no completed trials yet" in texts


def test_plots_refuse_bad_arguments() -> None:
    study = _study([1.0], [None])
    with pytest.raises(ValueError, match="x must be 'number' or 'time', got 'step'"):
        plot_progress(study, x="step")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="population_size must be an int >= 1, got 0"):
        plot_progress(study, population_size=0)
    with pytest.raises(ValueError, match="max_rows must be an int >= 1, got 0"):
        plot_lineage(study, 0, max_rows=0)
    multi = optuna.create_study(directions=["minimize", "maximize"])
    multi.add_trial(
        optuna.trial.create_trial(params={"x": 1.0}, distributions={"x": X}, values=[1, 2])
    )
    # Without a target a multi-objective study is drawn by its first objective, as in the
    # dashboard and write_figures, and the axis label says so.
    assert plot_progress(multi).axes[0].get_ylabel() == "Objective Value (objective 0)"
    assert plot_lineage(multi, 0).axes[0].get_ylabel() == "Objective Value (objective 0)"
    by_second = plot_progress(multi, target=lambda t: t.values[1], target_name="size")
    assert by_second.axes[0].get_ylabel() == "size"


def test_plot_lineage_lists_each_step() -> None:
    study = _study([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [None, None, 0, 2, 1, 3])
    figure = plot_lineage(study, 5)
    texts = [text.get_text() for text in figure.findobj(Text)]
    rows = [text for text in texts if text.lstrip().split(" ")[0].isdigit()]
    assert [int(row.split()[0]) for row in rows] == [0, 2, 3, 5]
    assert "founder" in rows[0] and "x: 2 → 3" in rows[2]
    assert any("3 mutations from founder trial 0" in text for text in texts)
    points = {
        tuple(point)
        for collection in figure.axes[0].collections
        for point in np.asarray(collection.get_offsets()).tolist()
    }
    assert points == {(0, 1), (2, 3), (3, 4), (5, 6)}

    long_chain = _study([float(i) for i in range(40)], [None, *range(39)])
    texts = [text.get_text() for text in plot_lineage(long_chain, 39, max_rows=5).findobj(Text)]
    rows = [text for text in texts if text.lstrip().split(" ")[0].isdigit()]
    assert [int(row.split()[0]) for row in rows] == [0, 36, 37, 38, 39]
    assert any("(35 steps not listed)" in text for text in texts)


def test_write_figures_writes_cells_lineage_and_progress(tmp_path: Path) -> None:
    study = optuna.create_study(
        direction="maximize",
        sampler=AgingEvolutionSampler(population_size=3, sample_size=2, seed=0),
    )
    study.optimize(lambda t: len(str(nasnet.suggest_genotype(t, num_blocks=2))), n_trials=5)
    best = study.best_trial.number
    written = write_figures(study, tmp_path / "out", formats=("png", "svg"))
    names = sorted(path.name for path in written)
    assert names == sorted(
        f"{stem}.{fmt}"
        for stem in (f"trial_{best}_cells", f"trial_{best}_lineage", "progress")
        for fmt in ("png", "svg")
    )
    for path in written:
        head = path.read_bytes()[:200]
        assert head.startswith(b"\x89PNG") if path.suffix == ".png" else b"<svg" in head

    other = optuna.create_study()
    other.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    written = write_figures(other, tmp_path / "plain", trials=[1], population_size=1, aging=False)
    assert sorted(path.name for path in written) == ["progress.png", "trial_1_lineage.png"]
    with pytest.raises(ValueError, match="population_size must be an int >= 1, got 0"):
        write_figures(other, tmp_path, population_size=0)
    with pytest.raises(ValueError, match="formats must be a non-empty selection of png, svg"):
        write_figures(other, tmp_path, formats=("gif",))


def test_importing_the_package_does_not_import_matplotlib() -> None:
    code = (
        "import sys, optuna_amoeba; "
        "print('optuna_amoeba.visualization' in sys.modules, 'matplotlib' in sys.modules)"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert output.split() == ["False", "False"]


def test_descent_counts_re_evaluations_apart_from_mutations() -> None:
    from optuna_amoeba.visualization._history import describe_descent

    study = optuna.create_study(direction="maximize")
    for number, (parent, mutation) in enumerate(
        [(None, "random"), (0, "param"), (1, "reevaluation"), (2, "param")]
    ):
        study.add_trial(
            optuna.trial.create_trial(
                params={"x": float(number)},
                distributions={"x": X},
                value=float(number),
                system_attrs={PARENT_KEY: parent, MUTATION_KEY: mutation},
            )
        )
    steps = lineage(study, 3)
    assert [step.mutation for step in steps] == ["random", "param", "reevaluation", "param"]
    assert describe_descent(steps) == "2 mutations and 1 re-evaluation from founder trial 0"
    assert describe_descent(steps[:2]) == "1 mutation from founder trial 0"


def test_best_so_far_counts_every_trial_re_evaluations_included() -> None:
    # Trial 1 re-evaluates trial 0's set (no population slot) and draws the best value.
    study = optuna.create_study(direction="maximize")
    for number, (x, value, mutation) in enumerate(
        [(0.0, 1.0, "random"), (0.0, 5.0, "reevaluation"), (2.0, 2.0, "param")]
    ):
        study.add_trial(
            optuna.trial.create_trial(
                params={"x": x},
                distributions={"x": X},
                value=value,
                system_attrs={PARENT_KEY: 0 if number else None, MUTATION_KEY: mutation},
            )
        )
    lines = _lines(plot_progress(study, population_size=2, aging=True))
    assert list(lines["population best (P=2, aging)"]) == [1, 1, 2]
    assert list(lines["best so far"]) == [1, 5, 5]


def test_infinite_values_stay_out_of_the_lines_and_are_counted() -> None:
    study = _study([1.0, float("inf"), 0.5], [None, 0, 0], direction="minimize")
    figure = plot_progress(study, population_size=3, aging=True)
    lines = _lines(figure)
    assert list(lines["population mean (P=3, aging)"]) == pytest.approx([1, 1, 0.75])
    assert list(lines["best so far"]) == [1, 0.5]
    texts = [text.get_text() for text in figure.findobj(Text)]
    assert "1 trial(s) with an infinite value not drawn" in texts


def test_plot_lineage_with_one_row_lists_the_founder() -> None:
    chain = _study([float(i) for i in range(40)], [None, *range(39)])
    texts = [text.get_text() for text in plot_lineage(chain, 39, max_rows=1).findobj(Text)]
    rows = [text for text in texts if text.lstrip().split(" ")[0].isdigit()]
    assert [int(row.split()[0]) for row in rows] == [0]
    assert any("(39 steps not listed)" in text for text in texts)


def test_targets_and_trials_are_checked() -> None:
    study = _study([1.0, 2.0], [None, 0])
    with pytest.raises(ValueError, match="target must be a function of a FrozenTrial, got 'x'"):
        plot_progress(study, target="x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="target must return a number, got None for trial 0"):
        plot_progress(study, target=lambda trial: None)  # type: ignore[arg-type,return-value]
    other = _study([7.0, 8.0], [None, 0])
    with pytest.raises(ValueError, match="trial must be a trial of study"):
        plot_lineage(study, other.trials[1])
    with pytest.raises(ValueError, match="trials must be a sequence of trials or trial numbers"):
        write_figures(study, "unused", trials=1)  # type: ignore[arg-type]
    multi = optuna.create_study(directions=["minimize", "maximize"])
    with pytest.raises(ValueError, match=r"aging=False .* single-objective studies only"):
        plot_progress(multi, aging=False)


def test_a_target_is_not_asked_for_a_trial_without_values() -> None:
    study = _study([1.0], [None])
    running = study.ask()
    study._storage.set_trial_system_attr(running._trial_id, PARENT_KEY, 0)
    figure = plot_lineage(study, running.number, target=lambda trial: trial.values[0])
    assert len(figure.axes[0].collections) == 2
