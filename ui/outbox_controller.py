"""Every operator action goes through here: written to the outbox first, then sent in order, one at a time.

Online this costs one small fsync; in return an action in flight when the console quits, crashes or loses
its connection is still on disk and is sent again (exactly once, by its idempotency key). Actions the
database cannot take yet stay kept; actions that no longer apply wait for the operator to redo or discard.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timezone

from PySide6.QtCore import QObject, Signal

from console.commands.dispatch import CommandRequest, Outcome, ReplayResult, replay
from console.errors import DatabaseBusy, DatabaseUnavailable
from console.sync.outbox import EntryState, Outbox, OutboxEntry
from console.uow import UnitOfWork
from ui.tasks import TaskRunner

log = logging.getLogger(__name__)
BUSY_PAUSE_S = 1.0


class OutboxController(QObject):
    changed = Signal()  # the kept actions changed (panel, queue markers)
    applied = Signal(object, object)  # Changes, CommandRequest: an action reached the database
    kept = Signal(object, str)  # CommandRequest, why: the database cannot take it yet; it waits on disk
    held = Signal(object, str)  # CommandRequest, why: it no longer applies as it was; the operator decides

    def __init__(self, *, outbox: Outbox, runner: TaskRunner, uow: UnitOfWork, online: Callable[[], bool],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.outbox = outbox
        self._runner = runner
        self._uow = uow
        self._online = online
        self.sending: str | None = None  # the key of the action on its way to the database
        self._told_kept: set[str] = set()
        # incident -> (version the operator's queued actions were based on, version after the last one applied):
        # a second action taken offline on the same incident follows on from the first instead of conflicting.
        self._moved_on: dict[int, tuple[int, int]] = {}
        self._busy: dict[int | None, float] = {}  # incident held by another session -> monotonic time to retry

    def entries(self) -> list[OutboxEntry]:
        return self.outbox.entries()

    def pending_count(self) -> int:
        return sum(1 for e in self.outbox.entries() if e.state is EntryState.PENDING)

    def incidents_with_kept_actions(self) -> set[int]:
        """Incidents with an action not yet in the database (the one being sent right now is not 'kept')."""
        return {e.incident_id for e in self.outbox.entries() if e.incident_id is not None and e.key != self.sending}

    def submit(self, request: CommandRequest) -> None:
        """Write the action down (on disk when this returns), then send whatever is due, in order."""
        self.outbox.add(OutboxEntry(request=request.to_json(), created_at=datetime.now(timezone.utc).isoformat()))
        self.changed.emit()
        self.send_pending()

    def discard(self, key: str) -> bool:
        """Drop a kept action; refused for the one being sent right now (it may already have arrived)."""
        if key == self.sending:
            return False
        self.outbox.remove(key)
        self.changed.emit()
        return True

    def redo(self, key: str, *, version: int) -> None:
        """Aim a held action at the incident's current version and send it again."""
        entry = next((e for e in self.outbox.entries() if e.key == key), None)
        if entry is None:
            return
        request = CommandRequest.from_json(entry.request).on_version(version)
        self.outbox.mark(key, state=EntryState.PENDING, request=request.to_json())
        self.changed.emit()
        self.send_pending()

    def send_pending(self) -> None:
        """Send the oldest pending action if the database is there; the next follows when it is done.

        Order is kept per incident. An incident another session holds (a lock wait) is set aside for a moment
        so that actions on other incidents are not stuck behind it; its own later actions wait with it.
        """
        if self.sending is not None:
            return
        now = time.monotonic()
        pending = [e for e in self.outbox.entries() if e.state is EntryState.PENDING]
        if not pending:
            self._moved_on.clear()
            return
        blocked = {incident for incident, until in self._busy.items() if until > now}
        entry = next((e for e in pending if e.incident_id not in blocked), None)
        if entry is None:
            return  # only busy incidents left: the 1 s tick tries again
        original = CommandRequest.from_json(entry.request)
        if not self._online():
            self._tell_kept(original, "the database cannot be reached")
            return
        self.sending = entry.key
        request = self._follow_on(original)
        outbox = self.outbox

        def send() -> ReplayResult:
            result = replay(self._uow, request=request)
            # Settle the file on the writer thread: the GUI thread does not wait for a rewrite and fsync.
            if result.outcome is Outcome.NEEDS_DECISION:
                outbox.mark(entry.key, state=EntryState.NEEDS_DECISION, reason=result.reason)
            else:
                outbox.remove(entry.key)
            return result

        self._runner.write(send, on_done=lambda result: self._on_sent(original, request, result),
                           on_error=lambda error: self._on_send_failed(original, error))

    def _follow_on(self, request: CommandRequest) -> CommandRequest:
        expected = request.args.get("expected_version")
        moved = self._moved_on.get(request.incident_id if request.incident_id is not None else -1)
        if expected is not None and moved is not None and moved[0] == expected:
            return request.on_version(moved[1])
        return request

    def _on_sent(self, original: CommandRequest, sent: CommandRequest, result: ReplayResult) -> None:
        self.sending = None
        self._told_kept.discard(original.key)
        if result.outcome is Outcome.NEEDS_DECISION:
            self.held.emit(original, result.reason)
        else:
            self._remember(original, sent, result)
            self.applied.emit(result.changes, original)
        self.changed.emit()
        self.send_pending()

    def _remember(self, original: CommandRequest, sent: CommandRequest, result: ReplayResult) -> None:
        incident, expected = original.incident_id, original.args.get("expected_version")
        if incident is None or expected is None:
            return
        new = dict(result.changes.versions).get(incident)
        if new is None:
            return
        # The chain starts at the version the operator based these actions on; a redo starts a new chain at the
        # version it was aimed at, so a later action based on what the operator saw before still conflicts.
        moved = self._moved_on.get(incident)
        origin = moved[0] if moved is not None and moved[1] == sent.args.get("expected_version") else int(expected)
        self._moved_on[incident] = (origin, new)

    def _on_send_failed(self, original: CommandRequest, error: BaseException) -> None:
        self.sending = None
        if isinstance(error, DatabaseBusy) and original.incident_id is not None:
            self._busy[original.incident_id] = time.monotonic() + BUSY_PAUSE_S
            self._tell_kept(original, str(error))
            self.changed.emit()
            self.send_pending()  # the others need not wait for this one
            return
        if isinstance(error, DatabaseUnavailable):
            self._tell_kept(original, str(error))  # stays pending on disk; sent again when the database answers
            self.changed.emit()
            return
        # Anything else would block every later action if left at the head of the queue: hold it for the operator.
        log.error("sending %s failed: %s", original.label, error)
        self.outbox.mark(original.key, state=EntryState.NEEDS_DECISION, reason=f"could not be sent: {error}")
        self.held.emit(original, f"could not be sent: {error}")
        self.changed.emit()
        self.send_pending()

    def _tell_kept(self, request: CommandRequest, why: str) -> None:
        if request.key not in self._told_kept:
            self._told_kept.add(request.key)
            self.kept.emit(request, why)
