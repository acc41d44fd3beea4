"""Why a run that evaluated a good architecture recommends a worse one, and what other
incumbent rules would have recommended, for ``benchmarks.compare --problem nats-noisy``
folders:

    PYTHONPATH=. python benchmarks/results/noise_tuning/choice_failures.py /tmp/tune/s03_*

The run records hold values, not parameters, so evaluations are grouped by their true
accuracy: a proxy for the architecture that merges the few that share one (the default
rule's tail share comes out 0.115 this way, 0.114 from the recorded incumbents).

For the choice failures after 100 evaluations (regret above :data:`TAIL_LEVEL` while an
architecture within it was evaluated), it prints how often the recommended and the best
evaluated good architecture were evaluated, and how far their observed means sit from their
true accuracies. Then, for each rule, the mean regret, 90th percentile and share above
:data:`TAIL_LEVEL` at 100 and 300, with a paired Wilcoxon test against
``recommend_by_mean``'s rule (the mean less 1 pooled standard error): the mean less 1.5 or 2,
and the mean less 1 with a set's first evaluation, the one that brought it to notice, left
out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from collections.abc import Sequence
import math
from pathlib import Path
import sys
from typing import Any

import numpy as np
from optuna.study import StudyDirection
from scipy.stats import wilcoxon
from summarize import TAIL_LEVEL

from benchmarks.runner import load_run
from optuna_amoeba import estimate_by_params
from optuna_amoeba import MeanEstimate


Rule = Callable[[MeanEstimate, Sequence[float]], float]  # a set, the run's observed values
BUDGETS = (100, 300)


def estimates(run: dict[str, Any], budget: int) -> list[MeanEstimate]:
    """The first ``budget`` evaluations grouped by true accuracy (``params["accuracy"]``), as
    :func:`optuna_amoeba.estimate_by_params` groups a study's by parameters."""
    observed, true = run["values"][:budget], run["true_values"][:budget]
    evaluations = (
        (number, {"accuracy": accuracy}, value)
        for number, (value, accuracy) in enumerate(zip(observed, true, strict=True))
    )
    return estimate_by_params(evaluations, StudyDirection.MAXIMIZE)


def lower_bound(width: float) -> Rule:
    """The mean less ``width`` pooled standard errors (``recommend_by_mean``: 1)."""

    def score(estimate: MeanEstimate, values: Sequence[float]) -> float:
        return estimate.mean - width * (estimate.mean - estimate.pessimistic_mean)

    return score


def lower_bound_after_first(estimate: MeanEstimate, values: Sequence[float]) -> float:
    """The mean of the evaluations after the first, less one pooled standard error."""
    if estimate.count == 1:
        return estimate.pessimistic_mean
    noise = (estimate.mean - estimate.pessimistic_mean) * math.sqrt(estimate.count)
    later = [values[number] for number in estimate.trial_numbers[1:]]
    return float(np.mean(later)) - noise / math.sqrt(len(later))


DEFAULT_RULE = lower_bound(1.0)
RULES: dict[str, Rule] = {
    "mean - 1 s.e. (recommend_by_mean)": DEFAULT_RULE,
    "mean - 1.5 s.e.": lower_bound(1.5),
    "mean - 2 s.e.": lower_bound(2.0),
    "first evaluation left out, - 1 s.e.": lower_bound_after_first,
}


def recommended(run: dict[str, Any], budget: int, rule: Rule) -> MeanEstimate:
    """The set ``rule`` ranks first after ``budget`` evaluations."""
    return max(estimates(run, budget), key=lambda estimate: rule(estimate, run["values"]))


def choice_failures(runs: list[dict[str, Any]]) -> str:
    recommended_counts: Counter[int] = Counter()
    good_counts: Counter[int] = Counter()
    recommended_bias, good_bias = [], []
    for run in runs:
        chosen = recommended(run, 100, DEFAULT_RULE)
        good = max(estimates(run, 100), key=lambda estimate: estimate.params["accuracy"])
        chosen_true, good_true = chosen.params["accuracy"], good.params["accuracy"]
        if run["optimum"] - chosen_true > TAIL_LEVEL >= run["optimum"] - good_true:
            recommended_counts[min(chosen.count, 5)] += 1
            good_counts[min(good.count, 5)] += 1
            recommended_bias.append(chosen.mean - chosen_true)
            good_bias.append(good.mean - good_true)
    if not recommended_bias:
        return "  no choice failures at 100"

    def counts(counter: Counter[int]) -> str:
        return ", ".join(f"{n}{'+' if n == 5 else ''}: {counter[n]}" for n in range(1, 6))

    return (
        f"  {len(recommended_bias)} choice failures at 100; evaluations of the recommended "
        f"architecture ({counts(recommended_counts)}), observed mean - true "
        f"{np.mean(recommended_bias):+.3f}; of the best evaluated ({counts(good_counts)}), "
        f"{np.mean(good_bias):+.3f}"
    )


def regrets(runs: list[dict[str, Any]], rule: Rule, budget: int) -> np.ndarray:
    """Each run's regret after ``budget`` evaluations, incumbent by ``rule``."""
    return np.array(
        [run["optimum"] - recommended(run, budget, rule).params["accuracy"] for run in runs]
    )


def rule_line(
    runs: list[dict[str, Any]], name: str, rule: Rule, default: dict[int, np.ndarray]
) -> str:
    """Mean, p90 and tail share at each budget; for a rule other than the default, a paired
    Wilcoxon test against the ``default`` regrets."""
    cells = []
    for budget in BUDGETS:
        regret = default[budget] if rule is DEFAULT_RULE else regrets(runs, rule, budget)
        cell = (
            f"@{budget} {regret.mean():.3f}, p90 {np.quantile(regret, 0.9):.3f}, "
            f"share {np.mean(regret > TAIL_LEVEL):.3f}"
        )
        if rule is not DEFAULT_RULE and np.any(regret != default[budget]):
            cell += f" (p = {wilcoxon(regret, default[budget]).pvalue:.2g})"
        cells.append(cell)
    return f"  {name}: " + " | ".join(cells)


if __name__ == "__main__":
    for name in sys.argv[1:]:
        for sampler_runs in sorted(Path(name).glob("runs/*/")):
            runs = [load_run(path) for path in sorted(sampler_runs.glob("*.json"))]
            print(f"{Path(name).name}/{sampler_runs.name} ({len(runs)} seeds)")
            print(choice_failures(runs))
            default = {budget: regrets(runs, DEFAULT_RULE, budget) for budget in BUDGETS}
            for rule_name, rule in RULES.items():
                print(rule_line(runs, rule_name, rule, default))
