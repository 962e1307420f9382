"""Verify the audit chain: walk it in runs (a long chain in several processes at once), join the runs end to
end, and say what kind of tampering the first break looks like.

Hashing an entry costs about 4 µs of one core here (reading the row ~1.7 µs, building its content ~1.5 µs,
SHA-256 ~0.9 µs), so a million entries take ~4–5 s in one process; split across the machine's cores they
take about half that (bench/audit.py). Only when an entry does not fit are a few indexed look-ups made, to tell an
altered entry from a deleted, inserted or reordered one.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from console.audit_chain import GENESIS_HASH, BreakKind, ChainHead, ChainVerdict
from console.audit_scan import PG_BATCH, RangeJob, Row, Run, range_sql, recomputes, scan, scan_range
from console.db import Database
from console.errors import DatabaseUnavailable
from models.audit import AuditEntry

log = logging.getLogger(__name__)

# Below this many ids a second process costs more to start than it saves.
PARALLEL_FROM = 200_000
MAX_WORKERS = 4


def walk_chain(session: Session, *, known_head: ChainHead | None = None) -> ChainVerdict:
    """Verify every entry in id order in this process; classify the first that does not fit; check a remembered head."""
    connection = session.connection()
    return _join(session, [_scan_here(connection, None)], known_head=known_head)


def verify_database(db: Database, *, known_head: ChainHead | None = None, workers: int | None = None,
                    share: bool = True) -> ChainVerdict:
    """Verify a database's whole chain, splitting a long one across worker processes (one per core by default).

    With `share`, this process checks one span itself; without it (a GUI process, where a thread hashing for
    seconds would hold the interpreter lock the window needs) every span goes to a worker.
    """
    with db.reader() as session:
        connection = session.connection()
        low, high = session.execute(select(func.min(AuditEntry.id), func.max(AuditEntry.id))).one()
        count = min(workers or os.cpu_count() or 1, MAX_WORKERS)
        target = _worker_target(db)
        if low is None or high - low < PARALLEL_FROM or count < 2 or target is None:
            return _join(session, [_scan_here(connection, None)], known_head=known_head)
        # The ids are dense, so equal spans are equal work; this process takes the last span (a worker
        # starting up is what the others wait for, and this one needs no start-up).
        step = (high - low + count) // count
        spans = [(low + i * step, min(high, low + (i + 1) * step - 1)) for i in range(count)]
        elsewhere = spans[:-1] if share else spans
        try:
            with ProcessPoolExecutor(len(elsewhere), mp_context=get_context("spawn")) as pool:
                futures = [pool.submit(scan_range, RangeJob(db.backend, target, lo, hi)) for lo, hi in elsewhere]
                own = [_scan_here(connection, spans[-1])] if share else []
                runs = [future.result() for future in futures] + own
        except (BrokenProcessPool, OSError) as error:
            # No worker could run (a sandbox without subprocesses, say): slower, but still a verdict.
            log.warning("audit verification in one process: worker processes failed (%s)", error)
            return _join(session, [_scan_here(connection, None)], known_head=known_head)
        except Exception as error:  # noqa: BLE001 - a worker's own error (its connection) crosses as a plain one
            raise DatabaseUnavailable(f"cannot verify the audit trail of {db.display_url}: "
                                      f"{_first_line(error)}") from None
        return _join(session, runs, known_head=known_head)


def _first_line(error: BaseException) -> str:
    return next((line.strip() for line in str(error).splitlines() if line.strip()), type(error).__name__)


def _worker_target(db: Database) -> str | dict[str, Any] | None:
    """Return what a worker connects to: a SQLite file path or psycopg keyword arguments (None: no worker can)."""
    if db.backend == "sqlite":
        path = db.url.database
        return path if path and path != ":memory:" and not path.startswith("file:") else None
    # Keywords, not a URL: psycopg echoes a URL it cannot parse in its error, password and all (as in queries.py).
    params: dict[str, Any] = db.url.translate_connect_args(username="user", database="dbname")
    params.update(db.url.query)
    return params


def _scan_here(connection: Connection, span: tuple[int, int] | None) -> Run:
    """Scan this connection's entries (all, or one span of ids) through its raw driver cursor."""
    backend = connection.dialect.name
    raw = connection.connection.driver_connection
    if backend == "postgresql":
        cursor = raw.cursor(name="icc_audit_verify")  # type: ignore[union-attr]
        cursor.itersize = PG_BATCH
    else:
        cursor = raw.cursor()  # type: ignore[union-attr]
    try:
        if span is None:
            cursor.execute(range_sql(backend, bounded=False))
        else:
            cursor.execute(range_sql(backend, bounded=True), span)
        return scan(cursor, backend=backend, prev_hash=None)
    except connection.dialect.loaded_dbapi.Error as error:
        # The driver's own error (this cursor is not SQLAlchemy's): say it as every lost read is said.
        raise DatabaseUnavailable(f"cannot read the audit trail: {_first_line(error)}") from None
    finally:
        cursor.close()


def _row(session: Session, ident: int) -> Row:
    connection = session.connection()
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(range_sql(connection.dialect.name, bounded=True), (ident, ident))
        return cursor.fetchone()
    finally:
        cursor.close()


