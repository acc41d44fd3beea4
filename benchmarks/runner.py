"""One optimisation run per (sampler, seed), in parallel processes, each saved as JSON."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from concurrent.futures import as_completed
from concurrent.futures import Future
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
import json
import math
import multiprocessing
import os
from pathlib import Path
import re
import sys
import time
from typing import Any
from typing import TypeVar
import warnings

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial

from benchmarks import meta
from benchmarks.problems import build_problem
from benchmarks.problems import MULTI_OBJECTIVE_PROBLEMS
from benchmarks.problems import ProblemSpec
from benchmarks.samplers import SamplerClock
from benchmarks.samplers import SamplerSpec
import optuna_amoeba


RUN_FORMAT = 3  # 2: mean_incumbent_true_value; 3: by optuna_amoeba.recommend_by_mean
RUNS_DIR = "runs"

TaskT = TypeVar("TaskT")


@dataclass(frozen=True)
class RunTask:
    """One run: a sampler on a problem for ``n_trials`` evaluations with ``seed``."""

    problem: ProblemSpec
    sampler: SamplerSpec
    seed: int
    n_trials: int
    threads: int = 1  # torch threads for training problems; does not change results

    def config(self) -> dict[str, Any]:
        """What a saved run must match to be reused: changed defaults (in the resolved
        settings) or a library upgrade make earlier runs stale."""
        return {
            "problem": self.problem.to_json(),
            "sampler": self.sampler.to_json(),
            "sampler_settings": self.sampler.settings(),
            "seed": self.seed,
            "n_trials": self.n_trials,
            "libraries": meta.run_libraries(),
        }


def sampler_dir_name(label: str) -> str:
    """A file-system-safe folder name for a sampler label."""
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", label).strip("_") or "sampler"


def run_path(out_dir: Path, label: str, seed: int) -> Path:
    return out_dir / RUNS_DIR / sampler_dir_name(label) / f"seed_{seed:04d}.json"


def _round(values: Sequence[float], digits: int) -> list[float]:
    return [round(v, digits) for v in values]


def incumbent_indices_by_mean(
    params: Sequence[Mapping[str, Any]], observed: Sequence[float]
) -> list[int]:
    """After each evaluation, the index of the first evaluation of the parameter set that
    ``optuna_amoeba.recommend_by_mean`` would put first (ties: the set evaluated first)."""
    evaluations: list[tuple[int, Mapping[str, Any], float]] = []
    chosen: list[int] = []
    for number, (trial_params, value) in enumerate(zip(params, observed, strict=True)):
        evaluations.append((number, trial_params, value))
        estimates = optuna_amoeba.estimate_by_params(evaluations, StudyDirection.MAXIMIZE)
        chosen.append(
            optuna_amoeba.rank_estimates(estimates, StudyDirection.MAXIMIZE)[0].trial_numbers[0]
        )
    return chosen


def incumbents_by_mean(
    params: Sequence[Mapping[str, Any]], observed: Sequence[float], true: Sequence[float]
) -> list[float]:
    """After each evaluation, the true value of the parameter set that
    ``optuna_amoeba.recommend_by_mean`` would put first (ties: the set evaluated first)."""
    return [true[index] for index in incumbent_indices_by_mean(params, observed)]


def execute(task: RunTask) -> dict[str, Any]:
    """Run ``task`` and return its record (see :func:`save_run` for the fields); two-objective
    problems run in :func:`benchmarks.multi_objective.execute`."""
    if task.problem.name in MULTI_OBJECTIVE_PROBLEMS:
        from benchmarks import multi_objective

        return multi_objective.execute(task)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    problem = build_problem(task.problem)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(task.threads)
    evaluate = problem.evaluation(task.seed)
    sampler = task.sampler.build(task.seed)
    clock = SamplerClock.attach(sampler)

    observed: list[float] = []
    true: list[float] = []
    sampler_seconds: list[float] = []
    wall_seconds: list[float] = []
    last = {"clock": 0.0, "wall": time.perf_counter()}

    def objective(trial: optuna.Trial) -> float:
        value, true_value = evaluate(trial)
        observed.append(value)
        true.append(true_value)
        return value

    def record_times(study: optuna.Study, trial: FrozenTrial) -> None:
        now = time.perf_counter()
        sampler_seconds.append(clock.seconds - last["clock"])
        wall_seconds.append(now - last["wall"])
        last["clock"], last["wall"] = clock.seconds, now

    study = optuna.create_study(direction="maximize", sampler=sampler)
    started = time.perf_counter()
    last["wall"] = started
    study.optimize(objective, n_trials=task.n_trials, callbacks=[record_times])
    total_wall = time.perf_counter() - started
    if len(observed) != task.n_trials:
        raise RuntimeError(
            f"{task.sampler.label} seed {task.seed}: {len(observed)} of {task.n_trials} "
            "trials returned a value"
        )

    best_observed: list[float] = []
    incumbent_true: list[float] = []
    for value, true_value in zip(observed, true, strict=True):
        if not best_observed or value > best_observed[-1]:
            best_observed.append(value)
            incumbent_true.append(true_value)
        else:
            best_observed.append(best_observed[-1])
            incumbent_true.append(incumbent_true[-1])
    noisy = observed != true
    record: dict[str, Any] = {
        "format": RUN_FORMAT,
        **task.config(),
        "optimum": problem.optimum,
        "unit": problem.unit,
        "regret_floor": problem.regret_floor,
        "values": _round(observed, 6),
        "true_values": _round(true, 6) if noisy else None,
        "best_observed": _round(best_observed, 6),
        "incumbent_true_value": _round(incumbent_true, 6),
        "mean_incumbent_true_value": None,
        "true_regret": None,
        "observed_regret": None,
        "wall_seconds": round(total_wall, 4),
        "wall_microseconds_per_trial": [round(1e6 * s) for s in wall_seconds],
        "sampler_microseconds_per_trial": [round(1e6 * s) for s in sampler_seconds],
    }
    if noisy:
        params = [trial.params for trial in study.trials]
        record["mean_incumbent_true_value"] = _round(incumbents_by_mean(params, observed, true), 6)
    if problem.optimum is not None:
        optimum = problem.optimum
        record["true_regret"] = _round([optimum - v for v in incumbent_true], 6)
        record["observed_regret"] = _round([optimum - v for v in best_observed], 6)
    return record


def save_run(path: Path, record: dict[str, Any]) -> None:
    """Write atomically, so an interrupted comparison never leaves a half-written run."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(record, separators=(",", ":")) + "\n")
    os.replace(partial, path)


