"""The GPU check's tiny CPU mode: every arm measured, ratios and results written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from benchmarks import gpu_check


@pytest.mark.slow
def test_gpu_check_smoke_measures_each_arm_and_writes_json_and_markdown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads = torch.get_num_threads()
    monkeypatch.setenv("OUT_DIR", str(tmp_path / "out"))
    stages = ["prepare", *gpu_check.ARMS, "determinism"]
    try:
        assert gpu_check.main(["--smoke", "--in-process", "--stages", *stages]) == 0
    finally:
        torch.set_num_threads(threads)
    out = tmp_path / "out"
    summary = json.loads((out / "summary.json").read_text())
    for arm in gpu_check.ARMS:
        result = summary["stages"][arm]
        assert result["status"] == "ok", result
        assert result["images_per_second"] > 0 and result["steps"] == 3
    assert summary["stages"]["d_compiled"]["backend"] == "eager"
    assert set(summary["ratios"]) == {"b/a", "c/b", "d/c"}
    assert all(ratio > 0 for ratio in summary["ratios"].values())
    assert summary["stages"]["determinism"]["deterministic_runs_equal"] is True
    assert summary["environment"]["smoke"] is True
    markdown = (out / "summary.md").read_text()
    assert "| c_resident | b with the GPU-resident data path |" in markdown
    assert "d/c = " in markdown and "two --deterministic runs equal" in markdown
