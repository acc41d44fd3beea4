"""Smoke runs of ``python -m benchmarks.compare`` on small problems, and its input checks."""

from __future__ import annotations

import json
from pathlib import Path
import shlex
import subprocess
import sys
from typing import Any

from benchmarks_support import write_fake_table
import numpy as np
import pytest

from benchmarks import compare
from benchmarks import meta
from benchmarks import report
from benchmarks.nats import NatsTable
from benchmarks.runner import run_path


REPOSITORY = Path(__file__).resolve().parent.parent
SMALL_AMOEBA = "amoeba[population_size=5,sample_size=2]"


@pytest.fixture(scope="module")
def table_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fake_table(tmp_path_factory.mktemp("nats") / "table.csv")


def _runs(out: Path, label: str, seeds: range) -> list[dict[str, Any]]:
    return [json.loads(run_path(out, label, seed).read_text()) for seed in seeds]


def _check_run_curves(run: dict[str, Any], n_trials: int) -> None:
    values = np.array(run["values"])
    true = np.array(run["true_values"] if run["true_values"] is not None else run["values"])
    assert len(values) == len(true) == n_trials
    assert len(run["sampler_microseconds_per_trial"]) == n_trials
    assert len(run["wall_microseconds_per_trial"]) == n_trials
    assert min(run["sampler_microseconds_per_trial"]) >= 0
    np.testing.assert_allclose(run["best_observed"], np.maximum.accumulate(values), atol=1e-6)
    # The incumbent is the first trial with the best observed value so far.
    incumbent = [int(np.argmax(values[: k + 1])) for k in range(n_trials)]
    np.testing.assert_allclose(run["incumbent_true_value"], true[incumbent], atol=1e-6)
    if run["optimum"] is not None:
        regret = np.array(run["true_regret"])
        np.testing.assert_allclose(regret, run["optimum"] - true[incumbent], atol=1e-6)
        assert regret.min() >= 0
        np.testing.assert_allclose(
            run["observed_regret"], run["optimum"] - np.array(run["best_observed"]), atol=1e-6
        )


