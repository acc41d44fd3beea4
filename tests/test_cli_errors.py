"""Every error path of ``optuna-amoeba search``, ``train`` and ``show``, as a user meets it:
one line on stderr, exit code 2, no traceback, nothing written to a study or the disk, and
never the storage's password."""

from __future__ import annotations

from collections.abc import Callable
import os
from pathlib import Path
import sys

from cli_support import SMALL
from cli_support import TINY
import optuna
from optuna.distributions import FloatDistribution
import pytest

from lightning_modules.cli import main
from lightning_modules.commands.search import SEARCH_CONFIG_ATTR
from optuna_amoeba.nasnet import AMOEBANET_A


PASSWORD = "s3cret"
# Unreachable servers (port 1) behind URLs with passwords, in each place a password goes.
UNREACHABLE = [
    f"postgresql+psycopg2://amoeba:{PASSWORD}@127.0.0.1:1/amoeba",
    f"postgresql+psycopg2://amoeba:{PASSWORD}@RET@127.0.0.1:1/amoeba",
    f"mysql+pymysql://amoeba@127.0.0.1:1/amoeba?password={PASSWORD}",
    f"redis://:{PASSWORD}@127.0.0.1:1/0",
]
# Passwords that hold a space, "&", "#", "@", ":" or "/" unencoded, each piece of them the
# password itself, so that any piece shown fails the check for PASSWORD.
ODD = f"{PASSWORD} {PASSWORD}&{PASSWORD}#{PASSWORD}@{PASSWORD}:{PASSWORD}/{PASSWORD}"
ODD_PASSWORDS = [f"{PASSWORD} {PASSWORD}", f"{PASSWORD}&{PASSWORD}", f"{PASSWORD}#{PASSWORD}", ODD]
ODD_URLS = [
    *(f"postgresql+psycopg2://amoeba:{odd}@127.0.0.1:1/amoeba" for odd in ODD_PASSWORDS),
    *(f"mysql+pymysql://amoeba@127.0.0.1:1/amoeba?password={odd}" for odd in ODD_PASSWORDS),
    *(f"redis://:{odd}@127.0.0.1:1/0" for odd in ODD_PASSWORDS),
    f"redis://127.0.0.1:1/0?password={ODD}",
]


def _studies_db(path: Path) -> str:
    """A storage with the kinds of study a user may point the commands at."""
    url = f"sqlite:///{path}"
    storage = optuna.storages.RDBStorage(url)
    searched = optuna.create_study(study_name="searched", storage=storage, direction="maximize")
    searched.set_user_attr(SEARCH_CONFIG_ATTR, {"dataset": "digits", "epochs": 99})
    searched.add_trial(
        optuna.trial.create_trial(
            value=0.9,
            params=AMOEBANET_A.to_params(),
            distributions={
                name: optuna.distributions.CategoricalDistribution(sorted({value, 0}, key=str))
                for name, value in AMOEBANET_A.to_params().items()
            },
            user_attrs={"genotype": str(AMOEBANET_A)},
        )
    )
    foreign = optuna.create_study(study_name="foreign", storage=storage, direction="maximize")
    foreign.add_trial(
        optuna.trial.create_trial(
            value=0.5, params={"x": 0.5}, distributions={"x": FloatDistribution(0, 1)}
        )
    )
    broken = optuna.create_study(study_name="broken", storage=storage, direction="maximize")
    broken.add_trial(optuna.trial.create_trial(value=0.5, user_attrs={"genotype": "garbage"}))
    optuna.create_study(study_name="loss", storage=storage, direction="minimize")
    optuna.create_study(study_name="empty", storage=storage, direction="maximize")
    optuna.create_study(study_name="pareto", storage=storage, directions=["maximize", "minimize"])
    return url


def _state(url: str) -> list[tuple[str, int, dict[str, object]]]:
    return [
        (summary.study_name, summary.n_trials, summary.user_attrs)
        for summary in optuna.get_all_study_summaries(url)
    ]


def _files(root: Path) -> set[Path]:
    return set(root.rglob("*"))


Row = tuple[list[str], str]


def _search(options: str, error: str) -> Row:
    """``search`` of the SMALL network with ``options`` (split at spaces), failing with
    ``error``."""
    return ["search", *SMALL, *options.split()], error


def _train(options: str, error: str) -> Row:
    """``train --genotype amoebanet_a`` with ``options`` (split at spaces), failing with
    ``error``."""
    return ["train", "--genotype", "amoebanet_a", *options.split()], error


def _not_finite(command: Callable[[str, str], Row], values: dict[str, str]) -> list[Row]:
    """``command`` rows refusing each option's non-finite value in ``values``."""
    return [
        command(f"{option} {value}", f"argument {option}: must be a finite number, got '{value}'")
        for option, value in values.items()
    ]


