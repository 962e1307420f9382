"""Several writers on one database (as several consoles are): every action lands, the audit chain stays one line,
and on SQLite a write transaction holds the write lock from its BEGIN."""
from __future__ import annotations

import sqlite3
import threading

import pytest
from sqlalchemy import func, select, text

from console import commands
from console.audit import verify_chain
from console.db import open_database
from console.uow import UnitOfWork
from models.audit import AuditEntry
from models.incident import TimelineEvent


def test_sqlite_connections_have_the_settings_the_data_needs(sqlite_url: str) -> None:
    db = open_database(sqlite_url)
    with db.engine.connect() as conn:
        pragmas = {name: conn.execute(text(f"PRAGMA {name}")).scalar()
                   for name in ("journal_mode", "foreign_keys", "synchronous", "busy_timeout")}
    db.dispose()
    assert pragmas == {"journal_mode": "wal", "foreign_keys": 1, "synchronous": 2, "busy_timeout": 5000}


def test_a_sqlite_write_transaction_takes_the_write_lock_at_begin(sqlite_url: str) -> None:
    db = open_database(sqlite_url)
    path = sqlite_url.removeprefix("sqlite:///")
    with db.writer() as session:
        session.execute(select(1))  # only a read so far, but the transaction began IMMEDIATE
        other = sqlite3.connect(path, timeout=0.05, isolation_level=None)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        other.close()
    with db.reader() as session:  # readers are never blocked by a writer under WAL
        session.execute(select(1))
    db.dispose()


def test_concurrent_consoles_lose_no_action_and_keep_one_chain(db_url: str, org, clock) -> None:  # type: ignore[no-untyped-def]
    first = UnitOfWork(open_database(db_url), clock)
    incident = commands.open_incident(first, actor_id=org.alice, title="Shared incident", severity="SEV2",
                                      service_id=org.identity).created_incident
    consoles = [UnitOfWork(open_database(db_url), clock) for _ in range(3)]
    errors: list[BaseException] = []

    def work(uow: UnitOfWork, who: int) -> None:
        try:
            for n in range(25):
                commands.add_note(uow, actor_id=who, incident_id=incident, text=f"note {n} from {who}")
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    people = (org.alice, org.bob, org.carol)
    threads = [threading.Thread(target=work, args=(uow, who)) for uow, who in zip(consoles, people, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    with first.db.reader() as s:
        notes = s.execute(select(func.count()).select_from(TimelineEvent).where(TimelineEvent.kind == "note")).scalar()
        verdict = verify_chain(s)
        opening = s.execute(select(func.count()).select_from(AuditEntry)
                            .where(AuditEntry.action.in_(("incident.open", "incident.page")))).scalar()
    assert notes == 75
    assert verdict.intact and verdict.checked == 75 + opening  # every note, the opening and its pages
    for uow in [first, *consoles]:
        uow.db.dispose()


def test_local_times_are_shown_in_the_operators_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    import time
    from datetime import datetime, timezone

    from ui.timefmt import local_time

    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        assert local_time(datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)) == "15:30:00"
    finally:
        monkeypatch.undo()
        time.tzset()
