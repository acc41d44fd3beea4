"""The sampler variants tried against the early tail at σ = 0.3 (none was kept).

Each variant is ``AgingEvolutionSampler`` with one rule changed, chosen by the environment
variable ``AMOEBA_VARIANT`` (a ``_``-joined list): ``pess`` (tournaments by the pessimistic
mean, mean minus one pooled standard error), ``fullpop`` (no re-evaluation until the
population is full), ``ramp`` (re-evaluation probability scaled by how full the population
is); ``base`` changes nothing. Run one variant per ``benchmarks.compare`` call (``pess``
patches the population tracker for the whole process), from the repository root:

    AMOEBA_VARIANT=pess PYTHONPATH=benchmarks/results/noise_tuning:. \\
        python -m benchmarks.compare --problem nats-noisy --noise-sigma 0.3 \\
        --data ../shared/data/nats_tss_cifar10.csv \\
        --samplers variants:Variant --n-trials 300 --seeds 1000 --first-seed 30000 --jobs 2 \\
        --out /tmp/tune/s0.3_pess

``sample_size=10`` needs no code: ``--samplers 'amoeba[sample_size=10]'``. Results in this
folder's README.md.
"""

from __future__ import annotations

import math
import os

from optuna_amoeba import AgingEvolutionSampler
from optuna_amoeba._population import Member
from optuna_amoeba._population import PopulationTracker
from optuna_amoeba._sampler import DETERMINISTIC_AFTER


VARIANT = set(os.environ.get("AMOEBA_VARIANT", "base").split("_"))


def _pessimistic_mean(self: PopulationTracker, member: Member) -> float:
    """Mean minus one pooled standard error (the NATS tables maximise)."""
    observations = self.observations[member.identity]
    return observations.estimate - self.noise_std / math.sqrt(max(observations.count, 1))


if "pess" in VARIANT:
    PopulationTracker.mean_value = _pessimistic_mean  # type: ignore[method-assign]


class Variant(AgingEvolutionSampler):
    def _should_reevaluate(self, tracker: PopulationTracker) -> bool:
        if "fullpop" in VARIANT and tracker.num_eligible < self.population_size:
            return False
        if "ramp" not in VARIANT:
            return super()._should_reevaluate(tracker)
        if self.reevaluation_probability == 0:
            return False
        if tracker.differing_repeats == 0 and tracker.identical_repeats >= DETERMINISTIC_AFTER:
            return False
        fullness = min(1.0, tracker.num_eligible / self.population_size)
        return bool(self._rng.rand() < self.reevaluation_probability * fullness)
