"""The hash-chained audit trail, the change feed other consoles follow, applied-action keys, and metadata.

The change log is written by database triggers (migration 0002), so that a change from any client, a psql
session included, reaches every console.
"""
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime


class AuditEntry(Base):
    """Who did what to what, when, before and after; `hash` covers `prev_hash` and this entry's canonical content.

    `before` and `after` hold canonical JSON text, not a JSON type, so the hashed bytes are exactly what is stored.
    """

    __tablename__ = "audit_entries"
    # No two entries may claim the same predecessor: a writer that skipped the chain lock fails, not forks.
    __table_args__ = (Index("ux_audit_entries_prev_hash", "prev_hash", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(64))
    before: Mapped[str] = mapped_column(Text)
    after: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class ChangeLogEntry(Base):
    """One row per changed entity per transaction; consoles read past their cursor to stay current."""

    __tablename__ = "change_log"
    __table_args__ = (Index("ix_change_log_entity", "entity", "entity_id"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[int] = mapped_column(Integer)


class Meta(Base):
    """Facts about this database, such as whether it holds demo data."""

    __tablename__ = "console_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class AppliedAction(Base):
    """An idempotency key of an action that was applied: a replayed action is applied exactly once."""

    __tablename__ = "applied_actions"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # JSON [[incident id, version], ...] after the action: a replay that finds it applied learns where it left things.
    result: Mapped[str] = mapped_column(Text, default="[]")
