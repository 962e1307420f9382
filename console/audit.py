"""The hash-chained audit trail: chain a command's entries at the end of its transaction, and verify the chain."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from models.audit import AuditEntry
from models.base import as_plain
from models.schema import PG_WRITE_LOCK

GENESIS_HASH = "0" * 64


def canonical_json(value: Any) -> str:
    """Serialise to the one byte-exact JSON form that is hashed and stored."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=as_plain)


def entry_hash(
    *,
    prev_hash: str,
    at: datetime,
    actor_id: int | None,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: str,
    before: str,
    after: str,
) -> str:
    """Return SHA-256 over the previous hash and this entry's canonical content."""
    content = canonical_json(
        {
            "at": at.astimezone(timezone.utc).isoformat(timespec="microseconds"),
            "actor_id": actor_id,
            "actor": actor,
            "action": action,
            "subject_type": subject_type,
            "subject_id": subject_id,
            "before": before,
            "after": after,
        }
    )
    return hashlib.sha256((prev_hash + content).encode("utf-8")).hexdigest()


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


@dataclass(frozen=True)
class ChainVerdict:
    intact: bool
    checked: int
    first_bad_id: int | None = None
    reason: str = ""


def verify_chain(session: Session) -> ChainVerdict:
    """Walk the whole chain in id order and report the first entry that does not fit."""
    prev_hash = GENESIS_HASH
    checked = 0
    for entry in session.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars():
        if entry.prev_hash != prev_hash:
            return ChainVerdict(False, checked, entry.id, "previous hash does not match: an entry was removed or inserted")
        expected = entry_hash(
            prev_hash=entry.prev_hash,
            at=entry.at,
            actor_id=entry.actor_id,
            actor=entry.actor,
            action=entry.action,
            subject_type=entry.subject_type,
            subject_id=entry.subject_id,
            before=entry.before,
            after=entry.after,
        )
        if entry.hash != expected:
            return ChainVerdict(False, checked, entry.id, "content does not match its hash: the entry was altered")
        prev_hash = entry.hash
        checked += 1
    return ChainVerdict(True, checked)
