"""Regression tests for defects found by using ``optuna-amoeba`` as a user would: seeds at the
top of their range, trials left RUNNING, ``show`` on a minimising study, the dashboard hint."""

from __future__ import annotations

from pathlib import Path
import shutil

from cli_support import BARE_TINY
from cli_support import SMALL
from cli_support import TINY
import optuna
from optuna.trial import TrialState
import pytest

from lightning_modules.cli import build_parser
from lightning_modules.cli import main
from lightning_modules.commands import search
from lightning_modules.commands.search import dashboard_hint
from lightning_modules.commands.search import SEARCH_CONFIG_ATTR
from lightning_modules.testing import write_image_folder
from optuna_amoeba import MUTATION_KEY
from optuna_amoeba import PARENT_KEY
from optuna_amoeba.nasnet import AMOEBANET_A
from optuna_amoeba.nasnet import NASNET_A
from optuna_amoeba.nasnet import suggest_genotype


pytestmark = pytest.mark.usefixtures("isolated_cli")


def test_the_largest_seed_trains_every_trial(tmp_path: Path) -> None:
    # Trial 1 trains with (seed + 1) modulo 2**32 = 0, not with an out-of-range seed.
    url = f"sqlite:///{tmp_path / 'amoeba.db'}"
    search = ["search", *BARE_TINY, "--storage", url, "--seed", str(2**32 - 1), "--n-trials", "2"]
    assert main(search) == 0
    trials = optuna.load_study(study_name="amoeba-digits", storage=url).trials
    assert [trial.state for trial in trials] == [TrialState.COMPLETE] * 2


def _leave_a_trial_running(url: str) -> optuna.trial.FrozenTrial:
    """What a search killed mid-trial without --heartbeat leaves behind."""
    study = optuna.load_study(
        study_name="amoeba-digits", storage=url, sampler=optuna.samplers.RandomSampler(0)
    )
    trial = study.ask()
    genotype = suggest_genotype(trial)
    trial.set_user_attr("genotype", str(genotype))
    study._storage.set_trial_system_attr(trial._trial_id, MUTATION_KEY, "op")
    study._storage.set_trial_system_attr(trial._trial_id, PARENT_KEY, 0)
    return study.trials[trial.number]


def test_trials_left_running_are_named_and_fail_stale_retries_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'amoeba.db'}"
    search = ["search", *BARE_TINY, "--storage", url, "--seed", "0"]
    assert main([*search, "--n-trials", "1"]) == 0
    stale = _leave_a_trial_running(url)
    capsys.readouterr()

    assert main([*search, "--n-trials", "2"]) == 0
    err = capsys.readouterr().err
    assert "study 'amoeba-digits' has 1 trial(s) RUNNING (1)" in err
    assert "add --fail-stale" in err
    study = optuna.load_study(study_name="amoeba-digits", storage=url)
    assert study.trials[stale.number].state == TrialState.RUNNING

    assert main([*search, "--n-trials", "3", "--fail-stale"]) == 0
    out = capsys.readouterr().out
    assert "--fail-stale: failed 1 trial(s) left RUNNING (1) and queued their architectures" in out
    trials = optuna.load_study(study_name="amoeba-digits", storage=url).trials
    assert trials[stale.number].state == TrialState.FAIL
    retried = [t for t in trials if t.system_attrs.get("failed_trial") == stale.number]
    assert len(retried) == 1
    assert retried[0].state == TrialState.COMPLETE
    assert retried[0].params == stale.params
    assert retried[0].system_attrs[MUTATION_KEY] == "op"
    assert retried[0].system_attrs[PARENT_KEY] == 0
    assert not [t for t in trials if t.state == TrialState.RUNNING]


def test_show_lists_a_minimising_study_from_its_lowest_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'errors.db'}"
    study = optuna.create_study(study_name="errors", storage=url, direction="minimize")
    for genotype, value in [(AMOEBANET_A, 0.3), (NASNET_A, 0.1), (AMOEBANET_A, 0.2)]:
        study.enqueue_trial(genotype.to_params())
        trial = study.ask()
        suggest_genotype(trial)
        study.tell(trial, value)
    assert main(["show", "--storage", url, "--top", "2", "--output-dir", "cells"]) == 0
    out = capsys.readouterr().out
    assert "the best 2 architectures by pessimistic mean value (minimised; the mean moved" in out
    # NASNet-A's one training, 0.1 plus the pooled standard error of 0.0707, ranks above
    # AmoebaNet-A's mean 0.25 plus 0.0707 / sqrt(2).
    first = "1. trial 1: value=0.1000, pessimistic mean 0.1707"
    second = "2. trials 0, 2: value mean 0.2500 ± 0.0500 over 2 trainings, pessimistic mean 0.3000"
    assert out.index(first) < out.index(second)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "sqlite:///amoeba.db",
            "cell pictures: optuna-dashboard sqlite:///amoeba.db --artifact-dir art",
        ),
        (
            "postgresql://u:secret@h/db",
            "cell pictures: optuna-dashboard postgresql://u:***@h/db --artifact-dir art",
        ),
        (
            "journal:///abs/study.log",
            "cell pictures: optuna-dashboard /abs/study.log --artifact-dir art",
        ),
        ("journal://study.log", "cell pictures: optuna-dashboard study.log --artifact-dir art"),
        (
            "redis://127.0.0.1:6379/0",
            "cell pictures: optuna-dashboard redis://127.0.0.1:6379/0 --artifact-dir art",
        ),
        (
            "redis://127.0.0.1:6379/0?prefix=nas",
            "cell pictures: optuna-dashboard cannot open a Redis journal with a key prefix; "
            "the pictures are in art",
        ),
    ],
)
def test_dashboard_hint_names_what_optuna_dashboard_opens(url: str, expected: str) -> None:
    assert dashboard_hint(url, "art") == expected


