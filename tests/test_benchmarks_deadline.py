"""The deadline reading: which NATS-Bench cells can finish in time, by the cost model."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from benchmarks import deadline
from benchmarks.nats import EDGE_PARAMS
from benchmarks.nats import NATS_OPERATIONS
from benchmarks.nats import NatsTable
from benchmarks.nats_cost import TrainingCostModel
from tests.benchmarks_support import write_fake_table


@pytest.fixture(scope="module")
def table_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fake_table(tmp_path_factory.mktemp("nats") / "table.csv")


@pytest.fixture(scope="module")
def table(table_path: Path) -> NatsTable:
    return NatsTable.from_csv(table_path)


def test_the_lines_agree_with_a_direct_count(table: NatsTable) -> None:
    cost = TrainingCostModel()
    lines = deadline.deadline_lines(table, cost, regret=0.5, deadline=2.0)
    cells = list(itertools.product(NATS_OPERATIONS, repeat=6))
    accuracy = np.array([table.lookup(dict(zip(EDGE_PARAMS, c, strict=True))) for c in cells])
    near = [c for c, a in zip(cells, accuracy, strict=True) if table.best - a <= 0.5]
    fastest = min(cost.expected_duration(c) for c in near)
    assert lines[0].startswith(f"cells within 0.5 of the optimum: {len(near)} of 15625")
    assert f"their shortest training: {fastest:.3f}" in lines[1]
    assert f"by 2: {2.0 - fastest:.3f}" in lines[2]
    with_convolution = [c for c in cells if "nor_conv_3x3" in c]
    assert f"{min(cost.expected_duration(c) for c in with_convolution):.3f}" in lines[3]


def test_cli_prints_and_refuses_a_missing_table(
    table_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert deadline.main(["--data", str(table_path), "--regret", "1", "--deadline", "3"]) == 0
    assert "latest start to finish by 3" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        deadline.main(["--data", str(tmp_path / "none.csv"), "--regret", "1", "--deadline", "3"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "does not exist" in error and error.count("\n") == 1
