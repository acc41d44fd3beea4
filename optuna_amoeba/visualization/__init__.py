"""Pictures of an evolution: cells, lineages, progress and Pareto fronts (matplotlib).

Import this module explicitly (``import optuna_amoeba.visualization``); ``optuna_amoeba``
itself does not import matplotlib. The optuna-dashboard integration is in
:mod:`optuna_amoeba.visualization.dashboard` (extra ``viz``).
"""

from __future__ import annotations

import importlib.util


if importlib.util.find_spec("matplotlib") is None:
    raise ModuleNotFoundError(
        "optuna_amoeba.visualization needs matplotlib: pip install 'optuna-amoeba[viz]'",
        name="matplotlib",
    )

from optuna_amoeba.visualization._cell import plot_cell
from optuna_amoeba.visualization._files import FILE_FORMATS
from optuna_amoeba.visualization._files import write_figures
from optuna_amoeba.visualization._lineage import plot_lineage
from optuna_amoeba.visualization._pareto import pareto_trade_offs
from optuna_amoeba.visualization._pareto import ParetoTradeOffs
from optuna_amoeba.visualization._pareto import plot_pareto_front
from optuna_amoeba.visualization._progress import plot_progress


__all__ = [
    "FILE_FORMATS",
    "ParetoTradeOffs",
    "pareto_trade_offs",
    "plot_cell",
    "plot_lineage",
    "plot_pareto_front",
    "plot_progress",
    "write_figures",
]
