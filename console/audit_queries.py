"""Reading the audit trail: filtered pages newest first (the window), every entry oldest first (the export), and
the whole-chain check the window runs in the background. Results are frozen values from console/audit_dto.py.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from console.audit_chain import ChainHead
from console.audit_dto import PAGE_SIZE, AuditChoices, AuditFilter, AuditPage, AuditRow, ChainCheck
from console.clock import Clock
from console.db import Database, reachable
from models.audit import AuditEntry

_COLUMNS = (AuditEntry.id, AuditEntry.at, AuditEntry.actor_id, AuditEntry.actor, AuditEntry.action,
            AuditEntry.subject_type, AuditEntry.subject_id, AuditEntry.before, AuditEntry.after, AuditEntry.prev_hash,
            AuditEntry.hash)


def filtered(where: AuditFilter) -> Select[Any]:
    """Return the SELECT of every entry the filter matches (no order yet)."""
    query = select(*_COLUMNS)
    if where.incident_id is not None:
        query = query.where(AuditEntry.subject_type == "incident", AuditEntry.subject_id == str(where.incident_id))
    if where.actor:
        query = query.where(AuditEntry.actor == where.actor)
    if where.action:
        query = query.where(AuditEntry.action == where.action)
    if where.since is not None:
        query = query.where(AuditEntry.at >= where.since)
    if where.until is not None:
        query = query.where(AuditEntry.at < where.until)
    return query


def audit_page(session: Session, *, where: AuditFilter, before_id: int | None = None,
               limit: int = PAGE_SIZE) -> AuditPage:
    """Return up to `limit` matching entries newest first, older than `before_id` when given."""
    query = filtered(where)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    rows = session.execute(query.order_by(AuditEntry.id.desc()).limit(limit + 1)).all()
    return AuditPage(tuple(AuditRow(*row) for row in rows[:limit]), more=len(rows) > limit)


def iter_entries(session: Session, *, where: AuditFilter) -> Iterator[AuditRow]:
    """Yield every matching entry oldest first, streamed (an export of millions never sits in memory)."""
    result = session.execute(filtered(where).order_by(AuditEntry.id), execution_options={"yield_per": 5000})
    for row in result:
        yield AuditRow(*row)


def audit_choices(session: Session) -> AuditChoices:
    """Return who and which actions appear in the trail, for the filters."""
    actors = session.execute(select(AuditEntry.actor).distinct().order_by(AuditEntry.actor)).scalars().all()
    actions = session.execute(select(AuditEntry.action).distinct().order_by(AuditEntry.action)).scalars().all()
    return AuditChoices(tuple(actors), tuple(actions))


class AuditReader:
    """The audit trail for the window: each call one short read transaction, from any worker thread."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self.clock = clock

    def page(self, *, where: AuditFilter, before_id: int | None = None, limit: int = PAGE_SIZE) -> AuditPage:
        """Return one page of matching entries, newest first."""
        with reachable(self._db), self._db.reader() as session:
            return audit_page(session, where=where, before_id=before_id, limit=limit)

    def choices(self) -> AuditChoices:
        """Return the actors and actions the filters offer."""
        with reachable(self._db), self._db.reader() as session:
            return audit_choices(session)

    def check_chain(self, *, known_heads: Mapping[str, str] | None = None) -> ChainCheck:
        """Verify the whole chain, long ones in worker processes so this thread holds the GIL only to wait.

        `known_heads` maps a chain's name (its first hash, 16 digits: see ChainCheck.name) to the head an earlier
        check saw; this chain's, if any, must still be in it.
        """
        from console.audit_verify import verify_database

        with reachable(self._db):
            with self._db.reader() as session:
                root = session.execute(select(AuditEntry.hash).order_by(AuditEntry.id).limit(1)).scalar() or ""
            known = (known_heads or {}).get(root[:16], "")
            verdict = verify_database(self._db, known_head=ChainHead.parse(known) if known else None, share=False)
        return ChainCheck(intact=verdict.intact, entries=verdict.checked, checked_at=self.clock.now(),
                          first_bad_id=verdict.first_bad_id, kind=str(verdict.kind or ""), reason=verdict.reason,
                          head=str(verdict.head) if verdict.head else "", root=root)
