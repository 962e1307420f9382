"""The console's share of routing while it runs: the escalation tick every 5 s, and rows written straight into the
signals table (by a script, psql, another tool) routed within about a second.

Both are idempotent writes over database state, safe with several consoles and an ingest server doing the same:
the tick locks what it pages, and pending rows are taken with SKIP LOCKED. Nothing runs while the database is
unreachable, and never two at once.
"""
from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal

from console import commands
from console.changes import Changes
from console.commands.signal_rows import has_pending_signals
from console.policy_follow import FollowedEngine
from console.queries import Reader
from console.uow import UnitOfWork
from ui.tasks import TaskRunner

ESCALATION_TICK_MS = 5000
PENDING_POLL_MS = 1000


class RoutingJobs(QObject):
    changed = Signal(object)  # Changes: something was paged or routed; the feed should look now

    def __init__(self, *, runner: TaskRunner, uow: UnitOfWork, reader: Reader, online: Callable[[], bool],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._runner, self._uow, self._online = runner, uow, online
        self._rules = FollowedEngine(reader=reader)
        self._busy = {"tick": False, "pending": False}
        self._tick_timer = QTimer(self, interval=ESCALATION_TICK_MS)
        self._tick_timer.timeout.connect(self._on_tick_timer_timeout)
        self._pending_timer = QTimer(self, interval=PENDING_POLL_MS)
        self._pending_timer.timeout.connect(self._on_pending_timer_timeout)

    def start(self) -> None:
        self._tick_timer.start()
        self._pending_timer.start()

    def stop(self) -> None:
        self._tick_timer.stop()
        self._pending_timer.stop()

    def _on_tick_timer_timeout(self) -> None:
        self._run("tick", self._tick)

    def _tick(self) -> Changes:
        """Escalate what is due and remind of (or expire) approved mitigations: both idempotent at one moment."""
        escalated = commands.escalation_tick(self._uow)
        reminded = commands.mitigation_tick(self._uow)
        return Changes(incidents=escalated.incidents | reminded.incidents,
                       entities=escalated.entities | reminded.entities,
                       versions=escalated.versions + reminded.versions)

    def _on_pending_timer_timeout(self) -> None:
        if self._busy["pending"] or not self._online():
            return
        # The look is a read (one indexed row at most); the writer is only asked when something waits.
        self._busy["pending"] = True
        self._runner.read(lambda: has_pending_signals(self._uow), on_done=self._on_pending_checked,
                          on_error=lambda _error: self._done("pending"))

    def _on_pending_checked(self, waiting: bool) -> None:
        self._busy["pending"] = False
        if waiting:
            self._run("pending", lambda: commands.route_pending_signals(self._uow, engine=self._rules.engine()))

    def _run(self, job: str, work: Callable[[], Changes]) -> None:
        if self._busy[job] or not self._online():
            return
        self._busy[job] = True
        self._runner.write(work, on_done=lambda changes: self._on_job_done(job, changes),
                           on_error=lambda _error: self._done(job))

    def _on_job_done(self, job: str, changes: Changes) -> None:
        self._done(job)
        if changes.incidents:
            self.changed.emit(changes)

    def _done(self, job: str) -> None:
        self._busy[job] = False
