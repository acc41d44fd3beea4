"""The load benchmark's bulk fill writes what the public API reads back, or refuses."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from benchmarks.load import bulk_insert_completed
from benchmarks.load import random_trials


def test_bulk_insert_reads_back_as_add_trials_would_write(tmp_path: Path) -> None:
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'load.db'}")
    study = optuna.create_study(storage=storage, direction="maximize")
    trials = random_trials(30, num_blocks=2, seed=0)
    bulk_insert_completed(storage, study._study_id, trials)
    stored = study.get_trials()
    assert [t.number for t in stored] == list(range(30))
    assert [(t.params, t.values, t.distributions) for t in stored] == [
        (t.params, t.values, t.distributions) for t in trials
    ]


def test_bulk_insert_refuses_another_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'load.db'}")
    study = optuna.create_study(storage=storage)
    monkeypatch.setattr(storage, "get_current_version", lambda: "v9.9.9")
    with pytest.raises(RuntimeError, match=r"v9\.9\.9"):
        bulk_insert_completed(storage, study._study_id, random_trials(2, 2, 0))
    assert study.get_trials() == []
