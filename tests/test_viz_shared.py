"""What the figures, files and dashboard share: the value per trial, mutation groups, genotypes
and population settings."""

from __future__ import annotations

from pathlib import Path
import subprocess
import sys

from matplotlib.collections import PathCollection
import numpy as np
import optuna
from optuna.distributions import FloatDistribution
import pytest

from optuna_amoeba import AgingEvolutionSampler
from optuna_amoeba import MUTATION_KEY
from optuna_amoeba import nasnet
from optuna_amoeba.visualization import plot_cell
from optuna_amoeba.visualization import plot_lineage
from optuna_amoeba.visualization import plot_progress
from optuna_amoeba.visualization import write_figures
from optuna_amoeba.visualization._history import describe_change
from optuna_amoeba.visualization._history import genotype_of
from optuna_amoeba.visualization._history import group_by_mutation
from optuna_amoeba.visualization._history import population_settings
from optuna_amoeba.visualization._history import UNKNOWN_MUTATION
from optuna_amoeba.visualization._history import value_function


optuna.logging.set_verbosity(optuna.logging.WARNING)
X = FloatDistribution(-100, 100)


def _two_objective_study() -> optuna.Study:
    study = optuna.create_study(directions=["maximize", "minimize"])
    for number, (accuracy, size) in enumerate([(0.5, 9.0), (0.7, 3.0), (0.6, 1.0)]):
        study.add_trial(
            optuna.trial.create_trial(
                params={"x": float(number)},
                distributions={"x": X},
                values=[accuracy, size],
                system_attrs={MUTATION_KEY: "random" if number == 0 else "param"},
            )
        )
    return study


def _scatter_y(figure: object) -> list[float]:
    return sorted(
        float(y)
        for collection in figure.axes[0].collections  # type: ignore[attr-defined]
        if isinstance(collection, PathCollection)
        for _, y in collection.get_offsets()
    )


def test_every_figure_draws_a_multi_objective_study_by_its_first_objective(
    tmp_path: Path,
) -> None:
    study = _two_objective_study()
    value_of, label = value_function(study, None, "accuracy")
    assert [value_of(trial) for trial in study.trials] == [0.5, 0.7, 0.6]
    assert label == "accuracy (objective 0)"
    progress = plot_progress(study, target_name="accuracy")
    assert progress.axes[0].get_ylabel() == "accuracy (objective 0)"
    assert _scatter_y(progress) == [0.5, 0.6, 0.7]
    assert plot_lineage(study, 2).axes[0].get_ylabel() == "Objective Value (objective 0)"
    written = write_figures(study, tmp_path, trials=[1])
    assert sorted(path.name for path in written) == ["progress.png", "trial_1_lineage.png"]
    pytest.importorskip("plotly", reason="plotly is not installed (extra 'viz')")
    from optuna_amoeba.visualization import dashboard

    figure = dashboard.progress_figure(study)
    assert figure.layout.yaxis.title.text == "objective value (objective 0)"
    dots = [trace for trace in figure.data if trace.mode == "markers"]
    assert sorted(y for trace in dots for y in trace.y) == [0.5, 0.6, 0.7]
    assert "objective value (objective 0) **0.7**" in dashboard.best_note(study)


def test_mutation_groups_are_the_same_in_matplotlib_and_plotly() -> None:
    study = optuna.create_study()
    for number, mutation in enumerate(["random", None, "op", "random"]):
        study.add_trial(
            optuna.trial.create_trial(
                params={"x": float(number)},
                distributions={"x": X},
                value=float(number),
                system_attrs={} if mutation is None else {MUTATION_KEY: mutation},
            )
        )
    groups = group_by_mutation(study.trials)
    assert list(groups) == ["random", UNKNOWN_MUTATION, "op"]
    assert [[trial.number for trial in members] for members in groups.values()] == [
        [0, 3],
        [1],
        [2],
    ]
    legend = [text.get_text() for text in plot_progress(study).axes[0].get_legend().get_texts()]
    assert legend[:3] == ["trial (random)", "trial (unknown)", "trial (op)"]
    pytest.importorskip("plotly", reason="plotly is not installed (extra 'viz')")
    from optuna_amoeba.visualization import dashboard

    names = [trace.name for trace in dashboard.progress_figure(study).data]
    assert names[:3] == ["trial (random)", "trial (unknown)", "trial (op)"]


