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
from json.encoder import encode_basestring
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
    checked, last, bad = _hash_loop(itertools.chain((first,), iterator), backend == "sqlite",
                                    first[9] if prev_hash is None else prev_hash)
    return Run(checked, first[0], first[9], last[0] if last else None, last[10] if last else None, bad)


def _hash_loop(rows: Iterable[Row], sqlite: bool, prev_hash: str) -> tuple[int, Row | None, Row | None]:
    """Check entries in order; return (how many fitted, the last that did, the first that did not).

    The hot loop: about a million iterations per million entries, so it does as little as it can per entry.
    Each entry's content is written out here in the form audit_chain.entry_content defines (its time already
    in text, not quoted again), a fifth faster than calling it; an entry this cannot take (a time stored in
    another form, an actor id that is not a number) goes through entry_content itself. tests/test_audit_verify
    checks the two agree over awkward values. Leaving the time unquoted is exact, not just fast: the fields
    before it are self-delimiting JSON strings and the time has a fixed length, so a content string that
    matches a hash matches in every field.
    """
    sha256, quote, exact, number = hashlib.sha256, encode_basestring, _exact_digest, int
    last = None
    for checked, row in enumerate(rows):
        ident, at, actor_id, actor, action, subject_type, subject_id, before, after, stored_prev, stored = row
        if sqlite:
            plain = len(at) == 26 and at[10] == " "
            at = f"{at[:10]}T{at[11:]}+00:00" if plain else at
        else:
            plain = len(at) == 32
        if plain and (actor_id is None or actor_id.__class__ is number):
            try:
                digest = sha256(
                    f'{stored_prev}{{"action":{quote(action)},"actor":{quote(actor)},'
                    f'"actor_id":{"null" if actor_id is None else actor_id},"after":{quote(after)},"at":"{at}",'
                    f'"before":{quote(before)},"subject_id":{quote(subject_id)},'
                    f'"subject_type":{quote(subject_type)}}}'.encode()).hexdigest()
            except (TypeError, UnicodeEncodeError):  # a value no writer of the chain could have stored
                digest = ""
        else:
            digest = exact(row, sqlite)
        if digest != stored or stored_prev != prev_hash:
            return checked, last, row
        last, prev_hash = row, stored
    return (0, None, None) if last is None else (checked + 1, last, None)


def _exact_digest(row: Row, sqlite: bool) -> str:
    """Hash one entry through entry_content itself, reading its time as the ORM would."""
    ident, at, actor_id, actor, action, subject_type, subject_id, before, after, stored_prev, stored = row
    try:
        text = entry_content(_readable_at(at) if sqlite else at, actor_id, actor, action, subject_type, subject_id,
                             before, after)
        return hashlib.sha256((stored_prev + text).encode()).hexdigest()
    except (TypeError, ValueError, UnicodeEncodeError):
        return ""


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
