"""Storage URL helpers shared by the CLI, benchmarks and logs."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
import contextlib
import os
import re
import time
from typing import Any
from urllib.parse import parse_qsl
from urllib.parse import urlencode
from urllib.parse import urlsplit
from urllib.parse import urlunsplit
import warnings

import optuna
from optuna.storages import BaseStorage
from optuna.storages import RDBStorage
from optuna.storages.journal import JournalFileBackend
from optuna.storages.journal import JournalRedisBackend
from optuna.storages.journal import JournalStorage
from optuna.trial import FrozenTrial
import sqlalchemy
import sqlalchemy.engine
import sqlalchemy.exc
import sqlalchemy.pool

from optuna_amoeba._checks import check_int
from optuna_amoeba._checks import check_optional_int


# A scheme starts where no scheme character precedes it (so that a long word is read once).
_SCHEME = r"(?<![A-Za-z0-9+.\-])(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^:/@\s]*):"
# A password may hold any character, spaces included: it runs to the last "@" before the next
# URL, however far (hiding some text along with a password beats showing part of one); one
# already masked is left as it is, so that masking a message again keeps its text ...
_CREDENTIALS = re.compile(_SCHEME + r"(?!\*\*\*@)(?P<password>(?:(?!://).)*)@", re.DOTALL)
# ... and, for one that holds "://" itself, to the last "@" before whitespace.
_CREDENTIALS_IN_WORD = re.compile(_SCHEME + r"(?P<password>\S*)@")
# A query password runs to the next "&" that starts another key=value pair, or to the end of
# the text. One already masked ("***" and then ": ", whitespace, "&" or the end) is left as it
# is, so that masking a message again keeps what follows its URL.
_QUERY_PASSWORD = re.compile(
    r"(?P<key>[?&](?:password|passwd|pwd)=)(?!\*\*\*(?:: |\s|&|\Z))"
    r"(?P<password>.*?)(?=&[^&=\s#]+=|\Z)",
    re.IGNORECASE | re.DOTALL,
)
_PASSWORD_PATTERNS = (_QUERY_PASSWORD, _CREDENTIALS, _CREDENTIALS_IN_WORD)
# Two processes creating Optuna's tables in one empty database at once collide (PostgreSQL:
# DuplicateObject on type "studydirection"); RDBStorage is created under this server lock.
_SCHEMA_LOCK_KEY = 0x616D6F65
_SCHEMA_LOCK_NAME = "optuna_amoeba_schema"
_SCHEMA_LOCK_SECONDS = 600
_SQLITE_CREATE_ATTEMPTS = 5

MAX_HEARTBEAT_SECONDS = 86_400
"""The longest heartbeat interval, and grace period when one is given: one day (Optuna's
heartbeat thread overflows its timer on very large ones)."""

JOURNAL_SCHEME = "journal"
REDIS_SCHEMES = ("redis", "rediss")
REDIS_PREFIX_PARAMETER = "prefix"

_ALLOWED_URLS = (
    "a SQLAlchemy URL (postgresql://..., mysql+pymysql://..., sqlite:///path.db), "
    "journal:///absolute/path.log or journal://relative/path.log, "
    "or redis://host:port/db[?prefix=name]"
)

# What a driver that misreads a password holding these characters may quote as a host, a port
# or a path.
_PASSWORD_DELIMITERS = re.compile(r"[\s&#@:/?=]+")


class _StorageUrlError(ValueError):
    """A URL refused here, whose message shows it through :func:`mask_url` already."""


_StaleTrialCallback = Callable[[optuna.study.Study, FrozenTrial], None]


def mask_password(text: str) -> str:
    """``text`` with every password in a URL (``user:pass@`` or ``?password=``) as ``***``.

    Works on a URL alone or on any message that contains URLs, e.g. an exception's text.
    """
    # Query passwords first: one holding "@" would otherwise pass for the end of a user:password.
    masked = _QUERY_PASSWORD.sub(r"\g<key>***", text)
    for credentials in (_CREDENTIALS, _CREDENTIALS_IN_WORD):
        masked = credentials.sub(r"\g<scheme>\g<user>:***@", masked)
    return masked


def _after_scheme(masked: str) -> tuple[int, str, bool] | None:
    """Where the part after the scheme starts in ``masked``, that part, and whether a
    ``scheme://`` precedes it; ``None`` for a local path (a journal file, ``sqlite:///``),
    whose ``:`` and ``@`` belong to file names."""
    scheme, separator, rest = masked.partition("://")
    if not separator:
        return 0, masked, False
    local = scheme.lower() == JOURNAL_SCHEME or scheme.lower().startswith("sqlite")
    if local and rest.startswith("/"):
        return None
    return len(scheme) + len(separator), rest, True


def _unmasked_span(masked: str) -> tuple[int, int] | None:
    """Where ``masked`` (a URL through ``mask_password``) still holds what may be a password:
    the ``user:password`` part of a malformed URL (a scheme without ``//``, a space or a
    third ``/`` after it, no scheme at all) up to its last ``@``; or, with no ``@``, a port
    that is not a number (``postgresql://user:password/db``). ``None`` otherwise."""
    found = _after_scheme(masked)
    if found is None:
        return None
    start, rest, has_scheme = found
    if "@" in rest:
        credentials = rest.rsplit("@", 1)[0]
        if ":" in credentials and not credentials.endswith(":***"):
            return start, start + len(credentials)
        return None
    if not has_scheme:
        return None
    for host in re.split(r"[/?#]", rest, maxsplit=1)[0].split(","):
        _, colon, port = host.rpartition(":")
        if colon and port and not port.isdigit() and not host.endswith("]"):
            return start + len(host) - len(port), start + len(host)
        start += len(host) + 1
    return None


def mask_url(url: str) -> str:
    """A storage URL fit to show: ``mask_password(url)``, with what a malformed URL may
    still hold of a password (see ``_unmasked_span``) as ``***``."""
    masked = mask_password(url)
    span = _unmasked_span(masked)
    return masked if span is None else f"{masked[: span[0]]}***{masked[span[1] :]}"


def driver_message(error: BaseException, url: str) -> str:
    """``error``'s type and message on one line, masked, for an error met on the storage at
    ``url``; a message that quotes any piece of ``url``'s password is not shown at all.

    A driver that misreads an unencoded password (with "#", "/", spaces...) may quote a piece
    of it as a host, port or path, where no URL is left to mask.
    """
    # SQLAlchemy appends the statement, which may hold the very values written.
    message = " ".join(mask_password(str(error).split("\n[SQL:")[0]).split())
    passwords = [
        match["password"] for pattern in _PASSWORD_PATTERNS for match in pattern.finditer(url)
    ]
    masked = mask_password(url)
    span = _unmasked_span(masked)
    if span is not None:
        passwords.append(masked[span[0] : span[1]])
    pieces = {
        piece
        for password in passwords
        for piece in (password, *_PASSWORD_DELIMITERS.split(password))
        if piece
    }
    if any(re.search(rf"(?<![^\W_]){re.escape(piece)}(?![^\W_])", message) for piece in pieces):
        return f"{type(error).__name__} (its message quotes part of the password, so it is hidden)"
    return f"{type(error).__name__}: {message}"


def _sqlite_url(url: str) -> sqlalchemy.engine.URL | None:
    """``url`` parsed, when it is a SQLite URL SQLAlchemy can read; ``None`` otherwise
    (``open_storage`` names what is wrong with a URL it cannot read)."""
    if not url.split("://", 1)[0].lower().startswith("sqlite"):
        return None
    try:
        return sqlalchemy.engine.make_url(url)
    except sqlalchemy.exc.ArgumentError:
        return None


def storage_file(url: str) -> str | None:
    """The local file a SQLite or journal-file URL names (opening it creates the file), or
    ``None`` for other URLs."""
    if url.split("://", 1)[0].lower() == JOURNAL_SCHEME and "://" in url:
        return url.split("://", 1)[1] or None
    parsed = _sqlite_url(url)
    database = None if parsed is None else parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return database


def in_memory_storage(url: str) -> bool:
    """Whether ``url`` names an in-memory SQLite database (``sqlite://``,
    ``sqlite:///:memory:``, a ``file:...?mode=memory`` URI), whose studies end with the
    process that opened it."""
    parsed = _sqlite_url(url)
    if parsed is None:
        return False
    database = parsed.database
    if not database or database == ":memory:":
        return True
    return database.startswith("file:") and parsed.query.get("mode") == "memory"


def existing_storage_problem(url: str) -> str | None:
    """Why ``url`` cannot hold a study yet (a SQLite or journal file that is not there), or
    ``None``. Opening such a URL would create the file, empty."""
    if in_memory_storage(url):
        return f"{mask_url(url)} is an in-memory SQLite database, which holds no saved study"
    path = storage_file(url)
    if path is None or os.path.isfile(path):
        return None
    kind = "journal file" if url.lower().startswith(JOURNAL_SCHEME) else "SQLite database"
    local = _after_scheme(mask_password(url)) is None
    return f"no {kind} at {path if local else mask_url(path)}"


def open_storage(
    url: str,
    *,
    heartbeat_interval: int | None = None,
    grace_period: int | None = None,
    max_retry: int = 1,
) -> BaseStorage:
    """Open the Optuna storage that ``url`` names, ready for many workers to share.

    * Any SQLAlchemy URL (``postgresql://``, ``mysql+pymysql://``, ``sqlite:///``...): an
      :class:`~optuna.storages.RDBStorage`. With ``heartbeat_interval``, every running trial
      records a heartbeat; a trial whose worker died (kill -9, out of memory, lost node) is
      marked ``FAIL`` once ``grace_period`` seconds pass without one, and Optuna's
      stale-trial retry callback re-enqueues its parameters (at most ``max_retry`` times per
      original trial) for the next free worker.
    * ``journal:///absolute/path.log`` or ``journal://relative/path.log``: a
      :class:`~optuna.storages.JournalStorage` on a file, for processes on one machine.
    * ``redis://host:port/db`` (or ``rediss://``): a ``JournalStorage`` on Redis. An optional
      ``?prefix=name`` query parameter namespaces the keys, so several projects can share one
      Redis database.

    Journal storages have no heartbeat in Optuna, so ``heartbeat_interval`` is refused there.

    Raises:
        ValueError: for an argument out of range, a URL of no supported form, a missing
            database driver or a server that cannot be reached. The message never shows the
            URL's password.
    """
    check_optional_int("heartbeat_interval", heartbeat_interval, 1, MAX_HEARTBEAT_SECONDS)
    check_optional_int("grace_period", grace_period, 1, MAX_HEARTBEAT_SECONDS)
    check_int("max_retry", max_retry, 0)
    if heartbeat_interval is None and grace_period is not None:
        raise ValueError(
            f"grace_period needs heartbeat_interval to be set, got grace_period={grace_period} "
            "and heartbeat_interval=None"
        )
    if (
        heartbeat_interval is not None
        and grace_period is not None
        and grace_period <= heartbeat_interval
    ):
        raise ValueError(
            f"grace_period must be an int > heartbeat_interval ({heartbeat_interval}), "
            f"got {grace_period}: a live trial records its heartbeat only every "
            "heartbeat_interval seconds"
        )
    if not isinstance(url, str) or not url.strip():
        raise ValueError(f"storage URL must be {_ALLOWED_URLS}, got {mask_password(repr(url))}")

    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme in (JOURNAL_SCHEME, *REDIS_SCHEMES) and heartbeat_interval is not None:
        raise ValueError(
            f"heartbeat_interval is supported for SQLAlchemy (RDB) storages only; Optuna "
            f"{optuna.__version__}'s JournalStorage has no heartbeat, got "
            f"heartbeat_interval={heartbeat_interval} for {mask_url(url)}"
        )
    try:
        if scheme == JOURNAL_SCHEME:
            return _open_journal_file(url)
        if scheme in REDIS_SCHEMES:
            return _open_journal_redis(url)
        return _open_rdb(url, heartbeat_interval, grace_period, max_retry)
    except Exception as error:
        # Drivers' exceptions may quote the URL: re-raise masked, without the original chained,
        # and on one line (SQLAlchemy appends a "Background on this error" line).
        detail = str(error) if isinstance(error, _StorageUrlError) else driver_message(error, url)
        raise ValueError(f"cannot open storage {mask_url(url)}: {detail}") from None


def _open_journal_file(url: str) -> BaseStorage:
    path = url.split("://", 1)[1]
    if not path or path.endswith("/"):
        raise _StorageUrlError(
            f"a journal storage URL needs a file path, e.g. journal:///abs/study.log or "
            f"journal://relative/study.log, got {mask_url(url)!r}"
        )
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise _StorageUrlError(
            f"the directory of journal file {mask_url(path)!r} does not exist: "
            f"{mask_url(directory)}"
        )
    return JournalStorage(JournalFileBackend(path))


def _open_journal_redis(url: str) -> BaseStorage:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefixes = [value for key, value in query if key == REDIS_PREFIX_PARAMETER]
    if len(prefixes) > 1:
        raise _StorageUrlError(f"give the Redis key prefix at most once, got {mask_url(url)}")
    # urlsplit ends the host part at the first "/", "?" or "#", inside such a password,
    # and a password given without "@host" reads as the port.
    try:
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number)
        cut = "@" in parts.path  # a Redis path is a database number only
    except ValueError:
        cut = True
    if cut:
        raise _StorageUrlError(
            "it has no host[:port] after its password: write "
            "redis://[user]:password@host:port/db, the password's '/', '?' and '#' "
            "percent-encoded (%2F, %3F, %23)"
        )
    database = parts.path.lstrip("/")
    if database and not database.isdigit():
        raise _StorageUrlError(
            f"the Redis database in {mask_url(url)} must be an int >= 0, got {database!r} "
            "(redis://host:port/0)"
        )
    rest = urlencode([(key, value) for key, value in query if key != REDIS_PREFIX_PARAMETER])
    redis_url = urlunsplit(parts._replace(query=rest))
    with _quiet_experimental():
        backend = JournalRedisBackend(redis_url, prefix=prefixes[0] if prefixes else "")
    # JournalStorage reads the log at once, so an unreachable server fails here, not later.
    return JournalStorage(backend)


