"""``optuna-amoeba show``: the best trials of a search, with pictures of their cells; for a
two-objective search, its Pareto front."""

from __future__ import annotations

import argparse
from pathlib import Path

from optuna.study import StudyDirection
from optuna.trial import TrialState

from lightning_modules.commands._common import add_storage_arguments
from lightning_modules.commands._common import check_int
from lightning_modules.commands._common import check_output_dir
from lightning_modules.commands._common import load_study
from lightning_modules.commands._common import nasnet_genotypes
from lightning_modules.commands._common import open_existing_storage
from lightning_modules.commands._pareto import show_front
from optuna_amoeba import rank_by_mean


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_storage_arguments(parser, "(default: the storage's only study)")
    parser.add_argument(
        "--top",
        type=int,
        default=5,
        help="how many trials (default: %(default)s); a two-objective study lists its "
        "whole Pareto front",
    )
    parser.add_argument(
        "--output-dir",
        default="cells",
        help="where the pictures go: each trial's cells and lineage, the study's progress "
        "and, for two objectives, its Pareto front (default: %(default)s)",
    )
    parser.add_argument(
        "--formats",
        nargs="+",
        choices=("png", "svg", "pdf"),
        default=["png"],
        help="picture formats (default: png)",
    )


def run(args: argparse.Namespace) -> int:
    check_int(args, "top", 1)
    check_output_dir(args.output_dir, "--output-dir")
    storage = open_existing_storage(args.storage)
    study = load_study(storage, args.study_name, args.storage)
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    genotypes = nasnet_genotypes(study, trials)
    if len(study.directions) > 1:
        return show_front(study, Path(args.output_dir), args.formats)
    if not trials:
        print(f"study {study.study_name!r} has no complete trial yet")
        return 0
    # A study searched by optuna-amoeba maximises validation accuracy; others may minimise.
    maximize = study.direction == StudyDirection.MAXIMIZE
    target, short = ("validation accuracy", "val_acc") if maximize else ("value", "value")
    sign = -1.0 if maximize else 1.0
    best = sorted(trials, key=lambda trial: (sign * (trial.value or 0.0), trial.number))
    best = best[: args.top]

    repeated = {
        number: estimate
        for estimate in rank_by_mean(study, min_evaluations=2)
        for number in estimate.trial_numbers
    }

    from optuna_amoeba.visualization import write_figures

    output_dir = Path(args.output_dir)
    written = write_figures(
        study, output_dir, formats=args.formats, trials=best, target_name=target
    )
    print(
        f"study {study.study_name!r}: {len(trials)} complete trials, "
        f"the best {len(best)} by {target}" + ("" if maximize else " (minimised)")
    )
    for rank, trial in enumerate(best, start=1):
        genotype = genotypes[trial.number]
        params = trial.user_attrs.get("params")
        flops = trial.user_attrs.get("flops")
        seconds = trial.user_attrs.get("train_seconds")
        details = [f"{short}={trial.value:.4f}"]
        if trial.number in repeated:
            estimate = repeated[trial.number]
            details.append(
                f"mean {estimate.mean:.4f} ± {estimate.std_error:.4f} over {estimate.count} "
                "trainings of this architecture"
            )
        if isinstance(params, int):
            details.append(f"{params:,} params")
        if isinstance(flops, int):
            details.append(f"{flops / 1e6:,.1f} MFLOPs")
        if isinstance(seconds, (int, float)):
            details.append(f"{seconds:.0f} s")
        print(f"{rank}. trial {trial.number}: {', '.join(details)}")
        print(f"   {genotype}")
        cells = [str(path) for path in written if path.stem == f"trial_{trial.number}_cells"]
        print(f"   cells: {', '.join(cells)}")
    print(f"pictures: {len(written)} files in {output_dir}")
    return 0