def _join(session: Session, runs: Sequence[Run], *, known_head: ChainHead | None) -> ChainVerdict:
    """Join consecutive runs into one chain: each run must follow the last entry of the one before."""
    checked, prev_id, prev_hash = 0, None, GENESIS_HASH
    for run in runs:
        if run.first_id is None:
            continue  # a span of ids with no entries
        if run.first_prev != prev_hash:
            return _classify(session, bad=_row(session, run.first_id), prev_id=prev_id, prev_hash=prev_hash,
                             checked=checked)
        if run.bad is not None:
            before_bad = (run.last_id, run.last_hash) if run.last_id is not None else (prev_id, prev_hash)
            return _classify(session, bad=run.bad, prev_id=before_bad[0], prev_hash=before_bad[1],  # type: ignore[arg-type]
                             checked=checked + run.checked)
        checked, prev_id, prev_hash = checked + run.checked, run.last_id, run.last_hash  # type: ignore[assignment]
    head = ChainHead(prev_id, prev_hash) if prev_id is not None else None
    if known_head is not None:
        cut = _cut_off(session, known=known_head, head=head)
        if cut:
            return ChainVerdict(False, checked, known_head.id, cut, BreakKind.TRUNCATED, head)
    return ChainVerdict(True, checked, head=head)


def _classify(session: Session, *, bad: Row, prev_id: int | None, prev_hash: str, checked: int) -> ChainVerdict:
    """Say what the first entry that does not fit looks like: altered, deleted, inserted or reordered."""
    ident, stored_prev = bad[0], bad[9]
    backend = session.connection().dialect.name
    intact_itself = recomputes(bad, backend=backend)
    after_bad = session.execute(select(AuditEntry.id, AuditEntry.prev_hash).where(AuditEntry.id > ident)
                                .order_by(AuditEntry.id).limit(1)).first()
    before_it = f"#{prev_id}" if prev_id is not None else "the start of the chain"

    def verdict(kind: BreakKind, bad_id: int, reason: str) -> ChainVerdict:
        # `checked` counts the entries before the first bad one (which may be before the entry the walk stopped at).
        earlier = session.execute(select(func.count()).select_from(AuditEntry).where(AuditEntry.id >= bad_id,
                                                                                      AuditEntry.id < ident)).scalar()
        return ChainVerdict(False, checked - (earlier or 0), bad_id, reason, kind)

    followed = session.execute(select(AuditEntry.id).where(AuditEntry.hash == stored_prev)).scalar()
    if intact_itself and followed is not None and followed > ident:
        return verdict(BreakKind.REORDERED, ident, f"entry #{ident} follows #{followed} in the chain but sits before "
                                                   "it: entries were reordered")
    # The chain goes around this entry: what came before it links straight to what comes after.
    if after_bad is not None and after_bad.prev_hash == prev_hash and (stored_prev != prev_hash or not intact_itself):
        return verdict(BreakKind.INSERTED, ident, f"entry #{ident} is not part of the chain: {before_it} is followed "
                                                  f"by #{after_bad.id}; #{ident} was inserted between them")
    if not intact_itself:
        return verdict(BreakKind.ALTERED, ident, f"entry #{ident} does not match its hash: its content (or the hash "
                                                 "it follows) was changed after it was written")
    if followed is None:
        if prev_id is None:
            return verdict(BreakKind.DELETED, ident, f"entry #{ident} follows an entry that is no longer in the "
                                                     "table: the oldest entries were deleted")
        if ident > prev_id + 1:
            return verdict(BreakKind.DELETED, ident, f"entry #{ident} follows an entry that is no longer in the "
                                                     f"table: deleted (ids #{prev_id + 1}–#{ident - 1} are missing)")
        if after_bad is None:
            return verdict(BreakKind.INSERTED, ident, f"entry #{ident}, the newest, does not follow #{prev_id}: it "
                                                      f"was added outside the console (or #{prev_id} was rewritten)")
        return verdict(BreakKind.ALTERED, prev_id, f"entry #{ident} does not follow #{prev_id}, and no entry has the "
                                                   f"hash it follows: #{prev_id} was rewritten with a recomputed "
                                                   "hash (or entries were deleted and the ids renumbered)")
    first_between = session.execute(select(AuditEntry.id).where(AuditEntry.id > followed)
                                    .order_by(AuditEntry.id).limit(1)).scalar_one()
    return verdict(BreakKind.INSERTED, first_between, f"entry #{ident} follows #{followed} in the chain; "
                                                      f"#{first_between}–#{prev_id} between them are not part of "
                                                      "it: they were inserted")


def _cut_off(session: Session, *, known: ChainHead, head: ChainHead | None) -> str:
    """Say how a remembered head went missing from an intact chain, or return "" if it is still there."""
    now = session.execute(select(AuditEntry.hash).where(AuditEntry.id == known.id)).scalar()
    if now == known.hash:
        return ""
    end = f"#{head.id}" if head is not None else "nothing (the trail is empty)"
    if now is None:
        return (f"entry #{known.id} was the head at an earlier check and is gone: the chain now ends at {end}; "
                "the newest entries were deleted")
    return (f"entry #{known.id} had hash {known.hash[:12]}… at an earlier check and now has {now[:12]}…: the chain "
            "was cut back and written again from there")
