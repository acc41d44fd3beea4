"""The subcommands of ``optuna-amoeba``: ``search``, ``train`` and ``show``."""

from __future__ import annotations
