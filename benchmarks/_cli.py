"""Argument parsing shared by the benchmark commands."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from collections.abc import Sequence
import math
from pathlib import Path
import sys
from typing import NoReturn


class OneLineErrorParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line, ``PROG: error: MESSAGE``, without the
    usage; it still exits with status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _int_at_least(low: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an int >= {low}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected an int >= {low}, got {value}")
        return value

    return parse


def _finite_float(bound: str, within: Callable[[float], bool]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a float {bound}, got {text!r}") from None
        if not (math.isfinite(value) and within(value)):
            raise argparse.ArgumentTypeError(f"expected a finite float {bound}, got {value}")
        return value

    return parse


positive_int = _int_at_least(1)
"""Argument type: an int >= 1, else ``expected an int >= 1, got ...``."""

non_negative_int = _int_at_least(0)
"""Argument type: an int >= 0, else ``expected an int >= 0, got ...``."""

positive_float = _finite_float("> 0", lambda value: value > 0)
"""Argument type: a finite float > 0, else ``expected a (finite) float > 0, got ...``."""

non_negative_float = _finite_float(">= 0", lambda value: value >= 0)
"""Argument type: a finite float >= 0, else ``expected a (finite) float >= 0, got ...``."""


def add_seed_and_output_arguments(parser: argparse.ArgumentParser, *, seeds_help: str) -> None:
    """Add the options of a command that saves one run per seed: ``--seeds`` (described by
    ``seeds_help``), ``--first-seed``, ``--jobs`` and ``--out``, in that order."""
    parser.add_argument("--seeds", type=positive_int, default=10, help=seeds_help)
    parser.add_argument("--first-seed", type=non_negative_int, default=0)
    parser.add_argument("--jobs", type=positive_int, default=1, help="parallel processes")
    parser.add_argument("--out", type=Path, required=True, help="results folder")


def print_failures(prog: str, failures: Sequence[str]) -> None:
    """Tell on stderr which runs failed, and that rerunning the command retries them."""
    print(f"{prog}: {len(failures)} run(s) failed:", file=sys.stderr)
    for failure in failures:
        print(f"  {failure}", file=sys.stderr)
    print("Saved runs are kept; rerun the same command to retry the rest.", file=sys.stderr)
