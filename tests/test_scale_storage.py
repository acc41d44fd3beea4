"""``open_storage`` and ``mask_password``: the storage URLs that many workers share."""

from __future__ import annotations

import os
from pathlib import Path
import random
import string
import subprocess
import sys
import time
import traceback
import uuid
import warnings

import optuna
from optuna.storages import RDBStorage
from optuna.storages.journal import JournalStorage
import pytest

from optuna_amoeba import mask_password
from optuna_amoeba import open_storage
from optuna_amoeba._storage import mask_url


SECRET = "s3cr3t-Pa55"


pytestmark = pytest.mark.usefixtures("quiet_optuna")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://alice:hunter2@db:5432/nas", "postgresql://alice:***@db:5432/nas"),
        (
            "postgresql+psycopg2://alice:hunter2@db/nas",
            "postgresql+psycopg2://alice:***@db/nas",
        ),
        ("redis://:hunter2@cache:6379/0", "redis://:***@cache:6379/0"),
        ("mysql+pymysql://u:p%40ss@h/db", "mysql+pymysql://u:***@h/db"),
        # Unencoded "@", "/" and ":" in a password: SQLAlchemy accepts them, so must we.
        ("postgresql://u:p@ss@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u:pa/ss@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u:a:b/c@d@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("postgresql://u:@x/y@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u@h/db?password=hunter2", "postgresql://u@h/db?password=***"),
        (
            "postgresql://u@h/db?sslmode=require&PWD=hunter2",
            "postgresql://u@h/db?sslmode=require&PWD=***",
        ),
        ("postgresql://u@h/db?passwd=hunter2&x=1", "postgresql://u@h/db?passwd=***&x=1"),
        # A password runs to the last "@" before the next URL.
        (
            "cannot reach 'postgresql://a:one@h1/db' nor redis://:two@h2:6379/0.",
            "cannot reach 'postgresql://a:***@h1/db' nor redis://:***@h2:6379/0.",
        ),
        # Whatever follows the host: punctuation, several hosts, nothing.
        ("failed (postgresql://u:hunter2@localhost)", "failed (postgresql://u:***@localhost)"),
        ("tried postgresql://u:hunter2@h, giving up", "tried postgresql://u:***@h, giving up"),
        ("<postgresql://u:hunter2@h>;", "<postgresql://u:***@h>;"),
        ("postgresql://u:hunter2@h1:5432,h2:5432/db", "postgresql://u:***@h1:5432,h2:5432/db"),
        ("postgresql://u:hunter2@", "postgresql://u:***@"),
        ("postgresql://u:a b@h!", "postgresql://u:***@h!"),
        # A password holding "://" itself.
        ("postgresql://u:ab://cd@h/db", "postgresql://u:***@h/db"),
        (
            "postgresql+psycopg2://postgres:Top Secret99@127.0.0.1:5433/db: refused",
            "postgresql+psycopg2://postgres:***@127.0.0.1:5433/db: refused",
        ),
        ("redis://:a b&c#d@e:f/g@h:6379/0", "redis://:***@h:6379/0"),
        ("postgresql://u:a@b/c d@/db?host=/run", "postgresql://u:***@/db?host=/run"),
    ],
)
def test_mask_password_hides_every_password(text: str, expected: str) -> None:
    assert mask_password(text) == expected
    assert mask_password(expected) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A password may hold ":", spaces, quotes or "#": it runs to the next "&key=" or the end.
        (
            "cannot open storage mysql://u@h/db?password=hunter2: OperationalError: refused",
            "cannot open storage mysql://u@h/db?password=***",
        ),
        ("url 'mysql://u@h/db?pwd=hunter2' refused", "url 'mysql://u@h/db?pwd=***"),
        ("mysql://u@h/db?password=hun:ter2 refused", "mysql://u@h/db?password=***"),
        ("mysql://u@h/db?password=hunter2#x", "mysql://u@h/db?password=***"),
        ("mysql://u@h/db?password=Top&Secret99", "mysql://u@h/db?password=***"),
        ("mysql://u@h/db?password=a@b:c/d&prefix=x", "mysql://u@h/db?password=***&prefix=x"),
        # A password that merely starts with "***" is no masked one.
        ("sqlite:///x.db?password=***:hunter2", "sqlite:///x.db?password=***"),
        # Masked once, a message keeps what follows its URL when it is masked again.
        (
            "cannot open storage mysql://u@h/db?password=***: OperationalError: refused",
            "cannot open storage mysql://u@h/db?password=***: OperationalError: refused",
        ),
    ],
)
def test_mask_password_masks_query_passwords_to_the_next_parameter(
    text: str, expected: str
) -> None:
    assert mask_password(text) == expected
    assert mask_password(expected) == expected


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg2://amoeba:SEC@RET@127.0.0.1:1/amoeba",
        "mysql+pymysql://amoeba:S@E@C@127.0.0.1:1/amoeba",
    ],
)
def test_unencoded_at_in_a_password_is_refused_before_the_driver_sees_it(url: str) -> None:
    # The driver would cut the password at its first "@" and quote the rest as the host.
    with pytest.raises(ValueError) as error:
        open_storage(url)
    message = str(error.value)
    assert "contains '@': percent-encode it as %40" in message
    assert "amoeba:***@127.0.0.1:1/amoeba" in message
    for fragment in ("SEC", "RET", "S@E", "E@C"):
        assert fragment not in message