def load_run(path: Path) -> dict[str, Any]:
    record: dict[str, Any] = json.loads(path.read_text())
    return record


def saved_record(path: Path, run_format: int, config: dict[str, Any]) -> dict[str, Any] | None:
    """The run saved at ``path`` if it can be read, has ``run_format`` and holds every key of
    ``config`` with the same value; otherwise None."""
    if not path.is_file():
        return None
    try:
        record = load_run(path)
    except (OSError, json.JSONDecodeError):
        return None
    if record.get("format") != run_format:
        return None
    if {key: record.get(key) for key in config} != config:
        return None
    return record


def stored_run(out_dir: Path, task: RunTask) -> dict[str, Any] | None:
    """The saved record of ``task`` if one with the same configuration exists."""
    path = run_path(out_dir, task.sampler.label, task.seed)
    return saved_record(path, RUN_FORMAT, task.config())


def _run_and_save(task: RunTask, out_dir: Path) -> dict[str, Any]:
    record = execute(task)
    save_run(run_path(out_dir, task.sampler.label, task.seed), record)
    return record


def process_pool(jobs: int) -> ProcessPoolExecutor:
    """The pool runs execute in: fresh interpreters (spawn), not forks. The parent may have
    used torch's thread pool already (checking a training problem loads its data), and a
    forked child that uses it again can hang."""
    return ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"))


def _format_duration(seconds: float) -> str:
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def _final_regret(record: dict[str, Any]) -> str:
    if record.get("hypervolume") is not None:
        return f"hypervolume {record['hypervolume'][-1]:.5f}"
    if record["true_regret"] is not None:
        return f"regret {record['true_regret'][-1]:.4g}"
    return f"best {record['incumbent_true_value'][-1]:.4g}"


def _print_progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run_unsaved(
    tasks: Sequence[TaskT],
    out_dir: Path,
    *,
    jobs: int,
    is_saved: Callable[[TaskT], bool],
    run_and_save: Callable[[TaskT, Path], dict[str, Any]],
    name: Callable[[TaskT], str],
    outcome: Callable[[TaskT, dict[str, Any], float, float], str],
    progress: Callable[[str], None] = _print_progress,
) -> tuple[list[str], int]:
    """Run every task not ``is_saved`` as ``run_and_save(task, out_dir)`` in a
    :func:`process_pool` of up to ``jobs`` processes.

    Returns the failed runs' messages (``NAME: ERROR``) and how many tasks were saved already.

    Progress lines go to ``progress`` (stderr by default): how many saved runs are reused, then
    one per finished run, ``[DONE/PENDING] NAME: FAILED: ERROR`` or
    ``[DONE/PENDING] NAME: OUTCOME`` with ``outcome(task, record, elapsed seconds, ETA
    seconds)``.
    """
    pending = [task for task in tasks if not is_saved(task)]
    reused = len(tasks) - len(pending)
    if reused:
        progress(f"reusing {reused} run(s) already saved in {out_dir}")
    failures: list[str] = []
    if not pending:
        return failures, reused
    started = time.monotonic()
    with process_pool(min(jobs, len(pending))) as pool:
        futures: dict[Future[dict[str, Any]], TaskT] = {
            pool.submit(run_and_save, task, out_dir): task for task in pending
        }
        for done, future in enumerate(as_completed(futures), start=1):
            task = futures[future]
            elapsed = time.monotonic() - started
            eta = elapsed / done * (len(pending) - done)
            prefix = f"[{done}/{len(pending)}] {name(task)}:"
            try:
                record = future.result()
            except Exception as error:  # reported; the other runs go on
                failures.append(f"{name(task)}: {error!r}")
                progress(f"{prefix} FAILED: {error!r}")
                continue
            progress(f"{prefix} {outcome(task, record, elapsed, eta)}")
    return failures, reused


def _outcome(task: RunTask, record: dict[str, Any], elapsed: float, eta: float) -> str:
    return (
        f"{_final_regret(record)} after {task.n_trials} trials "
        f"({record['wall_seconds']:.1f} s); elapsed {_format_duration(elapsed)}, "
        f"ETA {_format_duration(eta) if math.isfinite(eta) else '?'}"
    )


def run_all(
    tasks: Sequence[RunTask],
    out_dir: Path,
    *,
    jobs: int,
    progress: Callable[[str], None] | None = None,
    reuse: bool = True,
) -> tuple[list[str], int]:
    """Run every task not already saved under ``out_dir``.

    Returns the failed runs' messages and how many saved runs were reused.

    Progress lines (one per finished run, with counts and an ETA) go to ``progress``,
    stderr by default.
    """
    return run_unsaved(
        tasks,
        out_dir,
        jobs=jobs,
        is_saved=lambda task: reuse and stored_run(out_dir, task) is not None,
        run_and_save=_run_and_save,
        name=lambda task: f"{task.sampler.label} seed {task.seed}",
        outcome=_outcome,
        progress=_print_progress if progress is None else progress,
    )
