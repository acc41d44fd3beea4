"""Aging evolution on a mixed search space, with the sampler loaded from OptunaHub."""

from __future__ import annotations

import math

import optuna
import optunahub


def objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -10, 10)
    lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
    layers = trial.suggest_int("layers", 1, 8)
    activation = trial.suggest_categorical("activation", ["relu", "gelu", "tanh"])
    return (x - 2) ** 2 + abs(layers - 3) + (activation != "gelu") + abs(math.log10(lr) + 3)


optuna.logging.set_verbosity(optuna.logging.WARNING)
module = optunahub.load_module(package="samplers/aging_evolution")
study = optuna.create_study(sampler=module.AgingEvolutionSampler(seed=0))
study.optimize(objective, n_trials=200)
print(f"best value {study.best_value:.4f} with {study.best_params}")

# Every proposed trial records its parent and the mutation that made it.
lineage = [study.best_trial]
while (parent := lineage[-1].system_attrs["amoeba:parent"]) is not None:
    lineage.append(study.trials[parent])
print("lineage of the best trial:")
for trial in lineage:
    mutation = trial.system_attrs["amoeba:mutation"]
    print(f"  trial {trial.number:3d} ({mutation}): {trial.value:.4f}")