@pytest.mark.parametrize("database", ["notanint", "0x1", "-1", "db0"])
def test_redis_url_with_a_database_that_is_not_an_int_is_refused(database: str) -> None:
    # redis-py would silently use database 0.
    with pytest.raises(ValueError, match=r"the Redis database in .* must be an int >= 0"):
        open_storage(f"redis://127.0.0.1:6379/{database}")


def test_existing_storage_problem_names_files_that_are_not_there(tmp_path: Path) -> None:
    from optuna_amoeba._storage import existing_storage_problem

    missing = tmp_path / "missing.db"
    assert existing_storage_problem(f"sqlite:///{missing}") == f"no SQLite database at {missing}"
    assert existing_storage_problem(f"journal://{missing}") == f"no journal file at {missing}"
    for url in ("sqlite://", "sqlite:///:memory:"):
        assert (
            existing_storage_problem(url)
            == f"{url} is an in-memory SQLite database, which holds no saved study"
        )
    assert existing_storage_problem("postgresql://u@h/db") is None
    # A local path's ":" and "@" belong to its file name: shown as it is.
    odd = tmp_path / "run:3@node1" / "study.db"
    assert existing_storage_problem(f"sqlite:///{odd}") == f"no SQLite database at {odd}"
    assert not missing.exists()
    missing.write_text("")
    assert existing_storage_problem(f"sqlite:///{missing}") is None


@pytest.mark.parametrize(
    ("url", "in_memory"),
    [
        ("sqlite://", True),
        ("sqlite+pysqlite://", True),
        ("sqlite:///:memory:", True),
        ("sqlite:///file:shared?mode=memory&cache=shared&uri=true", True),
        ("sqlite:///file:study.db?mode=ro&uri=true", False),
        ("sqlite:///study.db", False),
        ("journal:///tmp/study.log", False),
        ("postgresql://u@h/db", False),
        ("nonsense", False),
    ],
)
def test_in_memory_storage_names_sqlite_databases_that_end_with_their_process(
    url: str, in_memory: bool
) -> None:
    from optuna_amoeba._storage import in_memory_storage

    assert in_memory_storage(url) is in_memory


_SIMULTANEOUS_START = """
import sys, time
from optuna_amoeba import open_storage
start = float(sys.argv[2])
time.sleep(max(0.0, start - time.time()))
open_storage(sys.argv[1])
"""