def _train_and_show(options: str, error: str) -> list[Row]:
    """``train --from-study`` and ``show`` with ``options`` (split at spaces), both failing with
    ``error``."""
    return [
        (["train", "--from-study", *options.split()], error),
        (["show", *options.split()], error),
    ]


def _id(argv: list[str]) -> str:
    """The command line, with TINY and SMALL named rather than spelled out."""
    line = " ".join(argv)
    return line.replace(" ".join(TINY), "TINY").replace(" ".join(SMALL), "SMALL")


READ_ONLY = "sqlite:///file:{tmp}/amoeba.db?mode=ro&uri=true"
NO_CIFAR10 = ["--dataset", "cifar10", "--data-dir", "missing", "--no-download"]
ROWS: list[Row] = [
    # search: options
    (["search", "--dataset", "mnist"], "argument --dataset: must be cifar10, digits"),
    _search("--cells 0", "--cells must be >= 1, got 0"),
    _search("--n-trials 0", "--n-trials must be >= 1, got 0"),
    _search("--val-size 0", "--val-size must be >= 1, got 0"),
    _search("--heartbeat 0", "--heartbeat must be an int in [1, 86400], got 0"),
    _search("--heartbeat 86401", "--heartbeat must be an int in [1, 86400], got 86401"),
    _search(
        "--heartbeat 100000000000", "--heartbeat must be an int in [1, 86400], got 100000000000"
    ),
    _search("--filters 1025", "--filters must be an int in [1, 1024], got 1025"),
    (
        ["search", "--dataset", "imagefolder:{tmp}", "--image-size", "1025"],
        "--image-size must be an int in [4, 1024], got 1025",
    ),
    _search("--image-size 16", "--image-size applies to --dataset imagefolder"),
    _search("--objectives speed", "--objectives must be one of"),
    _search(
        "--objectives accuracy,params --pruner median", "--pruner median needs a single objective"
    ),
    _search(
        "--population-size 4 --sample-size 9",
        "--sample-size must be an int in [1, 4], got 9",
    ),
    _search(
        "--reevaluation-probability 1.5",
        "--reevaluation-probability must be a probability in [0, 1], got 1.5",
    ),
    _search(
        "--tpe-probability -1",
        "--tpe-probability must be a probability in [0, 1], got -1.0",
    ),
    _search("--mutation-candidates 0", "--mutation-candidates must be an int >= 1, got 0"),
    _search(
        "--population-size 4 --n-startup-trials 9",
        "--n-startup-trials must be an int in [1, 4], got 9",
    ),
    _search(
        "--paper --population-size 50",
        "--n-startup-trials must be an int in [1, 50], got 100 "
        "(--paper sets --n-startup-trials 100)",
    ),
    *_not_finite(
        _search,
        {
            "--reevaluation-probability": "nan",
            "--tpe-probability": "inf",
            "--learning-rate": "nan",
            "--weight-decay": "nan",
            "--label-smoothing": "inf",
        },
    ),
    _search("--learning-rate 0", "--learning-rate must be > 0"),
    _search("--cpu-threads 100000", "--cpu-threads must be an int in [1, "),
    _search(
        "--seed 4294967296", "argument --seed: must be an int in [0, 4294967295], got '4294967296'"
    ),
    _search("--seed -1", "argument --seed: must be an int in [0, 4294967295]"),
    _search("--artifact-dir {file}", "--artifact-dir {file} cannot be a folder"),
    _search(
        "--artifact-dir {file}/pictures",
        "--artifact-dir {file}/pictures cannot be a folder ({file} is a file)",
    ),
    (["search", *NO_CIFAR10], "cannot load cifar10 from missing (and --no-download was given)"),
    _search("--accelerator tpu", "--accelerator tpu and --devices 1 cannot run here"),
    _search("--artifact-dir {dangling}", "({dangling} is a symbolic link to"),
    _search("--artifact-dir {dangling}/pictures", "({dangling} is a symbolic link to"),
    _search(
        "--accelerator bogus",
        "--accelerator bogus and --devices 1 cannot run here: You selected an invalid "
        "accelerator name",
    ),
    # search: a new storage file is not left behind when the data refuses
    _search(
        "--val-size 100000 --storage sqlite:///{tmp}/new.db",
        "--val-size must be an int in [0, 1000], got 100000",
    ),
    _search(
        "--batch-size 100000 --storage journal://{tmp}/new.log",
        "--batch-size must be at most the 1149 training images of digits, got 100000",
    ),
    (
        ["search", *NO_CIFAR10, "--storage", "sqlite:///{tmp}/new.db"],
        "cannot load cifar10 from missing (and --no-download was given)",
    ),
    (
        ["train", "--genotype", "nasnet_a", *TINY, "--batch-size", "5000"],
        "--batch-size must be at most the 1149 training images of digits, got 5000",
    ),
    # search: storages and studies
    _search("--storage nonsense", "storage URL must be"),
    _search(
        "--storage redis://127.0.0.1:6379/notanint",
        "the Redis database in redis://127.0.0.1:6379/notanint must be an int >= 0",
    ),
    _search("--storage journal:///no/such/folder/study.log", "the directory of journal file"),
    *(
        _search(f"--storage {url}", f"--storage {url} is an in-memory SQLite database")
        for url in ("sqlite://", "sqlite:///:memory:")
    ),
    _search(
        "--storage journal://study.log --heartbeat 5",
        "heartbeat_interval is supported for SQLAlchemy (RDB) storages only",
    ),
    *(_search(f"--storage {url}", "cannot open storage") for url in UNREACHABLE),
    *((["search", *SMALL, "--storage", url], "cannot open storage") for url in ODD_URLS),
    # search: a storage it cannot write to (a read-only open of the workspace's database)
    *(
        _search(f"--storage {READ_ONLY} {options}", "cannot write to storage")
        for options in (
            "--study-name new",
            "--study-name empty",
            "--study-name searched --epochs 99",
        )
    ),
    _search(
        "--study-name searched",
        "study 'searched' was searched with other settings: epochs 99 (now 1)",
    ),
    _search("--study-name loss", "study 'loss' exists but does not maximise"),
    _search("--study-name pareto", "study 'pareto' exists but does not maximise one value"),
    *(
        _search(
            f"--study-name foreign --n-trials {n}",
            "trial 0 of study 'foreign' holds no NASNet genotype",
        )
        for n in (1, 5)
    ),
    _search(
        "--study-name broken --n-trials 1",
        "trial 0 of study 'broken' holds no NASNet genotype (cannot parse genotype 'garbage'",
    ),
    # train: options
    (["train", "--genotype", "normal: warp(h0) + identity(h1)"], "--genotype must be"),
    _train("--devices two", "--devices must be"),
    _train("--devices 0", "--devices must be"),
    _train(
        f"--accelerator cpu --devices {(os.cpu_count() or 1) + 1}",
        "on the CPU each device is a training process, and this machine has",
    ),
    _train("--epochs 0", "--epochs must be >= 1, got 0"),
    _train("--filters 10000000", "--filters must be an int in [1, 1024], got 10000000"),
    _train(
        "--dataset imagefolder:{tmp} --image-size 100000",
        "--image-size must be an int in [4, 1024], got 100000",
    ),
    _train("--accelerator tpu", "--accelerator tpu and --devices auto cannot run here"),
    _train(
        "--precision transformer-engine",
        "--accelerator auto, --precision transformer-engine and --devices auto cannot run here",
    ),
    _train("--checkpoint-dir {dangling}", "({dangling} is a symbolic link to"),
    (
        _train("--checkpoint-dir {exported} --export torch-export --export torchscript", "")[0]
        + TINY,
        "--export torchscript writes {exported}/model.torchscript.pt, which is a folder",
    ),
    _train("--accelerator bogus", "--accelerator bogus and --devices auto cannot run here"),
    _train(
        "--precision bogus",
        "--accelerator auto, --precision bogus and --devices auto cannot run here: Precision "
        "'bogus' is invalid",
    ),
    *_not_finite(_train, {"--learning-rate": "nan", "--momentum": "inf", "--dropout": "nan"}),
    _train("--drop-path-keep-prob 0", "--drop-path-keep-prob must be in (0, 1], got 0.0"),
    _train("--gradient-clip -1", "--auxiliary-weight and --gradient-clip must be >= 0"),
    _train("--seed 4294967296", "argument --seed: must be an int in [0, 4294967295]"),
    _train("--cpu-threads 0", "--cpu-threads must be an int in [1, "),
    _train("--checkpoint-dir {file}", "--checkpoint-dir {file} cannot be a folder"),
    (
        ["train", "--genotype", "amoebanet_a", *TINY, "--checkpoint-dir", "{foreign}"],
        "cannot read checkpoint {foreign}/last.ckpt",
    ),
    _train("--from-study", "not allowed with argument"),
    (["train"], "one of the arguments --genotype --from-study is required"),
    # train --from-study and show: storages and studies
    *_train_and_show("--storage sqlite:///{tmp}/missing.db", "no SQLite database at"),
    *_train_and_show("--storage journal:///{tmp}/missing.log", "no journal file at"),
    *_train_and_show("--storage sqlite://", "sqlite:// is an in-memory SQLite database"),
    # Malformed URLs holding a password: never shown.
    *(
        (argv, error)
        for url, error in (
            (f"sqlite:// user:{PASSWORD}@/", "sqlite://***@/ is an in-memory SQLite database"),
            (f"postgresql://amoeba:{PASSWORD}/amoeba", "its port is not a number"),
            (f"redis://:{PASSWORD}/x@127.0.0.1:1/0", "it has no host[:port] after its password"),
            (f"redis://:1234/{PASSWORD}@127.0.0.1:1/0", "it has no host[:port] after its"),
            (f"postgresql:///amoeba:{PASSWORD}@127.0.0.1:1/amoeba", "postgresql://***@127.0.0.1"),
            (f"postgresql:/amoeba:s3#{PASSWORD}@127.0.0.1:1/amoeba", "***@127.0.0.1:1/amoeba"),
        )
        for argv in (
            ["search", *SMALL, "--storage", url],
            ["train", "--from-study", "--storage", url],
            ["show", "--storage", url],
        )
    ),
    *(
        ([*command, "--storage", f"sqlite://us/er:{PASSWORD}@/"], "no SQLite database at ***@/")
        for command in (["train", "--from-study"], ["show"])
    ),
    *(
        row
        for url in UNREACHABLE
        for row in _train_and_show(f"--storage {url}", "cannot open storage")
    ),
    *(
        (argv, "cannot open storage")
        for url in ODD_URLS
        for argv in (["train", "--from-study", "--storage", url], ["show", "--storage", url])
    ),
    *_train_and_show(
        "",
        "holds 6 studies (broken, empty, foreign, loss, pareto, searched); name one with "
        "--study-name",
    ),
    *_train_and_show("--study-name nope", "no study named 'nope'"),
    *_train_and_show("--study-name foreign", "trial 0 of study 'foreign' holds no"),
    *_train_and_show("--study-name broken", "trial 0 of study 'broken' holds no"),
    (["train", "--from-study", "--study-name", "empty"], "has no complete trial yet"),
    (["train", "--from-study", "--study-name", "pareto"], "has 2 objectives"),
    # show: options
    (["show", "--top", "0"], "--top must be >= 1, got 0"),
    *(
        (
            [*command, "--study-name", name],
            f"argument --study-name: must not be empty, got {name!r}",
        )
        for command in (["search", *SMALL], ["show"], ["train", "--from-study"])
        for name in ("", " ")
    ),
    (["show", "--formats", "gif"], "argument --formats: invalid choice: 'gif'"),
    (["show", "--study-name", "searched", "--output-dir", "{file}"], "cannot be a folder"),
    (
        ["show", "--study-name", "searched", "--output-dir", "{dangling}"],
        "--output-dir {dangling} cannot be a folder ({dangling} is a symbolic link to",
    ),
    (
        ["show", "--study-name", "searched", "--output-dir", "{file}/cells"],
        "--output-dir {file}/cells cannot be a folder ({file} is a file)",
    ),
]


