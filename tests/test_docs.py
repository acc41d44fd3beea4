"""The documentation's code runs as written.

Every ``python`` block of README.md, CONTRIBUTING.md, ``docs/*.md`` and ``benchmarks/README.md``
runs in a fresh folder, unless the line before it is ``<!-- doc-test: skip REASON -->``.
Shell blocks run only when the line before them is ``<!-- doc-test: run -->`` (most start
searches of hours), with the project's venv first on PATH and ``.venv`` linked into the
folder, so ``optuna-amoeba ...`` and ``.venv/bin/...`` both work.
"""

from __future__ import annotations

from dataclasses import dataclass
import os
from pathlib import Path
import re
import subprocess
import sys

import pytest


ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = sorted(
    [
        ROOT / "README.md",
        ROOT / "CONTRIBUTING.md",
        ROOT / "benchmarks" / "README.md",
        *(ROOT / "docs").glob("*.md"),
    ]
)
_FENCE = re.compile(r"^```(?P<language>[\w-]*)[ \t]*$")
_MARKER = re.compile(r"^<!-- doc-test: (?P<verb>skip|run)\b(?P<reason>.*?)-->$")
_SHELLS = ("bash", "sh", "shell", "console")


@dataclass(frozen=True)
class Block:
    document: Path
    line: int
    language: str
    code: str
    marker: str | None
    reason: str

    @property
    def name(self) -> str:
        return f"{self.document.relative_to(ROOT)}:{self.line}"


def code_blocks(document: Path) -> list[Block]:
    """The fenced blocks of ``document`` with the doc-test marker on the line before each."""
    lines = document.read_text(encoding="utf-8").splitlines()
    blocks = []
    index = 0
    while index < len(lines):
        fence = _FENCE.match(lines[index])
        if fence is None or not fence.group("language"):
            index += 1
            continue
        end = index + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        previous = lines[index - 1].strip() if index else ""
        marker = _MARKER.match(previous)
        blocks.append(
            Block(
                document=document,
                line=index + 1,
                language=fence.group("language"),
                code="\n".join(lines[index + 1 : end]) + "\n",
                marker=marker.group("verb") if marker else None,
                reason=marker.group("reason").strip() if marker else "",
            )
        )
        index = end + 1
    return blocks


def _runnable(block: Block) -> bool:
    if block.language == "python":
        return block.marker != "skip"
    return block.language in _SHELLS and block.marker == "run"


BLOCKS = [block for document in DOCUMENTS for block in code_blocks(document)]
RUNNABLE = [block for block in BLOCKS if _runnable(block)]


def test_every_marker_is_attached_to_a_block_and_every_skip_says_why() -> None:
    marked = {(block.document, block.line - 1) for block in BLOCKS if block.marker}
    for document in DOCUMENTS:
        for number, line in enumerate(document.read_text(encoding="utf-8").splitlines()):
            if line.startswith("<!-- doc-test"):
                assert _MARKER.match(line.strip()), f"{document}:{number + 1}: {line}"
                assert (document, number + 1) in marked, f"{document}:{number + 1}: no block"
    for block in BLOCKS:
        if block.marker == "skip":
            assert block.reason, f"{block.name}: a skipped block must say why"


@pytest.mark.slow
@pytest.mark.parametrize("block", RUNNABLE, ids=[block.name for block in RUNNABLE])
def test_documented_code_runs(block: Block, tmp_path: Path) -> None:
    venv_bin = Path(sys.executable).parent
    (tmp_path / ".venv").symlink_to(venv_bin.parent)
    env = {
        **os.environ,
        "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(ROOT),
        "MPLBACKEND": "Agg",
    }
    if block.language == "python":
        command = [sys.executable, "-c", block.code]
    else:
        command = ["bash", "-euo", "pipefail", "-c", block.code]
    result = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"{block.name}\n{result.stdout}\n{result.stderr}"