@pytest.mark.slow
@pytest.mark.parametrize("server", ["postgresql", "mysql"])
def test_workers_started_together_on_an_empty_database_all_open_it(server: str) -> None:
    import sqlalchemy

    variable = {"postgresql": "AMOEBA_TEST_POSTGRES_URL", "mysql": "AMOEBA_TEST_MYSQL_URL"}[server]
    base = os.environ.get(variable)
    if not base:
        pytest.skip(f"{variable} is not set: no {server} server to test against")
    if server == "mysql":
        pytest.importorskip("pymysql", reason="the MySQL driver pymysql is not installed")
    # A fresh database each run: the race is in creating Optuna's tables.
    name = f"amoeba_race_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sqlalchemy.text(f"CREATE DATABASE {name}"))
    url = sqlalchemy.engine.make_url(base).set(database=name).render_as_string(False)
    root = str(Path(__file__).resolve().parents[1])
    environment = {**os.environ, "PYTHONPATH": root}
    try:
        start = time.time() + 3.0  # every interpreter is up by then
        workers = [
            subprocess.Popen(
                [sys.executable, "-c", _SIMULTANEOUS_START, url, str(start)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=environment,
            )
            for _ in range(4)
        ]
        results = [(worker.wait(timeout=120), worker.stderr.read()) for worker in workers]
        assert [code for code, _ in results] == [0, 0, 0, 0], [err for _, err in results]
        storage = RDBStorage(url)
        assert storage.get_all_studies() == []
        storage.engine.dispose()
    finally:
        with admin.connect() as connection:
            connection.execute(sqlalchemy.text(f"DROP DATABASE {name}"))
        admin.dispose()


def test_mask_password_hides_random_passwords() -> None:
    rng = random.Random(0)
    characters = string.ascii_letters + string.digits + string.punctuation
    for _ in range(2000):
        password = "".join(rng.choice(characters) for _ in range(rng.randint(4, 16)))
        url = f"postgresql+psycopg2://user:{password}@db.example.org:5432/nas?sslmode=require"
        masked = mask_password(f"cannot connect to {url} (timeout)")
        assert password not in masked
        assert masked.endswith("@db.example.org:5432/nas?sslmode=require (timeout)")


@pytest.mark.parametrize(
    "text",
    [
        "postgresql://postgres@127.0.0.1:5432/amoeba",
        "sqlite:///relative/study.db",
        "journal:///abs/study.log",
        "redis://127.0.0.1:6379/0?prefix=nas",
        "trial 12 finished with value 0.93 at 2026-01-01 12:00:00",
    ],
)
def test_mask_password_leaves_text_without_password_alone(text: str) -> None:
    assert mask_password(text) == text


def test_sqlalchemy_url_gets_rdb_storage_without_heartbeat(tmp_path: Path) -> None:
    storage = open_storage(f"sqlite:///{tmp_path / 'study.db'}")
    assert isinstance(storage, RDBStorage)
    assert storage.get_heartbeat_interval() is None


def test_heartbeat_comes_with_grace_period_and_stale_trial_retry(tmp_path: Path) -> None:
    storage = open_storage(f"sqlite:///{tmp_path / 'study.db'}", heartbeat_interval=30)
    assert isinstance(storage, RDBStorage)
    assert storage.get_heartbeat_interval() == 30
    assert storage.grace_period == 60
    callback = storage.get_heartbeat_stale_trial_callback()
    assert isinstance(callback, optuna.storages.RetryHeartbeatStaleTrialCallback)

    storage = open_storage(
        f"sqlite:///{tmp_path / 'other.db'}", heartbeat_interval=5, grace_period=7, max_retry=3
    )
    assert isinstance(storage, RDBStorage)
    assert storage.grace_period == 7
    callback = storage.get_heartbeat_stale_trial_callback()
    assert isinstance(callback, optuna.storages.RetryHeartbeatStaleTrialCallback)
    assert callback._max_retry == 3


@pytest.mark.filterwarnings(
    "ignore:Heartbeat of storage is supposed to be used with Study.optimize"
)
def test_stale_trial_is_retried_at_most_max_retry_times(tmp_path: Path) -> None:
    storage = open_storage(
        f"sqlite:///{tmp_path / 'study.db'}", heartbeat_interval=1, grace_period=2, max_retry=1
    )
    assert isinstance(storage, RDBStorage)
    study = optuna.create_study(storage=storage)
    callback = storage.get_heartbeat_stale_trial_callback()
    assert callback is not None
    trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    study.tell(trial, state=optuna.trial.TrialState.FAIL)
    callback(study, study.trials[0])  # as the heartbeat check does for a stale trial
    retry = study.trials[1]
    assert retry.state == optuna.trial.TrialState.WAITING
    assert retry.params == study.trials[0].params
    assert retry.system_attrs["failed_trial"] == 0

    study.tell(study.ask(), state=optuna.trial.TrialState.FAIL)  # the retry fails too
    callback(study, study.trials[1])
    assert len(study.trials) == 2, "a second retry of the same trial exceeds max_retry=1"


def test_journal_urls_open_one_file_shared_by_storages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    absolute = open_storage(f"journal://{tmp_path / 'study.log'}")
    assert isinstance(absolute, JournalStorage)
    optuna.create_study(storage=absolute, study_name="shared")
    monkeypatch.chdir(tmp_path)
    relative = open_storage("journal://study.log")
    assert [s.study_name for s in optuna.get_all_study_summaries(relative)] == ["shared"]


def test_redis_url_with_key_prefix() -> None:
    import redis

    base = os.environ.get("AMOEBA_TEST_REDIS_URL")
    if not base:
        pytest.skip("AMOEBA_TEST_REDIS_URL is not set: no Redis server to test against")
    prefix = f"amoeba-test-{uuid.uuid4().hex[:12]}"
    separator = "&" if "?" in base else "?"
    try:
        storage = open_storage(f"{base}{separator}prefix={prefix}")
        assert isinstance(storage, JournalStorage)
        optuna.create_study(storage=storage, study_name="prefixed")
        client = redis.Redis.from_url(base)
        assert client.exists(f"{prefix}:log_number")
        other = open_storage(f"{base}{separator}prefix={prefix}-other")
        assert optuna.get_all_study_summaries(other) == []
    finally:
        client = redis.Redis.from_url(base)
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"heartbeat_interval": 0},
            "heartbeat_interval must be None or an int in [1, 86400], got 0",
        ),
        (
            {"heartbeat_interval": 1.5},
            "heartbeat_interval must be None or an int in [1, 86400], got 1.5",
        ),
        (
            {"heartbeat_interval": True},
            "heartbeat_interval must be None or an int in [1, 86400], got True",
        ),
        (
            {"heartbeat_interval": 5, "grace_period": 0},
            "grace_period must be None or an int in [1, 86400]",
        ),
        ({"grace_period": 10}, "grace_period needs heartbeat_interval"),
        (
            {"heartbeat_interval": 5, "grace_period": 5},
            "grace_period must be an int > heartbeat_interval (5), got 5",
        ),
        ({"max_retry": -1}, "max_retry must be an int >= 0, got -1"),
    ],
)
def test_arguments_are_checked(tmp_path: Path, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as error:
        open_storage(f"sqlite:///{tmp_path / 'study.db'}", **kwargs)  # type: ignore[arg-type]
    assert message in str(error.value)


@pytest.mark.parametrize("url", ["journal:///tmp/x.log", "redis://127.0.0.1:6379/0"])
def test_heartbeat_refused_where_optuna_has_none(url: str) -> None:
    with pytest.raises(ValueError, match="heartbeat_interval is supported for SQLAlchemy"):
        open_storage(url, heartbeat_interval=10)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("", "storage URL must be"),
        ("study.db", "storage URL must be"),
        ("journal://", "needs a file path"),
        ("journal:///no/such/dir/study.log", "does not exist"),
        (f"nosuchdb://u:{SECRET}@h/db", "NoSuchModuleError"),
        (f"mysql+nosuchdriver://u:{SECRET}@h/db", "NoSuchModuleError"),
        # Nothing listens on port 1: unreachable servers fail at once.
        (f"postgresql+psycopg2://u:{SECRET}@127.0.0.1:1/db", "OperationalError"),
        (f"redis://:{SECRET}@127.0.0.1:1/0", "ConnectionError"),
    ],
)
def test_bad_or_unreachable_url_names_the_problem_without_the_password(
    url: str, problem: str
) -> None:
    with pytest.raises(ValueError) as error:
        open_storage(url)
    text = str(error.value)
    assert problem in text
    assert "\n" not in text
    assert mask_password(url) in text or not url
    printed = "".join(traceback.format_exception(error.value))
    assert SECRET not in printed
    # No driver exception chained: tracebacks show only the masked message.
    assert error.value.__cause__ is None
    assert error.value.__context__ is None or error.value.__suppress_context__


