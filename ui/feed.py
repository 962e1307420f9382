"""Follows the database's change log past a cursor and hands fresh queue rows to the GUI.

The queue is loaded once with the cursor it is consistent with; afterwards only what changed is read.
A watcher (LISTEN on PostgreSQL, data_version on SQLite) wakes the feed the moment anyone commits; wake-ups
are coalesced for a couple of milliseconds and read in one query. Correctness never rests on the watcher:
a slow poll reads past the cursor anyway, and sequence numbers missing from a read are re-checked for a while
in case such a row commits late. When reads fail the feed says so and retries with capped backoff.
"""
from __future__ import annotations

import threading
import time

from PySide6.QtCore import QObject, QTimer, Signal

from console.dto import FeedBatch, QueueSnapshot
from console.queries import Reader
from ui.tasks import TaskRunner

COALESCE_MS = 2
# Under load, reads start at least this far apart: one read then carries a burst of commits instead of each
# console reading once per commit (ten consoles reading 400 times a second starved the writers on two cores).
MIN_READ_SPACING_S = 0.015
SLOW_POLL_MS = 2000
# A smaller sequence number can commit after a larger one (numbers are handed out at write, not commit).
# On PostgreSQL a missing one is looked for until every transaction running when it went missing has ended
# (however long that takes); on SQLite, one writer at a time, a short wait is plenty.
GAP_RECHECK_S = 120.0
STALL_S = 2.0
BACKOFF_MAX_S = 15.0