def test_optuna_dashboard_opens_the_journal_path_the_hint_prints(tmp_path: Path) -> None:
    from optuna_dashboard._storage_url import get_storage

    from optuna_amoeba import open_storage

    url = f"journal://{tmp_path / 'study.log'}"
    optuna.create_study(study_name="s", storage=open_storage(url))
    target = dashboard_hint(url, "art").split()[3]
    assert [study.study_name for study in get_storage(target).get_all_studies()] == ["s"]
    with pytest.raises(Exception, match=r"sqlalchemy\.dialects:journal"):
        get_storage(url)  # what the hint printed before


ODD_PASSWORD = "s3cret s3cret&s3cret#s3cret@s3cret:s3cret/s3cret"


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql+psycopg2://amoeba:{ODD_PASSWORD}@db.example:5432/amoeba",
        f"mysql+pymysql://amoeba@db.example/amoeba?password={ODD_PASSWORD}",
        f"redis://:{ODD_PASSWORD}@cache.example:6379/0",
    ],
)
def test_a_successful_search_never_prints_the_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], url: str
) -> None:
    # Any server would do: the lines printed are what is checked, so the study lives in memory.
    storage = optuna.storages.InMemoryStorage()
    monkeypatch.setattr(search, "open_storage", lambda *_: storage)
    assert main(["search", *TINY, "--n-trials", "1", "--storage", url]) == 0
    out, err = capsys.readouterr()
    assert "searching 'amoeba-digits' in " in out
    assert "cell pictures: optuna-dashboard " in out
    assert "s3cret" not in out + err


def _study_settings(url: str, name: str) -> dict[str, object]:
    settings = optuna.load_study(study_name=name, storage=url).user_attrs[SEARCH_CONFIG_ATTR]
    assert isinstance(settings, dict)
    return settings


def test_a_study_is_continued_on_its_effective_settings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'amoeba.db'}"
    searched = ["search", *BARE_TINY, "--n-trials", "1", "--storage", url]
    assert main(searched) == 0
    assert _study_settings(url, "amoeba-digits")["val_size"] == 288
    assert main([*searched, "--val-size", "288"]) == 0  # the default, given explicitly
    capsys.readouterr()
    assert main([*searched, "--val-size", "200"]) == 2
    assert "val_size 288 (now 200)" in capsys.readouterr().err


def test_an_image_folder_study_records_its_effective_image_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_image_folder(tmp_path / "pictures", per_class=4)
    url = f"sqlite:///{tmp_path / 'amoeba.db'}"
    searched = ["search", *SMALL, "--dataset", f"imagefolder:{folder}", "--batch-size", "2"]
    searched += ["--limit-train-batches", "1", "--artifact-dir", "", "--storage", url]
    assert main([*searched, "--n-trials", "1"]) == 0
    assert _study_settings(url, "amoeba-pictures")["image_size"] == 32
    assert main([*searched, "--n-trials", "1", "--image-size", "32"]) == 0
    capsys.readouterr()
    assert main([*searched, "--n-trials", "1", "--image-size", "16"]) == 2
    assert "image_size 32 (now 16)" in capsys.readouterr().err


def test_studies_of_earlier_versions_and_empty_studies_get_their_settings_recorded(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'amoeba.db'}"
    optuna.create_study(study_name="empty", storage=url, direction="maximize")
    old = optuna.create_study(study_name="old", storage=url, direction="maximize")
    # An earlier version recorded a default validation size as None, and no image size.
    old.set_user_attr(SEARCH_CONFIG_ATTR, {"dataset": "digits", "val_size": None})
    for name in ("empty", "old"):
        searched = ["search", *BARE_TINY, "--n-trials", "1", "--storage", url]
        assert main([*searched, "--study-name", name]) == 0
        settings = _study_settings(url, name)
        assert settings["val_size"] == 288
        assert settings["filters"] == 4
        assert main([*searched, "--study-name", name, "--filters", "8"]) == 2


def test_train_refuses_to_resume_a_checkpoint_of_other_images(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # As many classes as digits has, so that only the images' channels and size differ.
    folder = write_image_folder(tmp_path / "pictures", classes=("0",), per_class=2)
    for digit in range(1, 10):
        shutil.copytree(folder / "0", folder / str(digit))
    trained = [
        "train",
        "--genotype",
        "nasnet_a",
        *TINY,
        "--checkpoint-dir",
        "ck",
        "--val-size",
        "0",
        "--batch-size",
        "4",
    ]
    assert main([*trained, "--dataset", f"imagefolder:{folder}", "--image-size", "8"]) == 0
    capsys.readouterr()
    assert main(trained) == 2  # digits: grayscale, 8x8
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "trains another model (in_channels differ); use another --checkpoint-dir" in err


def test_workers_with_distinct_seeds_never_replay_each_others_draws() -> None:
    # The documented --seed 1, --seed 2... per worker: one joining a study of one trial drew
    # what the one that started it drew (seed + trial count), so both trained the same.
    def first_genotype(seed: int, existing_trials: int) -> str:
        args = build_parser().parse_args(["search", "--seed", str(seed)])
        sampler = search._make_sampler(args, num_existing_trials=existing_trials)
        return str(suggest_genotype(optuna.create_study(sampler=sampler).ask()))

    assert first_genotype(2, 0) != first_genotype(1, 1)
    assert first_genotype(1, 0) != first_genotype(0, 1)
    assert first_genotype(1, 5) == first_genotype(1, 5)