@pytest.fixture
def workspace(isolated_cli: None, tmp_path: Path) -> dict[str, str]:
    (tmp_path / "a-file").write_text("not a folder")
    (tmp_path / "foreign-checkpoints").mkdir()
    (tmp_path / "foreign-checkpoints" / "last.ckpt").write_text("not a checkpoint")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    (tmp_path / "exported" / "model.torchscript.pt").mkdir(parents=True)
    return {
        "dangling": str(tmp_path / "dangling"),
        "exported": str(tmp_path / "exported"),
        "tmp": str(tmp_path),
        "file": str(tmp_path / "a-file"),
        "foreign": str(tmp_path / "foreign-checkpoints"),
        "db": _studies_db(tmp_path / "amoeba.db"),
    }


@pytest.mark.parametrize(("argv", "message"), ROWS, ids=[_id(argv) for argv, _ in ROWS])
def test_every_error_is_one_line_exit_2_and_changes_nothing(
    workspace: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    argv = [arg.format(**workspace) for arg in argv]
    if "--storage" not in argv:
        argv += ["--storage", workspace["db"]]
    state, files = _state(workspace["db"]), _files(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        sys.exit(main(argv))
    assert exit_info.value.code == 2
    out, err = capsys.readouterr()
    command = argv[0]
    assert err.startswith(f"optuna-amoeba {command}: error: "), err
    assert err.count("\n") == 1, err
    assert message.format(**workspace) in err
    assert "Traceback" not in err
    assert PASSWORD not in out + err
    assert "RET" not in err
    assert " at 0x" not in err  # no object's repr
    assert _state(workspace["db"]) == state
    assert _files(tmp_path) == files
