from __future__ import annotations

from pathlib import Path
import sys

import optuna
from optuna.artifacts import FileSystemArtifactStore
from optuna.artifacts import get_all_artifact_meta
from optuna.trial import TrialState
import pytest

from lightning_modules.data import DigitsDataModule
from lightning_modules.objective import make_objective
from optuna_amoeba.nasnet import Genotype


pytestmark = pytest.mark.usefixtures("one_torch_thread")


class _AlwaysPrune(optuna.pruners.BasePruner):
    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return True


def _tiny_objective(**options: object) -> object:
    settings: dict[str, object] = {
        "dataset": DigitsDataModule(batch_size=32),
        "epochs": 2,
        "num_cells": 1,
        "num_filters": 4,
        "batch_size": 32,
        "limit_train_batches": 2,
        "accelerator": "cpu",
        "seed": 0,
    }
    settings.update(options)
    return make_objective(**settings)  # type: ignore[arg-type]


def test_trial_records_genotype_size_time_and_cell_picture(tmp_path: Path) -> None:
    store = FileSystemArtifactStore(tmp_path / "artifacts")
    (tmp_path / "artifacts").mkdir()
    study = optuna.create_study(direction="maximize", storage=f"sqlite:///{tmp_path / 'study.db'}")
    study.optimize(_tiny_objective(artifact_store=store), n_trials=1)  # type: ignore[arg-type]

    trial = study.trials[0]
    assert trial.state == TrialState.COMPLETE
    assert 0.0 <= trial.value <= 1.0  # type: ignore[operator]
    assert sorted(trial.intermediate_values) == [0, 1]
    assert trial.intermediate_values[1] == trial.value
    genotype = Genotype.parse(trial.user_attrs["genotype"])
    assert genotype == Genotype.from_params(trial.params)
    assert trial.user_attrs["params"] > 1000
    assert trial.user_attrs["flops"] > trial.user_attrs["params"]
    assert trial.user_attrs["train_seconds"] > 0

    artifacts = get_all_artifact_meta(trial, storage=study._storage)
    assert len(artifacts) == 1
    assert artifacts[0].artifact_id == trial.user_attrs["cell_picture_artifact"]
    assert artifacts[0].mimetype == "image/png"
    with store.open_reader(artifacts[0].artifact_id) as reader:
        assert reader.read(8) == b"\x89PNG\r\n\x1a\n"


def test_pruned_trial_is_pruned_after_its_first_report() -> None:
    study = optuna.create_study(direction="maximize", pruner=_AlwaysPrune())
    study.optimize(_tiny_objective(), n_trials=1)  # type: ignore[arg-type]
    trial = study.trials[0]
    assert trial.state == TrialState.PRUNED
    assert list(trial.intermediate_values) == [0]
    assert trial.user_attrs["train_seconds"] > 0


def test_same_seed_trains_the_same_trial() -> None:
    values = []
    for _ in range(2):
        study = optuna.create_study(
            direction="maximize", sampler=optuna.samplers.RandomSampler(seed=4)
        )
        study.optimize(_tiny_objective(epochs=1, pruning=False), n_trials=1)  # type: ignore[arg-type]
        values.append((study.trials[0].params, study.trials[0].value))
    assert values[0] == values[1]


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("epochs", 0, "epochs must be an int >= 1, got 0"),
        ("num_cells", 0, "num_cells must be an int >= 1, got 0"),
        ("seed", -1, r"seed must be an int in \[0, 4294967295\], got -1"),
        ("seed", 2**32, r"seed must be an int in \[0, 4294967295\], got 4294967296"),
        ("learning_rate", float("nan"), "learning_rate must be a finite number > 0, got nan"),
        ("weight_decay", float("inf"), "weight_decay must be a finite number >= 0, got inf"),
        ("label_smoothing", 1.0, r"label_smoothing must be a number in \[0, 1\), got 1.0"),
        ("dataset", "imagenet", "dataset must be one of cifar10, digits, imagefolder:PATH; got"),
        ("val_size", 0, "val_size must be >= 1: the search's fitness is the validation"),
        ("operations", ["identity", "conv_9x9"], "operations must be a non-empty subset of"),
        ("operations", ["identity", "identity"], "operations must not repeat"),
    ],
)
def test_make_objective_rejects_bad_arguments(option: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _tiny_objective(**{option: value})


def test_make_objective_refuses_a_batch_larger_than_the_training_images_at_once() -> None:
    # digits: 1,797 images, less 360 for testing and 288 for validation, leave 1,149.
    message = r"batch_size must be at most the 1149 training images of digits, got 1150"
    with pytest.raises(ValueError, match=message):
        _tiny_objective(dataset="digits", batch_size=1150)
    study = optuna.create_study(direction="maximize")
    study.optimize(_tiny_objective(dataset="digits", batch_size=1149, epochs=1), n_trials=1)  # type: ignore[arg-type]
    assert study.trials[0].state == TrialState.COMPLETE


def test_cell_pictures_are_uploaded_without_optuna_dashboard(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only the note that embeds the picture needs optuna-dashboard (the viz extra).
    monkeypatch.setitem(sys.modules, "optuna_dashboard", None)
    store = FileSystemArtifactStore(tmp_path)
    study = optuna.create_study(direction="maximize")
    study.optimize(_tiny_objective(artifact_store=store), n_trials=1)  # type: ignore[arg-type]
    trial = study.trials[0]
    assert trial.state == TrialState.COMPLETE
    artifacts = get_all_artifact_meta(trial, storage=study._storage)
    assert [artifact.artifact_id for artifact in artifacts] == [
        trial.user_attrs["cell_picture_artifact"]
    ]
    assert not study._storage.get_study_system_attrs(study._study_id)  # no dashboard note
