"""Regularized (aging) evolution for Optuna, from the ``optuna-amoeba`` package.

The sampler lives in one place, the ``optuna-amoeba`` distribution on PyPI; this registry
package re-exports it so that ``optunahub.load_module("samplers/aging_evolution")`` finds it.
"""

from __future__ import annotations


try:
    from optuna_amoeba import AgingEvolutionSampler
except ModuleNotFoundError as error:
    if error.name != "optuna_amoeba":
        raise
    raise ModuleNotFoundError(
        "samplers/aging_evolution needs the optuna-amoeba package: pip install -r "
        "https://hub.optuna.org/samplers/aging_evolution/requirements.txt",
        name="optuna_amoeba",
    ) from error


__all__ = ["AgingEvolutionSampler"]
