"""``optuna-amoeba search``: an aging-evolution architecture search as an Optuna study."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from collections.abc import Sequence
import contextlib
import functools
import importlib.util
import os
from pathlib import Path
import signal
import sys
import time
from typing import Any
from typing import TextIO
from typing import TypeVar
import warnings

import numpy as np
import optuna
from optuna.exceptions import StorageInternalError
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from lightning_modules.commands._common import add_cpu_threads_argument
from lightning_modules.commands._common import add_dataset_arguments
from lightning_modules.commands._common import add_hardware_arguments
from lightning_modules.commands._common import add_size_arguments
from lightning_modules.commands._common import add_storage_arguments
from lightning_modules.commands._common import apply_cpu_threads
from lightning_modules.commands._common import apply_dataset_defaults
from lightning_modules.commands._common import check_cpu_threads
from lightning_modules.commands._common import check_hardware
from lightning_modules.commands._common import check_int
from lightning_modules.commands._common import check_output_dir
from lightning_modules.commands._common import describe_estimate
from lightning_modules.commands._common import fill_unset
from lightning_modules.commands._common import finite_float
from lightning_modules.commands._common import Interrupted
from lightning_modules.commands._common import MAX_FILTERS
from lightning_modules.commands._common import MAX_IMAGE_SIZE
from lightning_modules.commands._common import MAX_SEED
from lightning_modules.commands._common import nasnet_genotypes
from lightning_modules.commands._common import open_storage
from lightning_modules.commands._common import option_error
from lightning_modules.commands._common import option_flag
from lightning_modules.commands._common import prepare_data
from lightning_modules.commands._common import seed_value
from lightning_modules.commands._common import short_estimate
from lightning_modules.commands._common import trial_genotype
from lightning_modules.commands._common import UsageError
from lightning_modules.commands._pareto import ACCURACY
from lightning_modules.commands._pareto import check_objectives
from lightning_modules.commands._pareto import create_study
from lightning_modules.commands._pareto import format_values
from lightning_modules.commands._pareto import front_status
from lightning_modules.commands._pareto import OBJECTIVE_CHOICES
from lightning_modules.commands._pareto import parse_objectives
from lightning_modules.commands._pareto import print_trade_offs
from lightning_modules.datasets import dataset_kind
from lightning_modules.datasets import DEFAULT_VAL_SIZES
from lightning_modules.datasets import IMAGEFOLDER_IMAGE_SIZE
from lightning_modules.datasets import imagefolder_path
from lightning_modules.datasets import IMAGEFOLDER_PREFIX
from optuna_amoeba import AgingEvolutionSampler
from optuna_amoeba import default_sample_size
from optuna_amoeba import rank_trials
from optuna_amoeba import recommend_by_mean
from optuna_amoeba._storage import driver_message
from optuna_amoeba._storage import in_memory_storage
from optuna_amoeba._storage import JOURNAL_SCHEME
from optuna_amoeba._storage import mask_url
from optuna_amoeba._storage import MAX_HEARTBEAT_SECONDS
from optuna_amoeba._storage import REDIS_PREFIX_PARAMETER
from optuna_amoeba._storage import REDIS_SCHEMES
from optuna_amoeba._storage import retry_trial
from optuna_amoeba._storage import storage_file
from optuna_amoeba.nasnet import DEFAULT_NUM_BLOCKS


_logger = optuna.logging.get_logger("optuna.amoeba.cli")
_Written = TypeVar("_Written")

SEARCH_CONFIG_ATTR = "amoeba:search"
"""Study user attr: the settings that make trials comparable (data, sizes, training)."""

PAPER_SEARCH: dict[str, int | float | bool] = {
    # Real et al. 2019, Methods Details: population P=100, sample S=25, the population
    # initialised with P random models, no deduplication (a child may equal its parent:
    # the identity mutation), every model trained once; proxy N=3, F=24, 25 epochs.
    "population_size": 100,
    "sample_size": 25,
    "n_startup_trials": 100,
    "dedup": False,
    "reevaluation_probability": 0.0,
    "tpe_probability": 0.0,
    "mutation_candidates": 1,
    "cells": 3,
    "filters": 24,
    "epochs": 25,
}
PAPER_IDENTITY_PROBABILITY = 0.05
"""The paper's identity mutation (Real et al. 2019), which only happens without dedup."""