_NO_FORM = "it is of no supported form"


@pytest.mark.parametrize(
    ("url", "shown", "problem"),
    [
        # A scheme without "//", a space after it, no scheme at all: mask_password finds no
        # user:password part, and the driver or the URL parser would quote it.
        (f"postgres:{SECRET}@127.0.0.1:1/db", "***@127.0.0.1:1/db", _NO_FORM),
        (f"postgresql:/u:{SECRET}@127.0.0.1:1/db", "***@127.0.0.1:1/db", _NO_FORM),
        (f"postgresql//u:{SECRET}@127.0.0.1:1/db", "***@127.0.0.1:1/db", _NO_FORM),
        (f"//u:{SECRET}@127.0.0.1:1/db", "***@127.0.0.1:1/db", _NO_FORM),
        (f"redis:/:{SECRET}@127.0.0.1:1/0", "***@127.0.0.1:1/0", _NO_FORM),
        (f"journal:/u:{SECRET}@study.log", "***@study.log", _NO_FORM),
        (
            f"postgresql:// postgres:{SECRET}@127.0.0.1:1/db",
            "postgresql://***@127.0.0.1:1/db",
            "OperationalError",
        ),
        (f"postgres:amoeba:s3c#{SECRET}@127.0.0.1:1/db", "***@127.0.0.1:1/db", _NO_FORM),
        (f"postgresql:/u:s3c?{SECRET}@127.0.0.1:1/db", "***@127.0.0.1:1/db", _NO_FORM),
        # A third "/" after the scheme: the user part holds a "/", which mask_password skips.
        (
            f"postgresql:///amoeba:{SECRET}@127.0.0.1:1/db",
            "postgresql://***@127.0.0.1:1/db",
            "OperationalError",
        ),
        # A password without "@host" reads as the port.
        (f"postgresql://u:{SECRET}/db", "postgresql://u:***/db", "its port is not a number"),
        (f"redis://u:{SECRET}/0", "redis://u:***/0", "it has no host[:port] after its password"),
        # urlsplit ends a Redis host at a "/" inside the password, digits before it a port.
        (
            f"redis://:1234/{SECRET}@127.0.0.1:1/0",
            "redis://:***@127.0.0.1:1/0",
            "it has no host[:port] after its password",
        ),
        (
            f"redis://:{SECRET}/x@127.0.0.1:1/0",
            "redis://:***@127.0.0.1:1/0",
            "it has no host[:port] after its password",
        ),
    ],
)
def test_malformed_url_never_shows_its_password(url: str, shown: str, problem: str) -> None:
    with pytest.raises(ValueError) as error:
        open_storage(url)
    text = str(error.value)
    assert text.startswith(f"cannot open storage {shown}: ")
    assert problem in text
    assert SECRET not in text and SECRET[:4] not in text
    assert mask_url(url) == shown


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres@127.0.0.1:5432/db",
        "postgresql://[::1]:5432/db",
        "postgresql://u@h1:5432,h2:5433/db",
        "sqlite:///study.db",
        # Local paths: their ":" and "@" belong to file names.
        "sqlite:////data/run:3@node1/amoeba.db",
        "journal:///data/run:3@node1/study.log",
        "redis://127.0.0.1:6379/0",
    ],
)
def test_mask_url_leaves_urls_without_a_password_alone(url: str) -> None:
    assert mask_url(url) == url


def test_missing_driver_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "MySQLdb", None)  # import MySQLdb now raises ImportError
    url = f"mysql+mysqldb://u:{SECRET}@127.0.0.1:1/db"
    with pytest.raises(ValueError, match=r"driver for mysql\+mysqldb is not installed") as error:
        open_storage(url)
    assert SECRET not in "".join(traceback.format_exception(error.value))


def test_opening_a_heartbeat_storage_shows_no_experimental_warning(tmp_path: Path) -> None:
    # Its two lines would precede the CLI's one-line errors and its progress.
    with warnings.catch_warnings():
        warnings.simplefilter("error", optuna.exceptions.ExperimentalWarning)
        storage = open_storage(f"sqlite:///{tmp_path / 'study.db'}", heartbeat_interval=5)
    assert isinstance(storage, RDBStorage)


def test_an_at_sign_in_a_redis_prefix_is_no_password() -> None:
    # Nothing listens on port 1: the URL is read as valid, and the connection fails.
    with pytest.raises(ValueError) as error:
        open_storage("redis://127.0.0.1:1/0?prefix=alice@project")
    assert "ConnectionError" in str(error.value)
