"""Unit of work: one command = one transaction = one commit, with its audit entries and change-log rows.

A command opens `uow.transaction(actor_id=...)`, changes rows through `tx.session`, and calls `tx.audit`,
`tx.timeline` and `tx.touch`. Leaving the block commits once; any exception rolls everything back, so an
audit entry never exists without its change and a change never without its audit entry. Autoflush is off
inside the block: a query there does not see the command's own pending rows (call `tx.session.flush()`
first where that matters).
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from console import audit
from console.changes import Changes
from console.clock import Clock
from console.db import Database
from console.errors import AlreadyApplied, Conflict, DatabaseBusy, DatabaseUnavailable, NotFound
from models.audit import AppliedAction
from models.enums import AuditAction, ChangeEntity, TimelineKind
from models.incident import Incident, TimelineEvent
from models.org import Person

SYSTEM_ACTOR = "system"


class Transaction:
    """The working state of one command: session, time of the change, actor, and what it touched."""

    def __init__(self, session: Session, *, now: datetime, actor: Person | None) -> None:
        self.session = session
        self.now = now
        self.actor = actor
        self._touched: dict[tuple[ChangeEntity, int], None] = {}
        self._incidents: dict[int, Incident] = {}
        self.pending_audit: list[audit.PendingEntry] = []
        self.created_incident: int | None = None
        # Reads a command may make many times over and that cannot change under it (who is on call at `now`).
        self.memo: dict[str, object] = {}

    @property
    def actor_id(self) -> int | None:
        return self.actor.id if self.actor else None

    @property
    def actor_label(self) -> str:
        return self.actor.handle if self.actor else SYSTEM_ACTOR

    def audit(
        self, *, action: AuditAction, subject_type: ChangeEntity, subject_id: int | str, before: dict[str, Any],
        after: dict[str, Any],
    ) -> None:
        """Record an audit entry for this change; it is hash-chained at the end of the transaction."""
        self.pending_audit.append(audit.PendingEntry(
            at=self.now, actor_id=self.actor_id, actor=self.actor_label, action=action, subject_type=subject_type,
            subject_id=str(subject_id), before=before, after=after,
        ))

    def timeline(self, incident: Incident, *, kind: TimelineKind, text: str) -> None:
        """Add an event to the incident's timeline at the time of this change."""
        self.session.add(
            TimelineEvent(incident_id=incident.id, at=self.now, kind=kind, actor_id=self.actor_id, text=text)
        )

    def touch(self, entity: ChangeEntity, entity_id: int) -> None:
        """Note that an entity changed, for the returned Changes (the change log itself is written by triggers)."""
        self._touched[(entity, entity_id)] = None

    def touch_incident(self, incident: Incident) -> None:
        """Note that an incident changed; its version after the commit goes back in Changes."""
        self._incidents[incident.id] = incident
        self.touch(ChangeEntity.INCIDENT, incident.id)

    def checkpoint(self) -> tuple[int, dict[tuple[ChangeEntity, int], None], dict[int, Incident], int | None]:
        """Return what this command has noted so far, to go back to if a savepoint inside it is rolled back."""
        return len(self.pending_audit), dict(self._touched), dict(self._incidents), self.created_incident

    def restore(self, state: tuple[int, dict[tuple[ChangeEntity, int], None], dict[int, Incident], int | None]) -> None:
        """Forget what was noted after `checkpoint`: its rows were rolled back with the savepoint."""
        audit_count, touched, incidents, created = state
        del self.pending_audit[audit_count:]
        self._touched, self._incidents, self.created_incident = touched, incidents, created

    def changes(self) -> Changes:
        return Changes(
            incidents=frozenset(i for e, i in self._touched if e is ChangeEntity.INCIDENT),
            entities=frozenset(e for e, _ in self._touched),
            created_incident=self.created_incident,
            # Read after the commit: the flush has set each incident's new version (expire_on_commit is off).
            versions=tuple(sorted((i, incident.version) for i, incident in self._incidents.items())),
        )


class UnitOfWork:
    """Opens write transactions on a database with an injected clock."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    @contextmanager
    def transaction(self, *, actor_id: int | None, idempotency_key: str | None = None) -> Iterator[Transaction]:
        """Run a block as one transaction that commits exactly once, or not at all.

        With an idempotency key, the key is recorded in the same transaction: running the same action again
        (a replay after a crash or a lost connection) raises AlreadyApplied instead of doing it twice.
        """
        session = self.db.writer()
        try:
            applied = None
            if idempotency_key is not None:
                earlier = session.get(AppliedAction, idempotency_key)
                if earlier is not None:
                    raise AlreadyApplied(f"action {idempotency_key} was already applied",
                                         versions=tuple(tuple(pair) for pair in json.loads(earlier.result)))
                applied = AppliedAction(key=idempotency_key, applied_at=self.clock.now(), result="[]")
                session.add(applied)
            actor = None
            if actor_id is not None:
                actor = session.get(Person, actor_id)
                if actor is None:
                    raise NotFound(f"person #{actor_id} is not in the roster")
            tx = Transaction(session, now=self.clock.now(), actor=actor)
            # No autoflush: the command's changes reach the database in one flush at commit, so an incident
            # is updated once and its version moves by exactly one per command.
            with session.no_autoflush:
                yield tx
            # The change first (row locks only), then the audit chain under its lock, then commit at once.
            session.flush()
            if applied is not None:
                applied.result = json.dumps(tx.changes().versions)
            audit.append_entries(session, tx.pending_audit)
            session.commit()
        except StaleDataError:
            session.rollback()
            raise Conflict("someone else changed this incident a moment ago; nothing was overwritten") from None
        except IntegrityError as error:
            session.rollback()
            if idempotency_key is not None and "applied_actions" in str(error.orig):
                raise AlreadyApplied(f"action {idempotency_key} was already applied") from None
            raise
        except (OperationalError, InterfaceError) as error:
            _rollback_quietly(session)
            raise _unavailable(self.db, error) from None
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()


# PostgreSQL's codes for "lock not available" and "statement cancelled (timeout)".
_BUSY_STATES = {"55P03": "another session is holding what this action changes",
                "57014": "the database took too long to answer"}


def _unavailable(db: Database, error: OperationalError | InterfaceError) -> DatabaseUnavailable:
    """Say why the database could not take the change: busy (kept and retried) or unreachable."""
    busy = _BUSY_STATES.get(getattr(error.orig, "sqlstate", None) or "")
    if busy:
        return DatabaseBusy(f"{busy}; your action is kept and tried again")
    reason = str(error.orig).strip().splitlines()[0] if error.orig and str(error.orig).strip() else "no answer"
    if "database is locked" in reason:  # SQLite's busy timeout
        return DatabaseBusy("another writer held the database file for over 5 s; your action is kept and tried again")
    return DatabaseUnavailable(f"lost the database ({db.display_url}): {reason}")


def _rollback_quietly(session: Session) -> None:
    """Roll back on a connection that may already be dead; the database discards the transaction anyway."""
    try:
        session.rollback()
    except (OperationalError, InterfaceError):
        pass
