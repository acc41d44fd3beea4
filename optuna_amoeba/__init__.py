"""Regularized (aging) evolution for Optuna (Real et al. 2019, AmoebaNet)."""

from __future__ import annotations

import importlib
from typing import Any
from typing import TYPE_CHECKING

from optuna_amoeba import nasnet
from optuna_amoeba._estimates import estimate_by_params
from optuna_amoeba._estimates import MeanEstimate
from optuna_amoeba._estimates import rank_by_mean
from optuna_amoeba._estimates import rank_estimates
from optuna_amoeba._estimates import rank_trials
from optuna_amoeba._estimates import recommend_by_mean
from optuna_amoeba._sampler import AgingEvolutionSampler
from optuna_amoeba._sampler import default_sample_size
from optuna_amoeba._sampler import MUTATION_KEY
from optuna_amoeba._sampler import MUTATION_STEPS_KEY
from optuna_amoeba._sampler import PARENT_KEY


if TYPE_CHECKING:
    from optuna_amoeba._storage import mask_password
    from optuna_amoeba._storage import open_storage


__version__ = "0.3.0"

__all__ = [
    "MUTATION_KEY",
    "MUTATION_STEPS_KEY",
    "PARENT_KEY",
    "AgingEvolutionSampler",
    "MeanEstimate",
    "default_sample_size",
    "estimate_by_params",
    "mask_password",
    "nasnet",
    "open_storage",
    "rank_by_mean",
    "rank_estimates",
    "rank_trials",
    "recommend_by_mean",
]

# The storage helpers need SQLAlchemy, which `import optuna` itself does not load: importing
# them on first use keeps the sampler's import as light as Optuna's.
_LAZY = {"mask_password": "optuna_amoeba._storage", "open_storage": "optuna_amoeba._storage"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'optuna_amoeba' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
