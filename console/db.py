"""Open a database from a URL: engine set-up per backend, friendly errors, and read/write session factories.

SQLite gets WAL, a busy timeout, foreign keys and `BEGIN IMMEDIATE` for write transactions: deferred
read-then-write transactions failed 77-87% with SQLITE_BUSY under several writers (DESIGN.md).
"""
from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

from console.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

APP_NAME = "incident-console"
SQLITE_BUSY_TIMEOUT_MS = 5000
PG_CONNECT_TIMEOUT_S = 5
_WRITE_OPTION = "console_write"
# A silently dropped network (no reset) is noticed in seconds, not after the kernel's two-hour default.
_KEEPALIVE = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 2}
# A row locked by another session (a psql session left open) must not stall the console's one writer thread,
# and every action queued behind it: give up after 3 s, keep the action, retry.
LOCK_TIMEOUT_MS = 3000
STATEMENT_TIMEOUT_MS = 15000


def default_database_path() -> Path:
    """Return where the embedded database lives: the user data directory."""
    from platformdirs import user_data_path

    return user_data_path(APP_NAME, appauthor=False) / "console.db"


def default_database_url() -> str:
    """Return the URL of the embedded SQLite database."""
    return f"sqlite:///{default_database_path()}"


@dataclass(frozen=True)
class Database:
    """An open database: the engine and session factories for reading and for writing."""

    engine: Engine
    url: URL
    _reader: sessionmaker[Session] = field(repr=False)
    _writer: sessionmaker[Session] = field(repr=False)
    _feed: Engine = field(repr=False)

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    @property
    def identity(self) -> str:
        """Which database this is, however its URL was written (no password): names its outbox."""
        url = self.url
        if self.backend == "sqlite":
            return f"sqlite:{Path(url.database or '').expanduser().resolve()}"
        query = "&".join(f"{k}={v}" for k, v in sorted(url.query.items()))
        return f"postgresql://{url.username or ''}@{url.host or 'localhost'}:{url.port or 5432}/{url.database}?{query}"

    @property
    def display_url(self) -> str:
        """The URL without its password, safe to show and log."""
        return self.url.render_as_string(hide_password=True)

    def reader(self) -> Session:
        """Return a session for queries (a deferred transaction on SQLite)."""
        return self._reader()

    def writer(self) -> Session:
        """Return a session whose transaction takes the write lock at BEGIN on SQLite."""
        return self._writer()

    def feed_connection(self) -> Connection:
        """Return a connection for the change feed's single-statement reads: autocommit, no pre-ping.

        The feed reads on every commit anyone makes; a BEGIN/ROLLBACK pair and a ping each time would triple
        its round trips. A dead connection shows as a failed read, which the feed handles itself.
        """
        return self._feed.connect()

    def dispose(self) -> None:
        self.engine.dispose()
        self._feed.dispose()


def parse_url(raw: str) -> URL:
    """Parse a database URL, or raise DatabaseUnavailable saying what is wrong with it."""
    try:
        url = make_url(raw)
    except exc.ArgumentError:
        raise DatabaseUnavailable(
            f"cannot parse database URL {_redact_url(raw)!r}: use sqlite:///PATH or "
            f"postgresql+psycopg://USER@HOST:PORT/DB"
        ) from None
    # Only psycopg 3 is installed; accept the short spellings people type.
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    if url.drivername not in ("sqlite", "sqlite+pysqlite", "postgresql+psycopg"):
        raise DatabaseUnavailable(
            f"unknown database URL scheme {url.drivername!r} in "
            f"{url.render_as_string(hide_password=True)!r}: use sqlite:///PATH or postgresql+psycopg://..."
        )
    return url


def _redact_url(raw: str) -> str:
    """Mask anything between 'user:' and '@' in a string that failed to parse as a URL."""
    return re.sub(r"(//[^/@:]*:)[^@]*@", r"\1***@", raw)


def open_database(raw_url: str, *, create_parent: bool = False, must_exist: bool = False) -> Database:
    """Open and probe a database; raise DatabaseUnavailable with one clear line if that fails.

    `must_exist` refuses a SQLite path that is not there yet, so a mistyped path does not become a new file.
    """
    url = parse_url(raw_url)
    if url.get_backend_name() == "sqlite":
        path = url.database
        if must_exist and path and path != ":memory:" and not Path(path).expanduser().is_file():
            raise DatabaseUnavailable(
                f"no database file {path}: check the path, or create it with "
                f"`python main.py seed-demo --db {url.render_as_string(hide_password=True)}`"
            )
        engine = _sqlite_engine(url, create_parent=create_parent)
    else:
        engine = create_engine(url, connect_args=_pg_connect_args(url), pool_pre_ping=True)
    try:
        with engine.connect():
            pass
    except exc.DBAPIError as error:
        engine.dispose()
        reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
        raise DatabaseUnavailable(
            f"cannot connect to {url.render_as_string(hide_password=True)}: {reason}"
        ) from None
    writer_engine = engine.execution_options(**{_WRITE_OPTION: True})
    # A read of several queries (an incident's detail, the demo snapshot) must see one moment, not a mix of
    # commits: REPEATABLE READ on PostgreSQL; SQLite's read transaction is a snapshot already.
    reader_engine = engine
    if url.get_backend_name() == "postgresql":
        reader_engine = engine.execution_options(isolation_level="REPEATABLE READ")
    return Database(
        engine=engine,
        url=url,
        _reader=sessionmaker(reader_engine, expire_on_commit=False),
        _writer=sessionmaker(writer_engine, expire_on_commit=False),
        _feed=_feed_engine(url, engine),
    )


def _feed_engine(url: URL, engine: Engine) -> Engine:
    if url.get_backend_name() != "postgresql":
        return engine  # SQLite: a plain read outside BEGIN is already one snapshot, and no network to ping
    return create_engine(url, pool_size=2, max_overflow=2, isolation_level="AUTOCOMMIT",
                         connect_args=_pg_connect_args(url))


def _pg_connect_args(url: URL) -> dict[str, object]:
    # Server settings travel in libpq's "options", which the URL may already use (a search_path, say).
    options = " ".join(filter(None, (str(url.query.get("options", "")),
                                     f"-c lock_timeout={LOCK_TIMEOUT_MS} -c statement_timeout={STATEMENT_TIMEOUT_MS}")))
    return {"connect_timeout": PG_CONNECT_TIMEOUT_S, "application_name": APP_NAME, "options": options, **_KEEPALIVE}


def _sqlite_engine(url: URL, *, create_parent: bool) -> Engine:
    path = url.database
    if path and path != ":memory:" and not path.startswith("file:"):
        parent = Path(path).expanduser().parent
        if create_parent:
            parent.mkdir(parents=True, exist_ok=True)
        elif not parent.is_dir():
            raise DatabaseUnavailable(f"cannot open SQLite database {path}: folder {parent} does not exist")
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        # Take over transaction control from the sqlite3 module so BEGIN IMMEDIATE is ours to issue.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        # The audit trail and operators' actions must survive a power cut: FULL fsyncs the WAL at each commit.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:  # type: ignore[no-untyped-def]
        writing = connection.get_execution_options().get(_WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")

    return engine


@contextmanager
def reachable(db: Database) -> Iterator[None]:
    """Turn a lost connection into DatabaseUnavailable: expected while offline, not a fault with a traceback."""
    try:
        yield
    except (exc.OperationalError, exc.InterfaceError) as error:
        reason = str(error.orig).strip().splitlines()[0] if error.orig and str(error.orig).strip() else "no answer"
        raise DatabaseUnavailable(f"cannot read from {db.display_url}: {reason}") from None
