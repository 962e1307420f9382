"""Keeps actions the database could not take, replays them in order when it is back, and holds the ones that
no longer apply for the operator to redo or discard. Nothing an operator did is lost or faked."""
from __future__ import annotations

import logging
from datetime import datetime, timezone

from PySide6.QtCore import QObject, Signal

from console.changes import Changes
from console.commands.dispatch import CommandRequest, Outcome, ReplayResult, replay
from console.errors import DatabaseUnavailable
from console.sync.outbox import EntryState, Outbox, OutboxEntry
from console.uow import UnitOfWork
from ui.tasks import TaskRunner

log = logging.getLogger(__name__)


class OutboxController(QObject):
    changed = Signal()  # the kept actions changed (panel, queue markers)
    applied = Signal(object, str)  # Changes, label: a kept action reached the database
    decision_needed = Signal(str)  # label: an action no longer applies as it was

    def __init__(self, *, outbox: Outbox, runner: TaskRunner, uow: UnitOfWork, parent: QObject | None = None):
        super().__init__(parent)
        self.outbox = outbox
        self._runner = runner
        self._uow = uow
        self._replaying = False
        # incident -> (version the operator saw, version after their replayed action): a second action the
        # operator took offline on the same incident follows on from their first, not from before it.
        self._moved_on: dict[int, tuple[int, int]] = {}

    def entries(self) -> list[OutboxEntry]:
        return self.outbox.entries()

    def pending_count(self) -> int:
        return sum(1 for e in self.outbox.entries() if e.state is EntryState.PENDING)

    def incidents_with_kept_actions(self) -> set[int]:
        return {int(e.request["incident_id"]) for e in self.outbox.entries() if e.request.get("incident_id")}

    def keep(self, request: CommandRequest, *, state: EntryState = EntryState.PENDING, reason: str = "") -> None:
        """Write an action to the outbox (on disk before this returns)."""
        self.outbox.add(OutboxEntry(request=request.to_json(), created_at=datetime.now(timezone.utc).isoformat(),
                                    state=state, reason=reason))
        self.changed.emit()
        if state is EntryState.NEEDS_DECISION:
            self.decision_needed.emit(request.label)

    def discard(self, key: str) -> None:
        """Drop a kept action the operator no longer wants."""
        self.outbox.remove(key)
        self.changed.emit()

    def redo(self, key: str, *, version: int) -> None:
        """Aim a held action at the incident's current version and send it again."""
        entry = next((e for e in self.outbox.entries() if e.key == key), None)
        if entry is None:
            return
        request = CommandRequest.from_json(entry.request).on_version(version)
        self.outbox.mark(key, state=EntryState.PENDING, request=request.to_json())
        self.changed.emit()
        self.replay_pending()

    def replay_pending(self) -> None:
        """Send the oldest pending action, then the next, in order, until none is left or the database is gone."""
        if self._replaying:
            return
        entry = next((e for e in self.outbox.entries() if e.state is EntryState.PENDING), None)
        if entry is None:
            self._moved_on.clear()
            return
        self._replaying = True
        request = self._follow_on(CommandRequest.from_json(entry.request))
        self._runner.write(lambda: replay(self._uow, request=request),
                           on_done=lambda result: self._on_replay_done(entry, request, result),
                           on_error=self._on_replay_failed)

    def _follow_on(self, request: CommandRequest) -> CommandRequest:
        seen = request.args.get("expected_version")
        moved = self._moved_on.get(request.incident_id or -1)
        if seen is not None and moved is not None and moved[0] == seen:
            return request.on_version(moved[1])
        return request

    def _on_replay_done(self, entry: OutboxEntry, request: CommandRequest, result: ReplayResult) -> None:
        self._replaying = False
        if result.outcome is Outcome.NEEDS_DECISION:
            self.outbox.mark(entry.key, state=EntryState.NEEDS_DECISION, reason=result.reason)
            self.decision_needed.emit(request.label)
        else:
            self.outbox.remove(entry.key)
            self._remember_versions(request, result.changes)
            if result.outcome is Outcome.APPLIED:
                self.applied.emit(result.changes, request.label)
        self.changed.emit()
        self.replay_pending()

    def _remember_versions(self, request: CommandRequest, changes: Changes) -> None:
        seen = request.args.get("expected_version")
        if request.incident_id is None or seen is None:
            return
        for incident_id, version in changes.versions:
            if incident_id == request.incident_id:
                self._moved_on[incident_id] = (int(request.seen.get("version", seen)), version)

    def _on_replay_failed(self, error: BaseException) -> None:
        # Still unreachable (or a fault): everything stays kept; the next healthy moment tries again.
        self._replaying = False
        if not isinstance(error, DatabaseUnavailable):
            log.error("replaying kept actions failed: %s", error)
