"""The overhead benchmark: interleaved windows, medians, one-line refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import overhead


def test_windows_interleave_and_the_report_gives_medians(tmp_path: Path) -> None:
    out = tmp_path / "overhead"
    overhead.main(
        ["--sizes", "40", "60", "--window", "4", "--tpe-window", "2", "--repeats", "3",
         "--out", str(out)]
    )  # fmt: skip
    results = json.loads((out / "results.json").read_text())
    rows = {(row["sampler"], row["trials"]): row for row in results["rows"]}
    assert set(rows) == {(name, size) for name in overhead.SAMPLERS for size in (40, 60)}
    for row in rows.values():
        windows = row["ms_per_trial_windows"]
        assert len(windows) == 3 and all(ms > 0 for ms in windows)
        assert row["ms_per_trial"] == sorted(windows)[1]
    assert results["ratios"][0].startswith("AgingEvolutionSampler / RandomSampler at 60: ")
    assert "target >= 10x" in results["ratios"][1]
    assert results["ratios"][2].startswith("screened mutation's cost")
    readme = (out / "README.md").read_text()
    assert "python -m benchmarks.overhead --sizes 40 60" in readme


@pytest.mark.parametrize("name", list(overhead.SAMPLERS))
def test_a_grown_study_holds_the_trials_asked_for(name: str) -> None:
    study = overhead.grown_study(name, 20, seed=0)
    assert len(study.trials) == 20
    assert isinstance(study.sampler, type(overhead.SAMPLERS[name](0)))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--sizes", "100", "--window", "20", "--repeats", "5"], "must exceed --repeats"),
        (["--repeats", "0"], "expected an int >= 1"),
    ],
)
def test_bad_arguments_are_refused_in_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        overhead.main(argv)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1
