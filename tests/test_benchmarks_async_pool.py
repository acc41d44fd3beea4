"""Pooling asynchronous comparisons of one design (benchmarks.async_pool)."""

from __future__ import annotations

import json
from pathlib import Path
import shutil

from benchmarks_support import write_fake_table
import pytest

from benchmarks import async_pool
from benchmarks import asynchronous


pytestmark = pytest.mark.usefixtures("quiet_optuna")

SAMPLERS = "amoeba[population_size=8,sample_size=3],tpe"


def _compare(table: Path, out: Path, first_seed: int, seeds: int, *extra: str) -> Path:
    """Run a small comparison into ``out``; ``extra`` options override the ones here."""
    argv = [
        "--data", str(table), "--samplers", SAMPLERS, "--workers", "1,4", "--trainings", "24",
        "--seeds", str(seeds), "--first-seed", str(first_seed), "--noise-sigma", "0.3",
        "--target", "1.0", "--first-wave", "shared", "--out", str(out), *extra,
    ]  # fmt: skip
    assert asynchronous.main(argv) == 0
    return out


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pool")
    table = write_fake_table(root / "table.csv")
    return {
        "table": table,
        "first": _compare(table, root / "first", 30000, 2),
        "second": _compare(table, root / "second", 30002, 3),
        "all": _compare(table, root / "all", 30000, 5),
    }


def test_pooled_report_equals_one_comparison_of_every_seed(
    folders: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "pooled"
    argv = [str(folders["first"]), str(folders["second"]), "--out", str(out)]
    assert async_pool.main(argv) == 0
    pooled = json.loads((out / "summary.json").read_text())
    whole = json.loads((folders["all"] / "summary.json").read_text())
    assert pooled["num_seeds"] == 5 and pooled["first_wave"] == "shared"
    assert list(pooled["samplers"]) == list(whole["samplers"])
    for label in whole["samplers"]:
        for k in ("1", "4"):
            mine, theirs = pooled["samplers"][label][k], whole["samplers"][label][k]
            for field in ("mean_regret", "p90_regret", "first_wave_share", "time_to_target"):
                assert mine[field] == theirs[field], (label, k, field)
    assert pooled["wilcoxon_p_vs_first"] == whole["wilcoxon_p_vs_first"]
    assert pooled["first_at_or_below_every_tpe"] == whole["first_at_or_below_every_tpe"]
    readme = (out / "README.md").read_text()
    assert "5 seeds from 2 comparisons" in readme
    assert "seeds 30000-30001" in readme and "seeds 30002-30004" in readme
    assert f"python -m benchmarks.async_pool {folders['first']}" in readme
    assert (out / "regret_time.png").is_file() and (out / "speedup.png").is_file()


def test_pooling_keeps_the_samplers_and_workers_every_source_ran(
    folders: dict[str, Path], tmp_path: Path
) -> None:
    narrow = tmp_path / "narrow"
    _compare(folders["table"], narrow, 30100, 1, "--samplers", "tpe", "--workers", "4")
    out = tmp_path / "pooled"
    assert async_pool.main([str(folders["first"]), str(narrow), "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["samplers"]) == ["tpe"] and summary["workers"] == [4]
    assert summary["num_seeds"] == 3


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ((), "seeds in more than one comparison: [30000, 30001]"),
        (("--trainings", "48"), "differ in trainings: not one design"),
        (("--first-wave", "own"), "differ in first_wave: not one design"),
    ],
)
def test_pooling_refuses_what_is_not_one_design_in_one_line(
    folders: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: tuple[str, ...],
    message: str,
) -> None:
    other = tmp_path / "other"
    first_seed = 30000 if not extra else 30200
    _compare(folders["table"], other, first_seed, 2, *extra)
    capsys.readouterr()
    out = tmp_path / "pooled"
    assert async_pool.main([str(folders["first"]), str(other), "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert message in error and len(error.strip().splitlines()) == 1
    assert not out.exists()


def test_pooling_refuses_a_sampler_that_ran_with_other_settings(
    folders: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # As a source run by a version whose TPESampler had another default would record it.
    other = tmp_path / "other"
    shutil.copytree(folders["second"], other)
    meta = json.loads((other / "meta.json").read_text())
    meta["sampler_settings"]["tpe"]["n_ei_candidates"] = 12
    (other / "meta.json").write_text(json.dumps(meta))
    assert async_pool.main([str(folders["first"]), str(other), "--out", str(tmp_path / "p")]) == 2
    assert "differ in sampler 'tpe''s settings" in capsys.readouterr().err


def test_pooling_refuses_a_folder_without_a_comparison(
    folders: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [str(folders["first"]), str(tmp_path), "--out", str(tmp_path / "pooled")]
    assert async_pool.main(argv) == 2
    assert "not an asynchronous comparison folder" in capsys.readouterr().err
    argv = [str(folders["first"]), "--out", str(folders["first"])]
    assert async_pool.main(argv) == 2
    assert "is one of the sources" in capsys.readouterr().err
