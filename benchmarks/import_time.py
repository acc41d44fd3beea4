"""How long ``import optuna_amoeba`` takes against ``import optuna``.

``python -m benchmarks.import_time [--repeats N]`` imports each module in fresh interpreters,
alternating the two, and prints the median cumulative import time that ``python -X importtime``
reports for each, and their ratio.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
import platform
import statistics
import subprocess
import sys

from optuna_amoeba._checks import check_int


def import_microseconds(module: str) -> int:
    """Cumulative import time of ``module`` in a fresh interpreter, in microseconds."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        check=True,
    )
    for line in reversed(result.stderr.splitlines()):
        fields = [field.strip() for field in line.split("|")]
        if len(fields) == 3 and fields[2] == module:
            return int(fields[1])
    raise RuntimeError(f"python -X importtime printed no line for {module}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="interpreters per module")
    args = parser.parse_args(argv)
    repeats = check_int("--repeats", args.repeats, 1)
    times: dict[str, list[int]] = {"optuna": [], "optuna_amoeba": []}
    for _ in range(repeats):
        for module in times:
            times[module].append(import_microseconds(module))
    medians = {module: statistics.median(values) for module, values in times.items()}
    print(f"python {platform.python_version()}, {platform.machine()}, {repeats} runs each")
    for module, median in medians.items():
        print(f"import {module}: median {median / 1000:.0f} ms")
    print(f"ratio: {medians['optuna_amoeba'] / medians['optuna']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