class ChangeFeed(QObject):
    loaded = Signal(object)  # QueueSnapshot
    changed = Signal(object)  # FeedBatch
    health_changed = Signal(str)  # "" when healthy, else what went wrong
    _woken = Signal()  # from the watcher's thread; queued to ours
    _watcher_state = Signal(str)

    def __init__(self, reader: Reader, runner: TaskRunner, *, interval_ms: int = SLOW_POLL_MS,
                 watch: bool = True, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._reader = reader
        self._runner = runner
        self.cursor: int | None = None
        self.last_success: float | None = None  # monotonic
        self.last_success_wall: float | None = None  # epoch seconds, for "as of 12:03:04"
        self.next_retry: float | None = None  # monotonic, while offline
        # sequence number -> the transaction id that had to finish (PostgreSQL) or the monotonic time (SQLite)
        # after which a still-missing number is taken for a rolled-back transaction
        self._gaps: dict[int, tuple[int | None, float]] = {}
        self._in_flight_since: float | None = None
        self._last_read_start = 0.0
        self._again = False
        self._failures = 0
        self._read_error = ""
        self._watch_error = ""
        self._stalled = False
        self._slow = QTimer(self, interval=interval_ms)
        self._slow.timeout.connect(self._on_slow_timeout)
        self._coalesce = QTimer(self, singleShot=True, interval=COALESCE_MS)
        self._coalesce.timeout.connect(self.poll_now)
        self._retry = QTimer(self, singleShot=True)
        self._retry.timeout.connect(self.poll_now)
        self._woken.connect(self._on_watcher_woken)
        self._watcher_state.connect(self._on_watcher_state)
        # Set by the watcher's thread, cleared when a read starts: one wake-up per read, not one per commit
        # (a cross-thread signal per notification cost ten consoles a good part of a core in a burst).
        self._wake_pending = threading.Event()
        self._watcher = reader.make_watcher(on_wake=self._wake, on_state=self._watcher_state.emit) if watch else None

    @property
    def healthy(self) -> bool:
        return not (self._read_error or self._stalled)

    @property
    def problem(self) -> str:
        return self._read_error or ("the database is not answering" if self._stalled else "") or self._watch_error

    def start(self) -> None:
        """Load the whole queue once, then follow changes."""
        self._begin()
        self._runner.read(self._reader.open_queue, on_done=self._on_queue_loaded, on_error=self._on_read_failed)
        self._slow.start()
        if self._watcher is not None:
            self._watcher.start()

    def stop(self) -> None:
        self._slow.stop()
        self._retry.stop()
        self._coalesce.stop()
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None

    def poll_now(self) -> None:
        """Read what changed past the cursor now (coalesced with a read already running)."""
        if self._in_flight_since is not None:
            self._again = True
            return
        if self.cursor is None:
            self._begin()
            self._runner.read(self._reader.open_queue, on_done=self._on_queue_loaded, on_error=self._on_read_failed)
            return
        self._begin()
        cursor, recheck = self.cursor, frozenset(self._gaps)
        self._runner.read(lambda: self._reader.changes_since(cursor=cursor, recheck=recheck),
                          on_done=self._on_batch_read, on_error=self._on_read_failed)

    def check_stalled(self) -> None:
        """Call every second: a read hanging for over 2 s means the database is not answering."""
        stalled = self._in_flight_since is not None and time.monotonic() - self._in_flight_since > STALL_S
        if stalled != self._stalled:
            self._stalled = stalled
            self.health_changed.emit(self.problem)

    def _wake(self) -> None:
        """Called on the watcher's thread for every notification."""
        if not self._wake_pending.is_set():
            self._wake_pending.set()
            self._woken.emit()

    def _begin(self) -> None:
        self._wake_pending.clear()  # whatever woke us before this point is covered by this read
        self._in_flight_since = self._last_read_start = time.monotonic()

    def _on_slow_timeout(self) -> None:
        # While offline the backoff timer alone retries; polling every 2 s regardless would defeat it.
        if not self._read_error:
            self.poll_now()

    def _on_watcher_woken(self) -> None:
        if self._coalesce.isActive():
            return
        since_last = time.monotonic() - self._last_read_start
        wait_s = max(COALESCE_MS / 1000, MIN_READ_SPACING_S - since_last)
        self._coalesce.start(int(wait_s * 1000))

    def _on_watcher_state(self, message: str) -> None:
        self._watch_error = message
        if message and self.healthy:
            self.poll_now()  # find out now whether the database itself is gone, not in 2 s
        elif not message and not self.healthy:
            self.retry_now()  # the watcher got through: the database is probably back

    def retry_now(self) -> None:
        """Try the database again at once instead of waiting for the backoff."""
        self._retry.stop()
        self.poll_now()

    def _on_queue_loaded(self, snapshot: QueueSnapshot) -> None:
        self.cursor = snapshot.cursor
        self._note_gaps(snapshot.missing, next_xid=snapshot.next_xid)
        self._succeeded()
        self.loaded.emit(snapshot)
        self._finish()

    def _on_batch_read(self, batch: FeedBatch) -> None:
        self._track_gaps(batch)
        self.cursor = batch.cursor
        self._succeeded()
        if batch.incident_ids or batch.other_entities:
            self.changed.emit(batch)
        self._again = self._again or batch.more
        self._finish()

    def _track_gaps(self, batch: FeedBatch) -> None:
        for seq in batch.rechecked:
            self._gaps.pop(seq, None)
        now = time.monotonic()
        # Gone for good: every transaction that could still have committed it had ended before this read.
        done = [seq for seq, (xid, until) in self._gaps.items()
                if (xid is not None and batch.horizon is not None and batch.horizon >= xid)
                or (xid is None and until < now)]
        for seq in done:
            del self._gaps[seq]
        self._note_gaps(batch.missing, next_xid=batch.next_xid)

    def _note_gaps(self, missing: frozenset[int], *, next_xid: int | None) -> None:
        until = time.monotonic() + GAP_RECHECK_S
        for seq in missing:
            self._gaps[seq] = (next_xid, until)

    def _on_read_failed(self, error: BaseException) -> None:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        self._failures += 1
        delay = min(2 ** (self._failures - 1), BACKOFF_MAX_S)
        self.next_retry = time.monotonic() + delay
        self._retry.start(int(delay * 1000))
        changed = message != self._read_error
        self._read_error = message
        self._in_flight_since = None
        self._again = False
        self._stalled = False
        if changed:
            self.health_changed.emit(self.problem)

    def _succeeded(self) -> None:
        self.last_success = time.monotonic()
        self.last_success_wall = time.time()
        self._failures = 0
        self.next_retry = None
        if self._read_error or self._stalled:
            self._read_error = ""
            self._stalled = False
            self.health_changed.emit(self.problem)

    def _finish(self) -> None:
        self._in_flight_since = None
        if self._again:
            self._again = False
            self.poll_now()
