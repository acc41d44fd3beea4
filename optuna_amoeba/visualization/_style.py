"""Colors shared by the matplotlib and plotly figures."""

from __future__ import annotations

from optuna_amoeba._mutation import HIDDEN_STATE
from optuna_amoeba._mutation import IDENTITY
from optuna_amoeba._mutation import OP
from optuna_amoeba._mutation import PARAM
from optuna_amoeba._sampler import ENQUEUED
from optuna_amoeba._sampler import RANDOM
from optuna_amoeba._sampler import REEVALUATION
from optuna_amoeba._sampler import TPE


MUTATION_COLORS: dict[str, str] = {
    RANDOM: "#7f7f7f",
    ENQUEUED: "#17becf",
    TPE: "#e377c2",
    REEVALUATION: "#8c564b",
    IDENTITY: "#bcbd22",
    HIDDEN_STATE: "#1f77b4",
    OP: "#ff7f0e",
    PARAM: "#2ca02c",
}
_OTHER_COLOR = "#9467bd"


def mutation_color(mutation: str) -> str:
    return MUTATION_COLORS.get(mutation, _OTHER_COLOR)