def _open_rdb(
    url: str, heartbeat_interval: int | None, grace_period: int | None, max_retry: int
) -> BaseStorage:
    try:
        parsed = sqlalchemy.engine.make_url(url)
    except sqlalchemy.exc.ArgumentError:
        raise _StorageUrlError(
            f"it is of no supported form; a storage URL must be {_ALLOWED_URLS}"
        ) from None
    except ValueError:  # SQLAlchemy reads the port with int()
        raise _StorageUrlError(
            "its port is not a number: write dialect://user:password@host:port/db"
        ) from None
    authority = url.split("://", 1)[1].split("?", 1)[0]
    if not authority.startswith("/") and authority.count("@") > 1:
        # SQLAlchemy cuts the password at its first "@" and takes the rest for the host,
        # which the driver's error would then quote.
        raise _StorageUrlError(
            f"the user:password part of {mask_url(url)} contains '@': percent-encode "
            "it as %40 (e.g. user:p%40ss@host)"
        )
    try:
        sqlalchemy.engine.create_engine(parsed).dispose()
    except ImportError as error:
        raise _StorageUrlError(
            f"the database driver for {parsed.drivername} is not installed "
            f"({type(error).__name__}: {error}); install it, or name an installed driver in "
            "the URL, e.g. postgresql+psycopg2:// or mysql+pymysql://"
        ) from None
    options: dict[str, Any] = {}
    if heartbeat_interval is not None:
        options = {
            "heartbeat_interval": heartbeat_interval,
            "grace_period": 2 * heartbeat_interval if grace_period is None else grace_period,
        }
        # Optuna < 4.9 knows the same callback under its earlier name.
        callback = (
            "heartbeat_stale_trial_callback"
            if hasattr(optuna.storages, "RetryHeartbeatStaleTrialCallback")
            else "failed_trial_callback"
        )
        options[callback] = _stale_trial_retry(max_retry)
    if parsed.get_backend_name() != "sqlite":
        # A connection the server dropped (a restart, an idle timeout, a failover) is
        # replaced when next taken from the pool, instead of failing the worker's next write.
        options["engine_kwargs"] = {"pool_pre_ping": True}
    with _schema_lock(parsed), _quiet_experimental():
        for attempt in range(1, _SQLITE_CREATE_ATTEMPTS):
            try:
                return RDBStorage(url, **options)
            except sqlalchemy.exc.OperationalError:
                # SQLite has no server lock: a table created by another process between
                # Optuna's check and its CREATE fails this one; the next attempt sees it.
                if parsed.get_backend_name() != "sqlite":
                    raise
                time.sleep(0.1 * attempt)
        return RDBStorage(url, **options)


