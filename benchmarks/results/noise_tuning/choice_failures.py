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
import math
from pathlib import Path
import sys
from typing import Any

import numpy as np
from scipy.stats import wilcoxon
from summarize import TAIL_LEVEL

from benchmarks.runner import load_run


Rule = Callable[[list[float], float], float]


def evaluations_by_architecture(run: dict[str, Any], budget: int) -> dict[float, list[float]]:
    """The first ``budget`` observed values, grouped by true accuracy."""
    grouped: dict[float, list[float]] = {}
    for observed, true in zip(run["values"][:budget], run["true_values"][:budget], strict=True):
        grouped.setdefault(true, []).append(observed)
    return grouped


def pooled_noise(grouped: dict[float, list[float]]) -> float:
    """Standard deviation of repeated evaluations, pooled over architectures (0 without)."""
    squares = sum(float(np.sum((np.array(v) - np.mean(v)) ** 2)) for v in grouped.values())
    degrees = sum(len(values) - 1 for values in grouped.values())
    return math.sqrt(squares / degrees) if degrees else 0.0


def lower_bound(width: float) -> Rule:
    def score(values: list[float], noise: float) -> float:
        return float(np.mean(values)) - width * noise / math.sqrt(len(values))

    return score


def lower_bound_after_first(values: list[float], noise: float) -> float:
    later = values[1:] or values
    return float(np.mean(later)) - noise / math.sqrt(len(later))


DEFAULT_RULE = lower_bound(1.0)
RULES: dict[str, Rule] = {
    "mean - 1 s.e. (recommend_by_mean)": DEFAULT_RULE,
    "mean - 1.5 s.e.": lower_bound(1.5),
    "mean - 2 s.e.": lower_bound(2.0),
    "first evaluation left out, - 1 s.e.": lower_bound_after_first,
}


def recommended(grouped: dict[float, list[float]], rule: Rule) -> float:
    """The true accuracy of the architecture ``rule`` ranks first."""
    noise = pooled_noise(grouped)
    return max(grouped, key=lambda true: rule(grouped[true], noise))


def choice_failures(runs: list[dict[str, Any]]) -> str:
    recommended_counts: Counter[int] = Counter()
    good_counts: Counter[int] = Counter()
    recommended_bias, good_bias = [], []
    for run in runs:
        grouped = evaluations_by_architecture(run, 100)
        chosen = recommended(grouped, DEFAULT_RULE)
        good = max(grouped)
        if run["optimum"] - chosen > TAIL_LEVEL >= run["optimum"] - good:
            recommended_counts[min(len(grouped[chosen]), 5)] += 1
            good_counts[min(len(grouped[good]), 5)] += 1
            recommended_bias.append(np.mean(grouped[chosen]) - chosen)
            good_bias.append(np.mean(grouped[good]) - good)
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
        [
            run["optimum"] - recommended(evaluations_by_architecture(run, budget), rule)
            for run in runs
        ]
    )


def rule_line(runs: list[dict[str, Any]], name: str, rule: Rule) -> str:
    """Mean, p90 and tail share at 100 and 300; after the first rule, a paired Wilcoxon
    test against ``recommend_by_mean``'s."""
    cells = []
    for budget in (100, 300):
        regret = regrets(runs, rule, budget)
        cell = (
            f"@{budget} {regret.mean():.3f}, p90 {np.quantile(regret, 0.9):.3f}, "
            f"share {np.mean(regret > TAIL_LEVEL):.3f}"
        )
        if rule is not DEFAULT_RULE:
            default = regrets(runs, DEFAULT_RULE, budget)
            if np.any(regret != default):
                cell += f" (p = {wilcoxon(regret, default).pvalue:.2g})"
        cells.append(cell)
    return f"  {name}: " + " | ".join(cells)


if __name__ == "__main__":
    for name in sys.argv[1:]:
        for sampler_runs in sorted(Path(name).glob("runs/*/")):
            runs = [load_run(path) for path in sorted(sampler_runs.glob("*.json"))]
            print(f"{Path(name).name}/{sampler_runs.name} ({len(runs)} seeds)")
            print(choice_failures(runs))
            for rule_name, rule in RULES.items():
                print(rule_line(runs, rule_name, rule))
