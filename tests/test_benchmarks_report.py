from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import mannwhitneyu

from benchmarks.report import Comparison
from benchmarks.report import markdown_tables
from benchmarks.report import plot_regret
from benchmarks.report import summarize


def _comparison(
    evaluated: dict[str, np.ndarray] | None = None,
    by_mean: dict[str, np.ndarray] | None = None,
) -> Comparison:
    # 4 seeds x 3 evaluations; regret at evaluation 3 (the last column) decides the ranks.
    regret = {
        "a": np.array([[2, 1, 0], [2, 2, 0], [3, 1, 1], [2, 2, 0]], dtype=float),
        "b": np.array([[3, 3, 1], [3, 2, 2], [3, 3, 1], [3, 3, 3]], dtype=float),
        "c": np.array([[1, 1, 1], [2, 1, 0], [2, 2, 2], [4, 4, 4]], dtype=float),
    }
    return Comparison(
        meta={"config": {"problem": {"name": "toy"}}},
        labels=["a", "b", "c"],
        seeds=[0, 1, 2, 3],
        checkpoints=[1, 3],
        regret=regret,
        evaluated_regret=evaluated,
        by_mean_regret=by_mean,
        wall_per_trial={k: np.full(4, 0.002) for k in regret},
        sampler_per_trial={k: np.full(4, 0.001) for k in regret},
        reference=10.0,
        reference_known=True,
        unit="points",
        regret_floor=1e-3,
    )


def test_summary_numbers() -> None:
    summary = summarize(_comparison())
    a, b, c = (summary["samplers"][k] for k in "abc")
    assert a["mean_regret"] == {"1": 2.25, "3": 0.25}
    assert a["se_regret"]["3"] == pytest.approx(0.5 / math.sqrt(4))
    assert (a["found_optimum"], b["found_optimum"], c["found_optimum"]) == (0.75, 0.0, 0.25)
    # Ranks at evaluation 3, per seed (ties share the mean rank):
    # seed 0: a0 b1 c1 -> 1, 2.5, 2.5; seed 1: a0 b2 c0 -> 1.5, 3, 1.5;
    # seed 2: a1 b1 c2 -> 1.5, 1.5, 3; seed 3: a0 b3 c4 -> 1, 2, 3.
    assert a["mean_rank"]["3"] == pytest.approx((1 + 1.5 + 1.5 + 1) / 4)
    assert b["mean_rank"]["3"] == pytest.approx((2.5 + 3 + 1.5 + 2) / 4)
    assert c["mean_rank"]["3"] == pytest.approx((2.5 + 1.5 + 3 + 3) / 4)
    expected = mannwhitneyu([0, 0, 1, 0], [1, 2, 1, 3], alternative="two-sided").pvalue
    assert summary["mann_whitney_p"]["3"]["a"]["b"] == pytest.approx(expected)
    assert summary["mann_whitney_p"]["3"]["b"]["a"] == pytest.approx(expected)
    assert a["wall_seconds_per_trial"] == pytest.approx(0.002)


def test_tables_show_every_sampler_and_the_better_side() -> None:
    text = markdown_tables(summarize(_comparison()))
    assert "| `a` | 2.250 ± 0.250 | 0.250 ± 0.250 | 75% | 1.25 | 2.00 | 1.00 |" in text
    assert "| `b` |" in text and "| `c` |" in text
    p_row = next(line for line in text.splitlines() if line.startswith("| `b` | ") and "(" in line)
    assert "(a)" in p_row  # a has the lower mean regret than b at both checkpoints


def test_noisy_comparisons_add_the_best_evaluated_column() -> None:
    assert "best evaluated" not in markdown_tables(summarize(_comparison()))
    evaluated = {k: np.zeros((4, 3)) for k in "abc"}
    evaluated["b"][:, 2] = [1, 0, 1, 0]
    summary = summarize(_comparison(evaluated))
    assert summary["samplers"]["b"]["mean_evaluated_regret"] == {"1": 0.0, "3": 0.5}
    text = markdown_tables(summary)
    assert "| sampler | regret @1 | regret @3 | best evaluated @3 | found optimum |" in text
    assert "| `b` | 3.000 ± 0.000 | 1.750 ± 0.479 | 0.500 | 0% |" in text


def test_noisy_comparisons_add_the_by_mean_column() -> None:
    evaluated = {k: np.zeros((4, 3)) for k in "abc"}
    by_mean = {k: np.ones((4, 3)) for k in "abc"}
    by_mean["a"][:, 2] = [0, 0, 2, 2]
    summary = summarize(_comparison(evaluated, by_mean))
    assert summary["samplers"]["a"]["mean_by_mean_regret"]["3"] == 1.0
    text = markdown_tables(summary)
    assert "| best evaluated @3 | by mean @3 | found optimum |" in text
    assert "| `a` | 2.250 ± 0.250 | 0.250 ± 0.250 | 0.000 | 1.000 ± 0.577 | 75% |" in text


def test_incumbent_by_mean_follows_the_recommended_pessimistic_mean() -> None:
    from benchmarks.runner import incumbents_by_mean

    # "a" is truly 1.0, drawn 5.0 then -2.0: the pooled noise becomes 4.95, so a's mean 1.5
    # counts as 1.5 - 4.95/sqrt(2) = -2.0, above b's single 2.0 - 4.95 and, once "c" ties "b"
    # (the earlier set stays), above c's too. c's second draw (3.0) pools the noise to 3.54:
    # c at 2.5 - 3.54/sqrt(2) = 0.0 passes a at 1.5 - 2.5 = -1.0.
    params = [{"arch": name} for name in ["a", "b", "a", "c", "c"]]
    observed = [5.0, 2.0, -2.0, 2.0, 3.0]
    true = [1.0, 2.5, 1.0, 2.2, 2.2]
    assert incumbents_by_mean(params, observed, true) == [1.0, 1.0, 1.0, 1.0, 2.2]


def test_plot_is_written(tmp_path: Path) -> None:
    path = tmp_path / "regret.png"
    plot_regret(_comparison(), path)
    assert path.read_bytes()[:4] == b"\x89PNG"