@contextlib.contextmanager
def _quiet_experimental() -> Iterator[None]:
    """Without Optuna's ExperimentalWarning: this package relies on these features knowingly,
    and the warning's two lines would cut into the CLI's one-line errors and progress."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


@contextlib.contextmanager
def _schema_lock(url: sqlalchemy.engine.URL) -> Iterator[None]:
    """Hold the server's lock on Optuna's schema (PostgreSQL advisory lock, MySQL/MariaDB
    named lock) while the block runs; no lock for other databases."""
    backend = url.get_backend_name()
    if backend == "postgresql":
        lock = sqlalchemy.text("SELECT pg_advisory_lock(:key)")
        unlock = sqlalchemy.text("SELECT pg_advisory_unlock(:key)")
        parameters: dict[str, Any] = {"key": _SCHEMA_LOCK_KEY}
    elif backend in ("mysql", "mariadb"):
        lock = sqlalchemy.text("SELECT GET_LOCK(:name, :seconds)")
        unlock = sqlalchemy.text("SELECT RELEASE_LOCK(:name)")
        parameters = {"name": _SCHEMA_LOCK_NAME, "seconds": _SCHEMA_LOCK_SECONDS}
    else:
        yield
        return
    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(lock, parameters)
            try:
                yield
            finally:
                connection.execute(unlock, parameters)
    finally:
        engine.dispose()


def retry_trial(study: optuna.Study, trial: FrozenTrial) -> None:
    """Queue ``trial``'s architecture again as Optuna's stale-trial retry does: a ``WAITING``
    trial with its parameters, its system attrs (the sampler's lineage) and its retry
    history (``failed_trial``, ``retry_history``)."""
    _stale_trial_retry(None)(study, trial)


def _stale_trial_retry(max_retry: int | None) -> _StaleTrialCallback:
    """The installed Optuna's stale-trial retry callback.

    Optuna 4.9 renamed ``RetryFailedTrialCallback`` (and ``RDBStorage``'s
    ``failed_trial_callback``) to ``RetryHeartbeatStaleTrialCallback`` (and
    ``heartbeat_stale_trial_callback``), deprecating the old names.
    """
    storages: Any = optuna.storages
    retry_class = getattr(storages, "RetryHeartbeatStaleTrialCallback", None)
    if retry_class is None:
        retry_class = storages.RetryFailedTrialCallback
    with _quiet_experimental():
        callback: _StaleTrialCallback = retry_class(max_retry=max_retry)
    return callback
