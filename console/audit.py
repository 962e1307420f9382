"""The hash-chained audit trail: chain a command's entries at the end of its transaction, and verify the chain.

What is hashed is defined in console/audit_chain.py (re-exported here); the fast walk is console/audit_verify.py.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from console.audit_chain import (
    GENESIS_HASH,
    BreakKind,
    ChainHead,
    ChainVerdict,
    at_text,
    canonical_json,
    entry_content,
    entry_hash,
)
from console.audit_verify import walk_chain
from models.audit import AuditEntry
from models.schema import PG_WRITE_LOCK

__all__ = ["GENESIS_HASH", "BreakKind", "ChainHead", "ChainVerdict", "PendingEntry", "append_entries", "at_text",
           "canonical_json", "entry_content", "entry_hash", "verify_chain"]


@dataclass(frozen=True)
class PendingEntry:
    """An audit entry a command has written but not yet chained: chaining waits for the end of the transaction."""

    at: datetime
    actor_id: int | None
    actor: str
    action: str
    subject_type: str
    subject_id: str
    before: dict[str, Any]
    after: dict[str, Any]


def append_entries(session: Session, entries: list[PendingEntry]) -> None:
    """Chain a transaction's entries onto the newest one; call last, just before the commit.

    On PostgreSQL the chain is kept linear by a transaction advisory lock from here to the commit. Taking it
    last keeps that window to four round trips: under load, commands queue on it, so its length caps how many
    audited commands per second all consoles together can commit.
    """
    if not entries:
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_WRITE_LOCK})
    prev_hash = session.execute(select(AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)).scalar() or GENESIS_HASH
    rows = []
    for pending in entries:
        # Microsecond precision is what both backends store; hash exactly what will be read back.
        at = pending.at.astimezone(timezone.utc)
        before_text, after_text = canonical_json(pending.before), canonical_json(pending.after)
        digest = entry_hash(prev_hash=prev_hash, at=at, actor_id=pending.actor_id, actor=pending.actor,
                            action=pending.action, subject_type=pending.subject_type, subject_id=pending.subject_id,
                            before=before_text, after=after_text)
        rows.append({"at": at, "actor_id": pending.actor_id, "actor": pending.actor, "action": pending.action,
                     "subject_type": pending.subject_type, "subject_id": pending.subject_id, "before": before_text,
                     "after": after_text, "prev_hash": prev_hash, "hash": digest})
        prev_hash = digest
    # One bulk INSERT in chain order, without reading ids back: nothing needs them, and a request routing ten
    # alerts writes ten entries (the ORM's per-object flush cost more than the database did).
    session.execute(insert(AuditEntry), rows)


def verify_chain(session: Session, *, known_head: ChainHead | None = None) -> ChainVerdict:
    """Walk the whole chain in id order and report the first entry that does not fit.

    With `known_head` (a head seen by an earlier check), an intact chain that no longer holds that entry with
    that hash is reported TRUNCATED: deleting the newest entries leaves a chain that is valid by itself.
    """
    return walk_chain(session, known_head=known_head)
