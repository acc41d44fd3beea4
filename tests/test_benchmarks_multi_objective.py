"""The two-objective benchmark: hypervolume, the NATS size model, ``--problem nats-size``."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from benchmarks_support import write_fake_table
import numpy as np
from optuna._hypervolume import compute_hypervolume
import pytest

from benchmarks import compare
from benchmarks import multi_objective
from benchmarks.hypervolume import hypervolume_2d
from benchmarks.hypervolume import hypervolume_history
from benchmarks.nats import EDGE_PARAMS
from benchmarks.nats import NATS_OPERATIONS
from benchmarks.nats_cost import edge_cost
from benchmarks.nats_cost import network_cost
from benchmarks.nats_size import load_size_problem
from benchmarks.runner import run_path


SMALL_AMOEBA = "amoeba[population_size=6,sample_size=3]"


@pytest.fixture(scope="module")
def table_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fake_table(tmp_path_factory.mktemp("nats") / "table.csv")


def test_hypervolume_of_a_hand_drawn_set() -> None:
    # Boxes [0.2, 1] x [0.6, 1] (0.32) and [0.5, 1] x [0.3, 1] (0.35) overlap in
    # [0.5, 1] x [0.6, 1] (0.2): 0.47. (0.6, 0.6) is dominated, (1.2, 0.1) lies beyond the
    # reference and (0.5, 1.0) on its edge: they add nothing.
    points = np.array([[0.2, 0.6], [0.5, 0.3], [0.6, 0.6], [1.2, 0.1], [0.5, 1.0]])
    assert hypervolume_2d(points, (1.0, 1.0)) == pytest.approx(0.47)
    assert hypervolume_2d(points[[1, 0]], (1.0, 1.0)) == pytest.approx(0.47)
    assert hypervolume_2d(np.empty((0, 2)), (1.0, 1.0)) == 0.0
    assert hypervolume_2d(np.array([[0.0, 0.0]]), (2.0, 3.0)) == pytest.approx(6.0)


@pytest.mark.parametrize("seed", range(5))
def test_hypervolume_agrees_with_optuna(seed: int) -> None:
    rng = np.random.default_rng(seed)
    # Coarse values give ties and repeated points; some points are dominated.
    points = np.round(rng.uniform(0, 1, size=(60, 2)), 1)
    reference = np.array([1.0, 1.0])
    expected = compute_hypervolume(points, reference)
    assert expected > 0
    assert hypervolume_2d(points, reference) == pytest.approx(expected, abs=1e-12)


def test_hypervolume_history_is_the_hypervolume_of_each_prefix() -> None:
    rng = np.random.default_rng(7)
    points = rng.uniform(0, 1.1, size=(80, 2))
    history = hypervolume_history(points, (1.0, 1.0))
    expected = [hypervolume_2d(points[: k + 1], (1.0, 1.0)) for k in range(len(points))]
    np.testing.assert_allclose(history, expected, atol=1e-12)
    assert np.all(np.diff(history) >= 0)


def _cost(ops: tuple[str, ...]) -> tuple[int, int]:
    cost = network_cost(ops)
    return cost.parameters, cost.flops


def test_network_cost_of_hand_computed_cells() -> None:
    # Outside the cells: stem 3·16·9 + 2·16 = 464; reduction blocks 16→32: 16·32·9 + 64 +
    # 32·32·9 + 64 + 16·32 = 14,464 and 32→64: 57,600; final BN 128; classifier 64·10 + 10.
    # FLOPs (multiply-accumulates): stem 442,368; blocks 3,670,016 each; classifier 650.
    assert _cost(("none",) * 6) == (73_306, 7_783_050)
    assert _cost(("skip_connect", "avg_pool_3x3") * 3) == (73_306, 7_783_050)
    # A 3x3 edge in all 15 cells: 5·Σ(9C² + 2C) = 5·(2,336 + 9,280 + 36,992) = 243,040
    # weights; 15 · 9C²·HW = 15 · 2,359,296 FLOPs (C² HW is the same in every stage).
    # A 1x1 edge: 5·Σ(C² + 2C) = 28,000 weights, 15 · 262,144 FLOPs.
    assert _cost(("nor_conv_3x3",) * 6) == (73_306 + 6 * 243_040, 7_783_050 + 90 * 2_359_296)
    mixed = (
        "nor_conv_3x3",
        "nor_conv_1x1",
        "skip_connect",
        "avg_pool_3x3",
        "none",
        "nor_conv_1x1",
    )
    assert _cost(mixed) == (
        73_306 + 243_040 + 2 * 28_000,
        7_783_050 + 15 * (2_359_296 + 2 * 262_144),
    )
    # NAS-Bench-201's CIFAR-10 range: 0.073306 to 1.531546 M parameters, 7.78305 to
    # 220.11969 M FLOPs.
    assert _cost(("nor_conv_3x3",) * 6) == (1_531_546, 220_119_690)
    assert edge_cost("nor_conv_1x1", 32, 16).parameters == 32 * 32 + 64
    with pytest.raises(ValueError, match="operation must be one of none, skip_connect"):
        edge_cost("sep_conv_3x3", 16, 32)
    with pytest.raises(ValueError, match="expected 6 edge operations, got 5"):
        network_cost(("none",) * 5)


def test_size_problem_front_and_normalisation(table_path: Path) -> None:
    problem = load_size_problem(str(table_path))
    best = dict(zip(EDGE_PARAMS, ("nor_conv_3x3",) * 6, strict=True))
    assert problem.values(best) == (problem.table.best, 1.531546)
    accuracy = problem.table.accuracy.reshape(-1)
    size = problem.parameters.reshape(-1)
    front = problem.pareto_front()
    # Independently: the best accuracy of each size, kept where it beats every smaller size.
    optimal = set()
    for level in np.unique(size):
        best_here = accuracy[size == level].max()
        if not np.any(accuracy[size < level] >= best_here):
            optimal.add((float(best_here), float(level)))
    assert {tuple(point) for point in front.tolist()} == optimal
    assert np.all(np.diff(front[:, 1]) > 0) and np.all(np.diff(front[:, 0]) > 0)
    losses = problem.losses(np.array([[accuracy.max(), size.min()], [accuracy.min(), size.max()]]))
    np.testing.assert_allclose(losses, [[0.0, 0.0], [1.0, 1.0]])
    # Every architecture's size comes from the model.
    for index in itertools.islice(itertools.product(range(5), repeat=6), 0, 15625, 997):
        ops = tuple(NATS_OPERATIONS[i] for i in index)
        assert problem.parameters[index] == network_cost(ops).parameters / 1e6


@pytest.mark.slow
def test_nats_size_comparison_as_a_user_runs_it(table_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "mo"
    labels = [SMALL_AMOEBA, "nsgaii[population_size=6]", "random"]
    argv = [
        "--problem", "nats-size", "--data", str(table_path), "--samplers", ",".join(labels),
        "--n-trials", "24", "--seeds", "2", "--checkpoints", "12", "--out", str(out),
    ]  # fmt: skip
    assert compare.main(argv) == 0
    problem = load_size_problem(str(table_path))
    maximum = hypervolume_2d(problem.losses(problem.pareto_front()), (1.0, 1.0))
    final: dict[str, list[float]] = {}
    for label in labels:
        for seed in range(2):
            run = json.loads(run_path(out, label, seed).read_text())
            values = np.array(run["values"])
            assert values.shape == (24, 2)
            history = hypervolume_history(problem.losses(values), (1.0, 1.0))
            np.testing.assert_allclose(run["hypervolume"], history, atol=1e-8)
            assert run["max_hypervolume"] == pytest.approx(maximum)
            assert max(run["hypervolume"]) <= maximum + 1e-12
            assert run["front_points_found"][-1] <= len(problem.pareto_front())
            final.setdefault(label, []).append(run["hypervolume"][-1])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["checkpoints"] == [12, 24]
    for label in labels:
        row = summary["samplers"][label]
        assert row["mean_hypervolume"]["24"] == pytest.approx(np.mean(final[label]), abs=1e-8)
        assert row["mean_gap"]["24"] == pytest.approx(maximum - np.mean(final[label]), abs=1e-8)
    assert 0 < summary["mann_whitney_p"]["24"][SMALL_AMOEBA]["random"] <= 1
    readme = (out / "README.md").read_text()
    assert json.loads((out / "meta.json").read_text())["command"] in readme
    assert "hypervolume @24" in readme and "Mann-Whitney" in readme
    assert "0.073306 to 1.531546 million parameters" in readme
    for picture in ("hypervolume.png", "pareto_front.png"):
        assert (out / picture).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        (out / picture).unlink()
    assert multi_objective.main([str(out)]) == 0
    assert (out / "pareto_front.png").is_file() and (out / "hypervolume.png").is_file()


def test_nats_size_needs_the_table(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        compare.main(["--problem", "nats-size", "--out", str(tmp_path / "x")])
    assert exit_info.value.code == 2
    assert "problem 'nats-size' needs --data PATH" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
