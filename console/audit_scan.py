"""The hot loop of audit verification: hash a run of entries read as raw tuples from the driver's cursor.

Kept free of SQLAlchemy (only the standard library, the driver and console.audit_chain) so that a worker
process verifying part of a long chain starts in a few tens of milliseconds instead of a third of a second.
A run is checked on its own; console/audit_verify.py joins runs end to end and explains a break.
"""
from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from console.audit_chain import at_text, entry_content

# Each backend hands the time over in the hashed text form, so Python never builds a datetime per entry. On
# SQLite that is a slice of the stored text when it has the form SQLAlchemy writes ('YYYY-MM-DD HH:MM:SS.ffffff',
# naive UTC); any other text is read as the ORM reads it (sqlite_at).
_AT = {
    "sqlite": "at",
    "postgresql": """to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')""",
}
_COLUMNS = 'id, {at}, actor_id, actor, action, subject_type, subject_id, "before", "after", prev_hash, hash'
# PostgreSQL streams through a server-side cursor, this many rows per round trip.
PG_BATCH = 20_000

Row = tuple[int, str, int | None, str, str, str, str, str, str, str, str]


def range_sql(backend: str, *, bounded: bool) -> str:
    """Return the SELECT of a run of entries in id order; `bounded` adds `id BETWEEN ? AND ?` placeholders."""
    where = (" WHERE id >= ? AND id <= ?" if backend == "sqlite" else " WHERE id >= %s AND id <= %s") if bounded else ""
    return f"SELECT {_COLUMNS.format(at=_AT[backend])} FROM audit_entries{where} ORDER BY id"


def sqlite_at(stored: str) -> str:
    """Return the hashed form of a SQLite time stored in another form, read as SQLAlchemy and UTCDateTime read it."""
    value = datetime.fromisoformat(stored)
    return at_text(value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value)


@dataclass(frozen=True)
class Run:
    """What a scan found: how many entries fitted, the first and last of them, and the first that did not."""

    checked: int
    first_id: int | None  # the first entry of the run (whether or not it fitted) and the hash it follows
    first_prev: str | None
    last_id: int | None  # the last entry that fitted, and its hash
    last_hash: str | None
    bad: Row | None = None


def scan(rows: Iterable[Row], *, backend: str, prev_hash: str | None) -> Run:
    """Check each entry's hash and its link to the one before; `prev_hash=None` takes the first link as given."""
    iterator: Iterator[Row] = iter(rows)
    first = next(iterator, None)
    if first is None:
        return Run(0, None, None, None, None)
    first_id, first_prev = first[0], first[9]
    checked, last_id, last_hash, bad = _hash_loop(itertools.chain((first,), iterator), backend == "sqlite",
                                                  first_prev if prev_hash is None else prev_hash)
    return Run(checked, first_id, first_prev, last_id, last_hash, bad)


def _hash_loop(rows: Iterable[Row], sqlite: bool, prev_hash: str) -> tuple[int, int | None, str | None, Row | None]:
    # The hot loop: a million iterations per million entries, so everything it calls is bound to a local name.
    sha256, content, readable_at = hashlib.sha256, entry_content, _readable_at
    checked, last_id, last_hash = 0, None, None
    for row in rows:
        ident, at, actor_id, actor, action, subject_type, subject_id, before, after, stored_prev, stored = row
        if sqlite:
            at = at[:10] + "T" + at[11:] + "+00:00" if len(at) == 26 and at[10] == " " else readable_at(at)
        try:
            digest = sha256((stored_prev + content(at, actor_id, actor, action, subject_type, subject_id, before,
                                                   after)).encode()).hexdigest()
        except (TypeError, ValueError, UnicodeEncodeError):  # a value no writer of the chain could have stored
            digest = ""
        if stored_prev != prev_hash or digest != stored:
            return checked, last_id, last_hash, row
        checked, last_id, last_hash, prev_hash = checked + 1, ident, stored, stored
    return checked, last_id, last_hash, None


def _readable_at(stored: object) -> str:
    try:
        return sqlite_at(stored)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ""  # unreadable: the hash will not match, and the entry is reported altered


def recomputes(row: Row, *, backend: str) -> bool:
    """Say whether one entry's stored hash is SHA-256 of its own fields (whatever the entry before it is)."""
    run = scan([row], backend=backend, prev_hash=None)
    return run.bad is None


@dataclass(frozen=True)
class RangeJob:
    """A run of entries for a worker process: which database (a SQLite path or psycopg keywords) and which ids."""

    backend: str
    target: Any
    low: int
    high: int


def scan_range(job: RangeJob) -> Run:
    """Open a connection of its own and scan the entries with ids from `low` to `high` (run in a worker process)."""
    if job.backend == "sqlite":
        import sqlite3

        connection = sqlite3.connect(f"file:{quote(job.target)}?mode=ro", uri=True)
        try:
            return scan(connection.execute(range_sql("sqlite", bounded=True), (job.low, job.high)), backend="sqlite",
                        prev_hash=None)
        finally:
            connection.close()
    import psycopg

    with psycopg.connect(**job.target, connect_timeout=5) as connection, connection.transaction():
        cursor = connection.cursor(name="icc_audit_verify_range")
        cursor.itersize = PG_BATCH
        cursor.execute(range_sql("postgresql", bounded=True), (job.low, job.high))
        return scan(cursor, backend="postgresql", prev_hash=None)
