"""``optuna-amoeba show``: the best architectures of a search, ranked as
``optuna_amoeba.recommend_by_mean`` ranks them, with pictures of their cells; for a
two-objective search, its Pareto front."""

from __future__ import annotations

import argparse
from pathlib import Path

from optuna.study import StudyDirection
from optuna.trial import TrialState

from lightning_modules.commands._common import add_storage_arguments
from lightning_modules.commands._common import check_int
from lightning_modules.commands._common import check_output_dir
from lightning_modules.commands._common import describe_estimate
from lightning_modules.commands._common import load_study
from lightning_modules.commands._common import nasnet_genotypes
from lightning_modules.commands._common import open_existing_storage
from lightning_modules.commands._pareto import show_front
from optuna_amoeba import rank_trials


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_storage_arguments(parser, "(default: the storage's only study)")
    parser.add_argument(
        "--top",
        type=int,
        default=5,
        help="how many architectures (default: %(default)s); a two-objective study lists its "
        "whole Pareto front",
    )
    parser.add_argument(
        "--output-dir",
        default="cells",
        help="where the pictures go: each listed architecture's cells and lineage, the "
        "study's progress and, for two objectives, its Pareto front (default: %(default)s)",
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
    ranked = rank_trials(trials, study.direction)[: args.top]  # the trials read above
    by_number = {trial.number: trial for trial in trials}
    # One picture per architecture: its first training's, whose lineage shows where it came from.
    best = [by_number[estimate.trial_numbers[0]] for estimate in ranked]

    from optuna_amoeba.visualization import write_figures

    output_dir = Path(args.output_dir)
    written = write_figures(
        study, output_dir, formats=args.formats, trials=best, target_name=target
    )
    pessimistic = any(estimate.pessimistic_mean != estimate.mean for estimate in ranked)
    notes = [] if maximize else ["minimised"]
    if pessimistic:
        notes.append("the mean moved one pooled standard error towards worse")
    print(
        f"study {study.study_name!r}: {len(trials)} complete trials, the best {len(best)} "
        f"architectures by {'pessimistic mean ' if pessimistic else ''}{target}"
        + (f" ({'; '.join(notes)})" if notes else "")
    )
    for rank, (estimate, trial) in enumerate(zip(ranked, best, strict=True), start=1):
        genotype = genotypes[trial.number]
        params = trial.user_attrs.get("params")
        flops = trial.user_attrs.get("flops")
        seconds = trial.user_attrs.get("train_seconds")
        details = [describe_estimate(estimate, short)]
        if isinstance(params, int):
            details.append(f"{params:,} params")
        if isinstance(flops, int):
            details.append(f"{flops / 1e6:,.1f} MFLOPs")
        if isinstance(seconds, (int, float)):
            details.append(f"{seconds:.0f} s")
        print(f"{rank}. {', '.join(details)}")
        print(f"   {genotype}")
        cells = [str(path) for path in written if path.stem == f"trial_{trial.number}_cells"]
        print(f"   cells: {', '.join(cells)}")
    print(f"pictures: {len(written)} files in {output_dir}")
    return 0
