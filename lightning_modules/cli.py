"""The ``optuna-amoeba`` command: ``search``, ``train`` and ``show``.

Bad input (an unknown option value, a missing data set, malformed genotype text, an
unreachable storage, impossible sizes) prints one line on stderr and exits with code 2,
before anything is written to a study. Ctrl-C prints one line and exits with code 130; a
storage that fails mid-search, one line and code 1.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
import re
import signal
import sys
from typing import NoReturn

from optuna.exceptions import StorageInternalError

from lightning_modules.commands import search
from lightning_modules.commands import show
from lightning_modules.commands import train
from lightning_modules.commands._common import Interrupted
from lightning_modules.commands._common import UsageError
from optuna_amoeba import mask_password
from optuna_amoeba._storage import driver_message


USAGE_ERROR = 2
STORAGE_FAILED = 1
SIGNAL_EXIT_BASE = 128
"""The shells' exit code for a command stopped by a signal is 128 + its number."""
INTERRUPTED = SIGNAL_EXIT_BASE + signal.SIGINT
_SQLALCHEMY_BACKGROUND = re.compile(r"\(Background on this error at: [^)]*\)")


# What the nas extra installs for the commands (the sampler needs none of it).
_NAS_PACKAGES = frozenset(
    {
        "torch",
        "torchvision",
        "lightning",
        "torchmetrics",
        "optuna_integration",
        "sklearn",
        "matplotlib",
    }
)


def one_line(message: str) -> str:
    """``message`` on one line: whitespace runs (newlines included) become one space."""
    return " ".join(_SQLALCHEMY_BACKGROUND.sub("", message).split())


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (no usage block) and exit code 2."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {one_line(mask_password(message))}", file=sys.stderr)
        sys.exit(USAGE_ERROR)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="optuna-amoeba",
        description="Aging-evolution (AmoebaNet) architecture search with Optuna and Lightning.",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, module, summary in (
        ("search", search, "run or continue an architecture search (an Optuna study)"),
        ("train", train, "train one architecture at full size"),
        ("show", show, "list a study's best architectures (or Pareto front), draw their cells"),
    ):
        command = commands.add_parser(name, help=summary, description=summary)
        module.add_arguments(command)
        command.set_defaults(handler=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    args = build_parser().parse_args(argv)
    prefix = f"optuna-amoeba {args.command}:"
    try:
        code: int = args.handler(args)
    except UsageError as error:
        print(f"{prefix} error: {one_line(mask_password(str(error)))}", file=sys.stderr)
        return USAGE_ERROR
    except StorageInternalError as error:
        # The database failed mid-search (its server gone, a connection lost for good): what
        # is stored stays, and the same command continues the study once it is back.
        failure = driver_message(error.__cause__ or error, args.storage)
        print(
            f"{prefix} error: the storage failed: {one_line(failure)}; run the same command "
            "to continue once it is reachable",
            file=sys.stderr,
        )
        return STORAGE_FAILED
    except ModuleNotFoundError as error:
        # Only a package itself missing: an ImportError inside an installed one is a bug or a
        # broken install, whose traceback the user needs.
        if error.name not in _NAS_PACKAGES:
            raise
        print(
            f"{prefix} error: needs {error.name}: pip install 'optuna-amoeba[nas]'",
            file=sys.stderr,
        )
        return USAGE_ERROR
    except Interrupted as interrupted:
        number = interrupted.signal_number
        how = "interrupted"
        if number != signal.SIGINT:
            how = f"stopped by {signal.Signals(number).name}"
        print(f"{prefix} {how}; {one_line(str(interrupted))}", file=sys.stderr)
        return SIGNAL_EXIT_BASE + number
    except KeyboardInterrupt:
        print(f"{prefix} interrupted", file=sys.stderr)
        return INTERRUPTED
    return code


if __name__ == "__main__":
    sys.exit(main())