_PAPER_PROXY: dict[str, int | float] = {
    # The paper's search proxy (Real et al. 2019, Methods Details: N=3, F=24, 25 epochs).
    "epochs": 25,
    "cells": 3,
    "filters": 24,
    "batch_size": 128,
    "learning_rate": 0.024,
}
SEARCH_DEFAULTS: dict[str, dict[str, int | float]] = {
    "cifar10": _PAPER_PROXY,
    # Small enough for a laptop CPU: about 97% validation accuracy in 3 epochs.
    "digits": {"epochs": 3, "cells": 1, "filters": 8, "batch_size": 64, "learning_rate": 0.1},
    # Your own images get the paper's proxy, as CIFAR-10 does.
    "imagefolder": _PAPER_PROXY,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_dataset_arguments(parser)
    parser.add_argument(
        "--paper",
        action="store_true",
        help="the paper's search (Real et al. 2019): --population-size 100 --sample-size 25 "
        "--n-startup-trials 100 --no-dedup --reevaluation-probability 0 --tpe-probability 0 "
        "--mutation-candidates 1 --cells 3 --filters 24 --epochs 25; any of these given "
        "explicitly overrides it",
    )
    add_storage_arguments(parser, "(default: amoeba-<dataset>); the same name continues the study")
    _add_study_arguments(parser)
    _add_training_arguments(parser)
    _add_evolution_arguments(parser)
    _add_worker_arguments(parser)
    add_hardware_arguments(parser)
    add_cpu_threads_argument(parser)
    parser.add_argument(
        "--verbose", action="store_true", help="show Lightning's progress bars and Optuna's logs"
    )


def _add_study_arguments(parser: argparse.ArgumentParser) -> None:
    """``--n-trials`` and ``--objectives``."""
    parser.add_argument(
        "--n-trials",
        type=int,
        default=20,
        help="complete trials the whole study should reach, counting earlier runs and "
        "other workers (default: %(default)s)",
    )
    parser.add_argument(
        "--objectives",
        default=ACCURACY,
        metavar="{" + ",".join(OBJECTIVE_CHOICES) + "}",
        help="what to search for: validation accuracy, or accuracy against the network's "
        "parameter count or FLOPs, a two-objective study whose result is a Pareto front "
        "(default: %(default)s)",
    )


def _add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """Each trial's training: sizes, optimiser, data split and augmentation."""
    add_size_arguments(parser, SEARCH_DEFAULTS)
    parser.add_argument(
        "--val-size",
        type=int,
        help="training images held out for validation, >= 1: each trial's value is its "
        "validation accuracy, never the test set's (default: 5000 for cifar10, 288 for "
        "digits, a tenth for an image folder without val/)",
    )
    parser.add_argument(
        "--weight-decay", type=finite_float, default=5e-4, help="(default: %(default)s)"
    )
    parser.add_argument(
        "--label-smoothing", type=finite_float, default=0.0, help="(default: %(default)s)"
    )
    parser.add_argument(
        "--cutout",
        type=int,
        default=0,
        help="side of the cutout square in pixels, 0 for none (the final-training recipes "
        "use 16) (default: %(default)s)",
    )


def _add_evolution_arguments(parser: argparse.ArgumentParser) -> None:
    """The sampler's settings, the seed and the pruner."""
    parser.add_argument(
        "--population-size", type=int, help="P of aging evolution (default: the sampler's)"
    )
    parser.add_argument(
        "--sample-size",
        type=int,
        help="S, the tournament size (default: the sampler's, or P/2 when only P is given)",
    )
    parser.add_argument(
        "--n-startup-trials",
        type=int,
        help="random trials before evolution starts (default: the sampler's, min(10, P))",
    )
    parser.add_argument(
        "--reevaluation-probability",
        type=finite_float,
        help="share of evolved trials that retrain a promising architecture to average out "
        "training noise (a new leader is retrained at once); 0 turns both off, the paper's "
        "algorithm (default: the sampler's, 0.3)",
    )
    parser.add_argument(
        "--tpe-probability",
        type=finite_float,
        help="share of the early evolved trials (before 2P have completed) that Optuna's TPE "
        "proposes; 0 for the paper's algorithm (default: the sampler's, 0.35)",
    )
    parser.add_argument(
        "--mutation-candidates",
        type=int,
        help="mutations drawn for each child, of which the one a model of the population "
        "scores best is trained; 1 for the paper's algorithm (default: the sampler's, 4)",
    )
    parser.add_argument(
        "--dedup",
        action=argparse.BooleanOptionalAction,
        help="--no-dedup lets a child or a random start-up trial repeat an architecture "
        "already tried or training (the paper's algorithm: its identity mutation then really "
        "happens); --dedup redraws such architectures (default: dedup on, off with --paper)",
    )
    parser.add_argument(
        "--seed",
        type=seed_value,
        help=f"seed of the sampler and of training, in [0, {MAX_SEED}] (a trial trains with "
        "(seed + its number) modulo 2**32); concurrent workers need distinct seeds (or "
        "none), else they propose the same architectures",
    )
    parser.add_argument(
        "--pruner",
        choices=("none", "median"),
        default="none",
        help="'median' stops a trial whose validation accuracy is below the median of "
        "earlier trials at the same epoch, from half its epochs on, once 5 trials are "
        "complete; 'none' trains every trial fully, as the paper does (default: %(default)s)",
    )


def _add_worker_arguments(parser: argparse.ArgumentParser) -> None:
    """A worker's heartbeat, stale trials and pictures."""
    parser.add_argument(
        "--heartbeat",
        type=int,
        help=f"seconds between heartbeats of running trials, at most {MAX_HEARTBEAT_SECONDS} "
        "(SQLAlchemy storages): a trial whose worker died is failed after twice this and "
        "retried once",
    )
    parser.add_argument(
        "--fail-stale",
        action="store_true",
        help="fail the trials an earlier run left RUNNING (Ctrl-C twice, kill -9, a crash "
        "without --heartbeat) and queue their architectures again; only when no other "
        "worker is running on the study, whose running trials would be failed too",
    )
    parser.add_argument(
        "--artifact-dir",
        default="artifacts",
        help="where cell pictures are stored as Optuna artifacts; '' for none "
        "(default: %(default)s)",
    )


def apply_paper_settings(args: argparse.Namespace) -> None:
    """With ``--paper``, fill the options left unset with :data:`PAPER_SEARCH`."""
    if not args.paper:
        return
    fill_unset(args, PAPER_SEARCH)


def _dataset_identity(dataset: str) -> str:
    # An image folder is identified by its absolute path, whatever directory the command
    # runs from.
    if dataset_kind(dataset) != "imagefolder":
        return dataset
    return IMAGEFOLDER_PREFIX + str(Path(imagefolder_path(dataset)).expanduser().resolve())


def _search_config(args: argparse.Namespace) -> dict[str, Any]:
    """The settings that make the trials comparable, as their effective values: an option
    left to its default records the default."""
    kind = dataset_kind(args.dataset)
    config: dict[str, Any] = {
        "dataset": _dataset_identity(args.dataset),
        "epochs": args.epochs,
        "cells": args.cells,
        "filters": args.filters,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "blocks": DEFAULT_NUM_BLOCKS,
        "val_size": DEFAULT_VAL_SIZES.get(kind) if args.val_size is None else args.val_size,
        "weight_decay": args.weight_decay,
        "label_smoothing": args.label_smoothing,
        "cutout": args.cutout,
        "objectives": list(args.objectives),
    }
    if kind == "imagefolder":
        config["image_size"] = args.image_size or IMAGEFOLDER_IMAGE_SIZE
    return config


class ProgressDisplay:
    """One line per finished trial: the study's progress, the recommended architecture's
    accuracy (:func:`~optuna_amoeba.recommend_by_mean`) and the time per trial; then the
    ``dashboard`` refresh, from the same read of the study."""

    def __init__(
        self,
        n_trials: int,
        stream: TextIO | None = None,
        dashboard: DashboardUpdater | None = None,
    ) -> None:
        self.n_trials = n_trials
        self.stream = stream
        self.dashboard = dashboard
        self.durations: list[float] = []

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        trials = study.get_trials(deepcopy=False)
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        pruned = sum(t.state == TrialState.PRUNED for t in trials)
        if trial.datetime_start is not None and trial.datetime_complete is not None:
            self.durations.append((trial.datetime_complete - trial.datetime_start).total_seconds())
        parts = [f"[{len(complete)}/{self.n_trials} complete, {pruned} pruned]"]
        parts.append(f"trial {trial.number} {trial.state.name.lower()}")
        if trial.state == TrialState.PRUNED and trial.intermediate_values:
            last_epoch = max(trial.intermediate_values)
            parts.append(
                f"val_acc={trial.intermediate_values[last_epoch]:.4f} at epoch {last_epoch + 1}"
            )
        elif trial.values is not None:
            parts.append(format_values(study, trial.values))
        if len(study.directions) > 1:
            parts.append(front_status(study))
        elif estimates := rank_trials(complete, study.direction):
            parts.append(f"recommended={short_estimate(estimates[0])}")
        if self.durations:
            mean = sum(self.durations) / len(self.durations)
            parts.append(f"{self.durations[-1]:.1f} s (mean {mean:.1f} s/trial)")
        print("  ".join(parts), file=self.stream or sys.stdout, flush=True)
        if self.dashboard is not None:
            self.dashboard(study, trial, trials)


class DashboardUpdater:
    """Refresh the study's optuna-dashboard graphs after each complete trial, if installed,
    from ``trials``, the study's trials as :class:`ProgressDisplay` read them."""

    def __init__(self, storage_url: str) -> None:
        self.enabled = importlib.util.find_spec("optuna_dashboard") is not None
        self.storage_url = storage_url

    def __call__(
        self, study: optuna.Study, trial: FrozenTrial, trials: Sequence[FrozenTrial]
    ) -> None:
        if not self.enabled or trial.state != TrialState.COMPLETE:
            return
        try:
            from optuna_amoeba.visualization.dashboard import update_study_dashboard

            update_study_dashboard(study, trials=trials)
        except ImportError as error:
            self.enabled = False
            _logger.warning(f"optuna-dashboard graphs not updated: {error}")
        # The trial is stored; a failed refresh (a storage hiccup) must not stop the search.
        except Exception as error:
            failure = driver_message(error.__cause__ or error, self.storage_url)
            _logger.warning(
                f"optuna-dashboard graphs not updated after trial {trial.number}: {failure}"
            )


def _make_sampler(args: argparse.Namespace, *, num_existing_trials: int) -> AgingEvolutionSampler:
    """The sampler; a continued study mixes ``--seed`` with its trial count so that a rerun
    does not replay the random draws of the first run."""
    options: dict[str, float | bool] = {}
    if args.dedup is not None:
        options["dedup"] = args.dedup
    if args.paper:
        options["identity_probability"] = PAPER_IDENTITY_PROBABILITY
    if args.population_size is not None:
        options["population_size"] = args.population_size
    if args.sample_size is not None:
        options["sample_size"] = args.sample_size
    if args.n_startup_trials is not None:
        options["n_startup_trials"] = args.n_startup_trials
    if args.reevaluation_probability is not None:
        options["reevaluation_probability"] = args.reevaluation_probability
    if args.tpe_probability is not None:
        options["tpe_probability"] = args.tpe_probability
    if args.mutation_candidates is not None:
        options["mutation_candidates"] = args.mutation_candidates
    if args.seed is not None:
        # Mixed, not added: a worker with --seed 1 joining a study of one trial must not
        # replay the draws of a worker with --seed 2 that started it.
        options["seed"] = (
            args.seed
            if num_existing_trials == 0
            else int(np.random.SeedSequence([args.seed, num_existing_trials]).generate_state(1)[0])
        )
    try:
        if args.sample_size is None and args.population_size is not None:
            options["sample_size"] = default_sample_size(args.population_size)
        return AgingEvolutionSampler(**options)  # type: ignore[arg-type]
    except ValueError as error:
        # The sampler names its argument (``tpe_probability must be ...``); name the flag.
        named = option_error(error, [name for name in options if name in vars(args)])
        if named is None:
            raise UsageError(f"sampler: {error}") from None
        name, message = named
        if args.paper and PAPER_SEARCH.get(name) == options[name]:
            message += f" (--paper sets {option_flag(name)} {options[name]})"
        raise UsageError(message) from None


def _best_trial(study: optuna.Study) -> FrozenTrial | None:
    try:
        return study.best_trial
    except ValueError:
        return None


def _recorded_config(study: optuna.Study) -> dict[str, Any]:
    """The settings ``study`` recorded (none for a study made outside this command), with
    the values that earlier versions left implicit spelled out."""
    stored = study.user_attrs.get(SEARCH_CONFIG_ATTR)
    if not isinstance(stored, dict):
        return {}
    recorded = {"objectives": [ACCURACY], **stored}  # studies searched before --objectives
    if "val_size" in recorded and recorded["val_size"] is None:  # before 0.3.0: the default
        recorded["val_size"] = DEFAULT_VAL_SIZES.get(str(recorded.get("dataset")))
    return recorded


def _existing_study(
    storage: optuna.storages.BaseStorage, study_name: str, config: dict[str, Any]
) -> optuna.Study | None:
    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        return None
    check_objectives(study, config["objectives"])
    recorded = _recorded_config(study)
    # A study stored by an older version is checked on the settings it recorded.
    changed = ", ".join(
        f"{key} {recorded[key]!r} (now {value!r})"
        for key, value in config.items()
        if key in recorded and recorded[key] != value
    )
    if changed:
        raise UsageError(
            f"study {study_name!r} was searched with other settings: {changed}; "
            "its trials would not be comparable, use another --study-name"
        )
    return study


def _check_arguments(args: argparse.Namespace) -> None:
    """Refuse bad options before any I/O."""
    apply_paper_settings(args)
    apply_dataset_defaults(args, SEARCH_DEFAULTS)
    if args.val_size is not None and args.val_size < 1:
        raise UsageError(
            f"--val-size must be >= 1, got {args.val_size}: a trial's value is its validation "
            "accuracy, and the test set never stands in for it"
        )
    args.objectives = parse_objectives(args.objectives)
    if len(args.objectives) > 1 and args.pruner != "none":
        raise UsageError(
            f"--pruner {args.pruner} needs a single objective; Optuna does not prune "
            f"--objectives {','.join(args.objectives)}"
        )
    for name, low in (
        ("n_trials", 1),
        ("epochs", 1),
        ("cells", 1),
        ("batch_size", 1),
        ("cutout", 0),
        ("population_size", 1),
        ("sample_size", 1),
        ("n_startup_trials", 1),
        ("limit_train_batches", 1),
    ):
        check_int(args, name, low)
    check_int(args, "filters", 1, MAX_FILTERS)
    check_int(args, "image_size", 4, MAX_IMAGE_SIZE)
    check_int(args, "heartbeat", 1, MAX_HEARTBEAT_SECONDS)
    if in_memory_storage(args.storage):
        raise UsageError(
            f"--storage {mask_url(args.storage)} is an in-memory SQLite database: the study "
            "would end with this command; name a file, e.g. sqlite:///amoeba.db"
        )
    check_cpu_threads(args)
    if args.learning_rate <= 0 or args.weight_decay < 0 or not 0 <= args.label_smoothing < 1:
        raise UsageError(
            "--learning-rate must be > 0, --weight-decay >= 0 and --label-smoothing in [0, 1), "
            f"got {args.learning_rate}, {args.weight_decay} and {args.label_smoothing}"
        )
    _make_sampler(args, num_existing_trials=0)
    if args.artifact_dir:
        check_output_dir(args.artifact_dir, "--artifact-dir")
    check_hardware(args.accelerator)


def _stale_trials(study: optuna.Study, fail_stale: bool) -> None:
    """Name the trials an earlier run left ``RUNNING``; with ``fail_stale``, fail them and
    queue their architectures again."""
    storage = study._storage
    if isinstance(storage, optuna.storages.RDBStorage) and storage.get_heartbeat_interval():
        # Optuna would do it at the first trial: the trials it fails are not stale here.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    if not running:
        return
    numbers = ", ".join(str(trial.number) for trial in running)
    if not fail_stale:
        print(
            f"study {study.study_name!r} has {len(running)} trial(s) RUNNING ({numbers}): "
            "other workers' live trials, or trials left by a run that stopped; if no other "
            "worker is running, add --fail-stale to fail them and train their architectures "
            "again",
            file=sys.stderr,
        )
        return
    from lightning_modules.objective import GENOTYPE_ATTR

    for trial in running:
        study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        if trial.user_attrs.get(GENOTYPE_ATTR) is not None:
            retry_trial(study, study._storage.get_trial(trial._trial_id))
    print(
        f"--fail-stale: failed {len(running)} trial(s) left RUNNING ({numbers}) and queued "
        "their architectures again"
    )


def run(args: argparse.Namespace) -> int:
    _check_arguments(args)
    pruner: optuna.pruners.BasePruner = (
        optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=args.epochs // 2)
        if args.pruner == "median"
        else optuna.pruners.NopPruner()
    )
    if not args.verbose:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
    study_name = args.study_name or _default_study_name(args.dataset)
    config = _search_config(args)

    new_file = storage_file(args.storage)
    if new_file is not None and os.path.exists(new_file):
        new_file = None
    created: list[optuna.Study] = []
    try:
        return _search(args, study_name, config, pruner, created)
    except (UsageError, KeyboardInterrupt):
        # Stopped before any study was created: leave no empty database file behind (unless
        # a worker started beside this one has just created its study there).
        if new_file is not None and not created and os.path.exists(new_file):
            with contextlib.suppress(UsageError):
                if not optuna.get_all_study_names(storage=open_storage(args.storage)):
                    os.remove(new_file)
        raise


def _search(
    args: argparse.Namespace,
    study_name: str,
    config: dict[str, Any],
    pruner: optuna.pruners.BasePruner,
    created: list[optuna.Study],
) -> int:
    """Open the storage, load the data and run the search; a study this creates is appended
    to ``created``."""
    storage = open_storage(args.storage, args.heartbeat)
    study = _existing_study(storage, study_name, config)
    num_existing_trials = 0
    if study is not None:
        trials = study.get_trials(deepcopy=False)
        num_existing_trials = len(trials)
        complete = [trial for trial in trials if trial.state == TrialState.COMPLETE]
        nasnet_genotypes(study, complete)
        if len(complete) >= args.n_trials:
            print(
                f"study {study_name!r} already has {len(complete)} complete trials "
                f"(--n-trials {args.n_trials}); nothing to run"
            )
            _print_best(study, args)
            return 0

    apply_cpu_threads(args)
    datamodule = prepare_data(args, seed=args.seed or 0)
    from lightning_modules.commands._interrupt import InterruptGuard

    guard = InterruptGuard()
    with guard.installed():
        existed = study is not None
        if study is None:
            study = _write_to_storage(
                args.storage, functools.partial(create_study, storage, study_name, args.objectives)
            )
            created.append(study)
        # The first write to an existing study too, so that a read-only storage is refused
        # before any trial; it also records the settings of a study made outside this command.
        _write_to_storage(
            args.storage,
            functools.partial(
                study.set_user_attr, SEARCH_CONFIG_ATTR, {**_recorded_config(study), **config}
            ),
        )
        if existed:
            _stale_trials(study, args.fail_stale)
        study.sampler = _make_sampler(args, num_existing_trials=num_existing_trials)
        study.pruner = pruner
        objective = _objective(args, datamodule)
        print(
            f"searching {study_name!r} in {mask_url(args.storage)}: {args.dataset}, "
            f"N={args.cells}, F={args.filters}, {args.epochs} epochs per trial, "
            f"until {args.n_trials} trials are complete"
            + (", the paper's aging evolution (P=100, S=25, no dedup)" if args.paper else ""),
            flush=True,
        )
        start = time.monotonic()
        try:
            guard.stop_if_requested()
            study.optimize(
                guard.objective(objective),
                callbacks=[
                    optuna.study.MaxTrialsCallback(args.n_trials, states=(TrialState.COMPLETE,)),
                    ProgressDisplay(args.n_trials, dashboard=DashboardUpdater(args.storage)),
                    guard.callback,
                ],
                gc_after_trial=True,
            )
        except KeyboardInterrupt:
            from lightning_modules.commands._interrupt import requeue_interrupted

            for number in (signal.SIGINT, signal.SIGTERM):  # the clean-up is a few writes
                signal.signal(number, signal.SIG_IGN)
            done = requeue_interrupted(study, guard.trial_number)
            raise Interrupted(
                f"{done}; run the same command to continue the study", guard.signal_number
            ) from None
    print(f"done in {time.monotonic() - start:.0f} s")
    _print_best(study, args)
    return 0


def _write_to_storage(url: str, write: Callable[[], _Written]) -> _Written:
    """``write()``, a write to the storage at ``url``; a storage that refuses it (a read-only
    database or file, a read-only Redis replica) is a :class:`UsageError`."""
    try:
        return write()
    except Exception as error:  # each storage and driver raises its own kinds
        # Optuna's RDBStorage wraps the driver's error in a message of its own.
        cause = error.__cause__ if isinstance(error, StorageInternalError) else None
        raise UsageError(
            f"cannot write to storage {mask_url(url)}: {driver_message(cause or error, url)}"
        ) from None


def _objective(args: argparse.Namespace, datamodule: Any) -> Callable[[optuna.Trial], Any]:
    artifact_store = None
    if args.artifact_dir:
        from optuna.artifacts import FileSystemArtifactStore

        os.makedirs(args.artifact_dir, exist_ok=True)
        artifact_store = FileSystemArtifactStore(args.artifact_dir)

    from lightning_modules.objective import make_accuracy_size_objective
    from lightning_modules.objective import make_objective

    objective: Callable[[optuna.Trial], Any] = (
        functools.partial(make_accuracy_size_objective, args.objectives[1])
        if len(args.objectives) > 1
        else make_objective
    )(
        dataset=datamodule,
        epochs=args.epochs,
        num_cells=args.cells,
        num_filters=args.filters,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        weight_decay=args.weight_decay,
        label_smoothing=args.label_smoothing,
        accelerator=args.accelerator,
        compile_network=args.compile,
        deterministic=args.deterministic,
        limit_train_batches=args.limit_train_batches,
        seed=args.seed,
        artifact_store=artifact_store,
        quiet=not args.verbose,
    )
    return objective


def _default_study_name(dataset: str) -> str:
    if dataset_kind(dataset) == "imagefolder":
        return f"amoeba-{Path(imagefolder_path(dataset)).expanduser().resolve().name}"
    return f"amoeba-{dataset}"


def _print_best(study: optuna.Study, args: argparse.Namespace) -> None:
    if len(study.directions) > 1:
        print_trade_offs(study)
        return
    estimates = recommend_by_mean(study)
    if not estimates:
        print("no complete trial yet")
        return
    recommended = estimates[0]
    best = _best_trial(study)
    if best is not None and best.number not in recommended.trial_numbers:
        print(
            f"best trial {best.number}: val_acc={best.value:.4f} (one training; its "
            "architecture ranks below the recommended one by pessimistic mean)"
        )
    first = study.trials[recommended.trial_numbers[0]]
    params = first.user_attrs.get("params")
    size = f", {params:,} parameters" if isinstance(params, int) else ""
    print(f"recommended: {describe_estimate(recommended, 'val_acc')}{size}")
    print(f"recommended genotype: {trial_genotype(first)}")
    if args.artifact_dir:
        print(dashboard_hint(args.storage, args.artifact_dir))


def dashboard_hint(url: str, artifact_dir: str) -> str:
    """The optuna-dashboard command that shows the study with its cell pictures.

    optuna-dashboard reads a journal file from its path (``journal://`` is this package's
    URL form, which it does not know) and a Redis journal only without a key prefix.
    """
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    target = mask_url(url)
    if scheme == JOURNAL_SCHEME:
        target = url.split("://", 1)[1]
    elif scheme in REDIS_SCHEMES and f"{REDIS_PREFIX_PARAMETER}=" in url.partition("?")[2]:
        return (
            "cell pictures: optuna-dashboard cannot open a Redis journal with a key prefix; "
            f"the pictures are in {artifact_dir}"
        )
    return f"cell pictures: optuna-dashboard {target} --artifact-dir {artifact_dir}"