def test_cells_of_a_trial_with_its_own_operations_are_drawn(tmp_path: Path) -> None:
    operations = ("conv", "pool")
    study = optuna.create_study()
    trial = study.ask()
    genotype = nasnet.suggest_genotype(trial, num_blocks=2, operations=operations)
    study.tell(trial, 1.0)
    assert genotype_of(study.trials[0]) == genotype
    written = write_figures(study, tmp_path)
    assert "trial_0_cells.png" in {path.name for path in written}
    with pytest.raises(ValueError, match="no NASNet parameter"):
        genotype_of(optuna.trial.create_trial(params={"x": 1.0}, distributions={"x": X}, value=1))


def test_describe_change_labels_only_nasnet_names() -> None:
    params = nasnet.AMOEBANET_A.to_params()
    child = dict(params, normal_b0_input_a=1 - params["normal_b0_input_a"])
    assert describe_change(params, child) == (
        f"normal b0 input a: h{params['normal_b0_input_a']} → h{child['normal_b0_input_a']}"
    )
    assert describe_change({"normal_b01_input_a": 1}, {"normal_b01_input_a": 0}) == (
        "normal_b01_input_a: 1 → 0"
    )


def test_population_defaults_are_the_samplers() -> None:
    default = AgingEvolutionSampler()
    without_sampler = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    assert population_settings(without_sampler, None, None) == (
        default.population_size,
        default.aging,
    )
    own = optuna.create_study(
        sampler=AgingEvolutionSampler(population_size=7, sample_size=2, aging=False)
    )
    assert population_settings(own, None, None) == (7, False)
    assert population_settings(own, 3, True) == (3, True)
    without_sampler.add_trial(
        optuna.trial.create_trial(params={"x": 1.0}, distributions={"x": X}, value=1.0)
    )
    labels = [line.get_label() for line in plot_progress(without_sampler).axes[0].get_lines()]
    assert f"population best (P={default.population_size}, aging)" in labels


def _small_study() -> optuna.Study:
    study = optuna.create_study(sampler=AgingEvolutionSampler(population_size=4, seed=0))
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=8)
    return study


def test_numpy_trial_numbers_are_trial_numbers(tmp_path: Path) -> None:
    study = _small_study()
    assert plot_lineage(study, np.int64(3)) is not None
    written = write_figures(study, tmp_path, trials=[np.int64(1), 1, np.int32(1)])
    # One trial named three ways is drawn once.
    assert sorted(path.name for path in written) == ["progress.png", "trial_1_lineage.png"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"formats": None}, "formats must be a non-empty selection of png, svg, pdf, got None"),
        ({"formats": 5}, "formats must be a non-empty selection of png, svg, pdf, got 5"),
        ({"formats": ["png", "gif"]}, "got ['png', 'gif']"),
        ({"dpi": 1e6}, "dpi must be a number in (0, 600], got 1000000.0"),
    ],
)
def test_write_figures_refuses_bad_options_before_writing(
    tmp_path: Path, options: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError) as error:
        write_figures(_small_study(), tmp_path / "out", **options)  # type: ignore[arg-type]
    assert message in str(error.value)
    assert not (tmp_path / "out").exists()


def test_a_genotype_without_blocks_is_refused_by_its_cells() -> None:
    empty = nasnet.Genotype(nasnet.Cell(()), nasnet.Cell(()))
    with pytest.raises(ValueError, match="normal cell must have at least 1 block, got 0"):
        plot_cell(empty)


def test_without_matplotlib_the_import_names_the_extra() -> None:
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "try:\n    import optuna_amoeba.visualization\n"
        "except ImportError as error:\n    print(error)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "optuna_amoeba.visualization needs matplotlib: pip install 'optuna-amoeba[viz]'"
    )
