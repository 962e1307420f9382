"""Appending to the chain on PostgreSQL (the lock and the INSERT pipelined): a connection lost there surfaces as
SQLAlchemy's OperationalError, which the unit of work turns into "database unavailable, kept and retried"."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import exc, func, select, text

from console import audit
from models.audit import AuditEntry


pytestmark = pytest.mark.postgres


@pytest.fixture
def db_url(request: pytest.FixtureRequest) -> str:
    """PostgreSQL only: the pipelined append is PostgreSQL's (SQLite's is covered by every command's tests)."""
    from tests.conftest import _pg_schema_url, _truncate_all

    url = _pg_schema_url(request.getfixturevalue("pg_schema"))
    _truncate_all(url)
    return url


def _entry(n: int) -> audit.PendingEntry:
    return audit.PendingEntry(at=datetime(2026, 12, 2, 10, 0, n, tzinfo=timezone.utc), actor_id=None, actor="system",
                              action="test.append", subject_type="incident", subject_id=str(n), before={},
                              after={"n": n, "text": "ünïcode \"quoted\"\n"})


def test_pipelined_entries_chain_and_verify(db) -> None:  # type: ignore[no-untyped-def]
    for batch in ([_entry(1)], [_entry(2), _entry(3), _entry(4)]):
        with db.writer() as s:
            audit.append_entries(s, batch)
            s.commit()
    with db.reader() as s:
        assert s.execute(select(func.count()).select_from(AuditEntry)).scalar_one() == 4
        assert audit.verify_chain(s).intact


def test_a_connection_lost_at_the_append_is_sqlalchemys_operational_error(db) -> None:  # type: ignore[no-untyped-def]
    with db.writer() as s:
        pid = s.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with db.engine.connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(exc.OperationalError):
            audit.append_entries(s, [_entry(1)])
        with pytest.raises(exc.OperationalError):
            s.rollback()  # the connection is gone: the unit of work rolls back quietly for this reason
