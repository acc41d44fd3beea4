"""Colors shared by the matplotlib and plotly figures."""

from __future__ import annotations


MUTATION_COLORS: dict[str, str] = {
    "random": "#7f7f7f",
    "enqueued": "#17becf",
    "reevaluation": "#8c564b",
    "identity": "#bcbd22",
    "hidden_state": "#1f77b4",
    "op": "#ff7f0e",
    "param": "#2ca02c",
}
_OTHER_COLOR = "#9467bd"


def mutation_color(mutation: str) -> str:
    return MUTATION_COLORS.get(mutation, _OTHER_COLOR)