@pytest.mark.slow
def test_nats_comparison_as_a_user_runs_it(table_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "nats"
    argv = [
        "--problem", "nats", "--data", str(table_path),
        "--samplers", f"{SMALL_AMOEBA},tpe,random",
        "--n-trials", "30", "--seeds", "3", "--jobs", "2",
        "--checkpoints", "10", "--out", str(out),
    ]  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.compare", *argv],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "[9/9]" in result.stderr and "ETA" in result.stderr

    meta = json.loads((out / "meta.json").read_text())
    assert meta["command"] == shlex.join(["python", "-m", "benchmarks.compare", *argv])
    assert meta["config"]["checkpoints"] == [10, 30]
    assert meta["config"]["seeds"] == [0, 1, 2]
    assert {"python", "optuna", "numpy", "scipy", "optuna-amoeba"} <= set(meta["versions"])
    assert meta["machine"]["cpu_count"] >= 1 and meta["machine"]["cpu_model"]
    assert meta["git_commit"] and meta["finished"] >= meta["started"]
    # The sampler's effective settings are recorded, defaults included.
    amoeba_settings = meta["sampler_settings"][SMALL_AMOEBA]
    assert amoeba_settings["population_size"] == 5 and amoeba_settings["aging"] is True
    assert "seed" not in amoeba_settings
    assert meta["sampler_settings"]["tpe"]["n_startup_trials"] == 10

    optimum = NatsTable.from_csv(table_path).best
    labels = [SMALL_AMOEBA, "tpe", "random"]
    final: dict[str, list[float]] = {}
    for label in labels:
        runs = _runs(out, label, range(3))
        for run in runs:
            assert run["optimum"] == optimum and run["true_values"] is None
            assert run["sampler"]["label"] == label
            _check_run_curves(run, 30)
        final[label] = [run["true_regret"][-1] for run in runs]
    # Different seeds explore differently.
    assert len({tuple(run["values"]) for run in _runs(out, "random", range(3))}) == 3

    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["samplers"]) == labels
    for label in labels:
        row = summary["samplers"][label]
        assert row["mean_regret"]["30"] == pytest.approx(np.mean(final[label]), abs=1e-9)
        assert row["found_optimum"] == pytest.approx(np.mean(np.array(final[label]) == 0))
    ranks = [summary["samplers"][label]["mean_rank"]["30"] for label in labels]
    assert sum(ranks) == pytest.approx(6.0)  # 1 + 2 + 3 per seed
    assert 0 < summary["mann_whitney_p"]["30"][SMALL_AMOEBA]["random"] <= 1

    readme = (out / "README.md").read_text()
    assert meta["command"] in readme
    for label in labels:
        assert f"| `{label}` |" in readme
    assert "regret @10" in readme and "Mann-Whitney" in readme
    assert (out / "regret.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_noisy_nats_ranks_incumbents_by_observed_value(table_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "noisy"
    argv = [
        "--problem", "nats-noisy", "--data", str(table_path), "--noise-sigma", "2",
        "--samplers", f"{SMALL_AMOEBA},random", "--n-trials", "25", "--seeds", "2",
        "--out", str(out),
    ]  # fmt: skip
    assert compare.main(argv) == 0
    amoeba, random = _runs(out, SMALL_AMOEBA, range(2)), _runs(out, "random", range(2))
    for run in amoeba + random:
        assert run["problem"]["noise_sigma"] == 2.0
        assert run["true_values"] is not None and run["true_values"] != run["values"]
        _check_run_curves(run, 25)
    # Every sampler sees the same noise stream for a given seed, another one for another seed.
    noise = {
        (label, seed): np.subtract(runs[seed]["values"], runs[seed]["true_values"])
        for label, runs in (("amoeba", amoeba), ("random", random))
        for seed in range(2)
    }
    np.testing.assert_allclose(noise["amoeba", 0], noise["random", 0], atol=1e-5)
    # The truly best evaluated trial is never worse than the incumbent chosen by noisy values.
    summary = json.loads((out / "summary.json").read_text())
    for row in summary["samplers"].values():
        assert row["mean_evaluated_regret"]["25"] <= row["mean_regret"]["25"]
    assert "best evaluated @25 | by mean @25" in (out / "README.md").read_text()
    for run in amoeba + random:
        assert len(run["mean_incumbent_true_value"]) == 25
        assert set(run["mean_incumbent_true_value"]) <= set(run["true_values"])
    assert not np.allclose(noise["random", 0], noise["random", 1])
    assert 1.0 < float(np.std(np.concatenate(list(noise.values())))) < 3.0


def test_synthetic_problem_measures_regret_against_the_best_run(tmp_path: Path) -> None:
    out = tmp_path / "synthetic"
    argv = [
        "--problem", "nasnet-synthetic", "--samplers", f"{SMALL_AMOEBA},random",
        "--n-trials", "20", "--seeds", "2", "--out", str(out),
    ]  # fmt: skip
    assert compare.main(argv) == 0
    runs = _runs(out, SMALL_AMOEBA, range(2)) + _runs(out, "random", range(2))
    best = max(run["incumbent_true_value"][-1] for run in runs)
    for run in runs:
        assert run["optimum"] is None and run["true_regret"] is None
        _check_run_curves(run, 20)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["reference"] == pytest.approx(best)
    assert summary["reference_known"] is False
    found = sum(row["found_optimum"] for row in summary["samplers"].values())
    assert found >= 0.5  # at least one run reached the best value of all runs


def _random_on_nats(table_path: Path, out: Path, *, n_trials: int, seeds: int) -> list[str]:
    """``benchmarks.compare`` arguments for random search on the NATS table, ``--out``
    last."""
    return [
        "--problem", "nats", "--data", str(table_path), "--samplers", "random",
        "--n-trials", str(n_trials), "--seeds", str(seeds), "--out", str(out),
    ]  # fmt: skip


def test_rerun_reuses_saved_runs_and_report_rebuilds(
    table_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "again"
    argv = _random_on_nats(table_path, out, n_trials=15, seeds=2)
    assert compare.main(argv) == 0
    saved = run_path(out, "random", 1)
    before = saved.stat().st_mtime_ns
    (out / "README.md").unlink()
    assert compare.main([*argv[:-4], "--seeds", "3", "--out", str(out)]) == 0
    assert "reusing 2 run(s)" in capsys.readouterr().err
    assert saved.stat().st_mtime_ns == before
    assert run_path(out, "random", 2).is_file()
    meta = json.loads((out / "meta.json").read_text())
    assert meta["runs_reused"] == 2
    (earlier,) = meta["earlier_invocations"]
    assert "--seeds 2" in earlier["command"] and earlier["runs_reused"] == 0

    (out / "README.md").unlink()
    assert report.main([str(out)]) == 0
    assert "| `random` |" in (out / "README.md").read_text()


def test_runs_made_by_other_code_are_not_reused(
    table_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Same versions, other sources (a sampler fix without a version bump): run again.
    out = tmp_path / "changed"
    argv = _random_on_nats(table_path, out, n_trials=6, seeds=1)
    assert compare.main(argv) == 0
    saved = run_path(out, "random", 0)
    monkeypatch.setattr(meta, "source_fingerprint", lambda: "other code")
    before = saved.stat().st_mtime_ns
    assert compare.main(argv) == 0
    assert saved.stat().st_mtime_ns != before
    assert json.loads((out / "meta.json").read_text())["runs_reused"] == 0


def test_report_refuses_a_truncated_run_naming_its_length(
    table_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "truncated"
    assert compare.main(_random_on_nats(table_path, out, n_trials=6, seeds=1)) == 0
    path = run_path(out, "random", 0)
    record = json.loads(path.read_text())
    record["incumbent_true_value"] = record["incumbent_true_value"][:4]
    path.write_text(json.dumps(record))
    capsys.readouterr()
    assert report.main([str(out)]) == 2
    assert f"run {path} has 4 trials, not 6" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--problem", "nats", "--samplers", "random"], "needs --data PATH"),
        (["--problem", "nats", "--data", "{table}", "--samplers", "nope"], "unknown sampler"),
        (
            ["--problem", "nats", "--data", "{table}", "--samplers", "amoeba[population_size=0]"],
            "population_size",
        ),
        (["--problem", "nats", "--data", "{table}", "--noise-sigma", "1"], "nats-noisy only"),
        (["--problem", "nats", "--data", "{missing}"], "does not exist"),
        (["--problem", "nats", "--data", "{table}", "--checkpoints", "500"], "--checkpoints"),
        (["--problem", "nats", "--data", "{table}", "--seeds", "0"], "--seeds"),
        (["--problem", "nats-noisy", "--data", "{table}", "--noise-sigma", "-1"], "float > 0"),
        (["--problem", "nope"], "--problem"),
        (["--problem", "nats", "--data", "{table}", "--samplers", "tpe,tpe"], "listed twice"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    table_path: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    argv = [arg.format(table=table_path, missing=tmp_path / "missing.csv") for arg in extra] + [
        "--n-trials",
        "10",
        "--out",
        str(tmp_path / "out"),
    ]
    with pytest.raises(SystemExit) as exit_info:
        compare.main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_out_folder_of_another_comparison_is_refused(
    table_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "taken"
    base = ["--problem", "nats", "--data", str(table_path), "--samplers", "random"]
    assert compare.main([*base, "--n-trials", "5", "--seeds", "1", "--out", str(out)]) == 0
    before = (out / "meta.json").read_text()
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        compare.main([*base, "--n-trials", "6", "--seeds", "1", "--out", str(out)])
    assert exit_info.value.code == 2
    assert "another n_trials" in capsys.readouterr().err
    assert (out / "meta.json").read_text() == before


@pytest.mark.slow
def test_digits_real_training_smoke(tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="the digits problem trains with torch (the nas extra)")
    pytest.importorskip("lightning", reason="the digits problem trains with Lightning")
    out = tmp_path / "digits"
    argv = [
        "--problem", "digits", "--samplers", "amoeba[population_size=1,sample_size=1],random",
        "--n-trials", "2", "--seeds", "1", "--jobs", "2",
        "--train-option", "num_cells=1", "--train-option", "num_filters=4",
        "--train-option", "batch_size=16", "--train-option", "limit_train_batches=1",
        "--out", str(out),
    ]  # fmt: skip
    assert compare.main(argv) == 0
    meta = json.loads((out / "meta.json").read_text())
    assert meta["config"]["problem"]["training"] == {
        "batch_size": 16,
        "limit_train_batches": 1,
        "num_cells": 1,
        "num_filters": 4,
    }
    assert "torch" in meta["versions"] and "lightning" in meta["versions"]
    for label in ("amoeba[population_size=1,sample_size=1]", "random"):
        (run,) = _runs(out, label, range(1))
        _check_run_curves(run, 2)
        assert all(0 <= value <= 100 for value in run["values"])
    assert (out / "regret.png").is_file() and "| `random` |" in (out / "README.md").read_text()


def test_bad_training_option_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    pytest.importorskip("lightning", reason="the digits problem trains with Lightning")
    argv = ["--problem", "digits", "--train-option", "num_celss=1", "--out", str(tmp_path / "o")]
    with pytest.raises(SystemExit) as exit_info:
        compare.main(argv)
    assert exit_info.value.code == 2
    assert "'num_celss' is not one of" in capsys.readouterr().err
