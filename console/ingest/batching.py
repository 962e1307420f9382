"""Group commit for the ingest server: requests that arrive while one is being stored are stored together next.

In an alert storm every request pays the same fixed cost to be stored (a transaction, its commit, the audit
chain's lock), and they queue behind one another anyway, since routing is one writer. Storing what queued up
in one call turns N commits into one. Each request still gets its own answer: if a combined store fails, every
request in it is stored alone, so one bad request is refused on its own and never takes the others down.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from console.errors import DatabaseUnavailable
from console.ingest.events import IngestOutcome, IngestResult, SignalEvent

Store = Callable[[Sequence[SignalEvent]], None]
MAX_EVENTS = 500  # per combined store: keeps one transaction short enough for the consoles watching


@dataclass
class _Request:
    events: Sequence[SignalEvent]
    done: bool = False
    error: BaseException | None = None


class BatchingSink:
    """A sink for IngestServer that stores concurrent requests together; safe to call from many threads."""

    def __init__(self, *, store: Store, max_events: int = MAX_EVENTS) -> None:
        self._store, self._max_events = store, max_events
        self._lock = threading.Lock()  # held by the one thread storing
        self._queue: list[_Request] = []
        self._queue_lock = threading.Lock()
        self._queued = threading.Condition(self._queue_lock)
        self.stores = 0  # combined stores made, for the benchmark and the tests

    def __call__(self, events: Sequence[SignalEvent]) -> IngestResult:
        request = _Request(events=events)
        with self._queue_lock:
            self._queue.append(request)
            self._queued.notify_all()
        while not request.done:
            # The thread holding the lock may take this request along; if not, the next one to get it stores it.
            with self._lock:
                if not request.done:
                    self._store_queued()
        if request.error is not None:
            raise request.error
        return IngestResult(outcome=IngestOutcome.ACCEPTED, accepted=len(events))

    def wait_for_queue(self, *, length: int, timeout: float) -> bool:
        """Wait until `length` requests are waiting to be stored (for tests and benchmarks); False on timeout."""
        with self._queued:
            return self._queued.wait_for(lambda: len(self._queue) >= length, timeout=timeout)

    def run_exclusively(self, work: Callable[[], None]) -> None:
        """Run other writing work (the escalation tick) between stores, never beside one."""
        with self._lock:
            work()

    def _store_queued(self) -> None:
        with self._queue_lock:
            batch, taken = [], 0
            while self._queue and (not batch or taken + len(self._queue[0].events) <= self._max_events):
                request = self._queue.pop(0)
                batch.append(request)
                taken += len(request.events)
        if not batch:
            return
        try:
            self._store([event for request in batch for event in request.events])
            self.stores += 1
        except DatabaseUnavailable as error:
            self._finish(batch, error)  # the database, not a request, is at fault: all of them wait and retry
            return
        except BaseException as error:  # noqa: BLE001 - each request is tried alone below, and answered alone
            if len(batch) == 1:
                self._finish(batch, error)
                return
            for request in batch:
                try:
                    self._store(request.events)
                    self.stores += 1
                    self._finish([request], None)
                except BaseException as alone:  # noqa: BLE001 - this request's own answer
                    self._finish([request], alone)
            return
        self._finish(batch, None)

    @staticmethod
    def _finish(batch: list[_Request], error: BaseException | None) -> None:
        for request in batch:
            request.error, request.done = error, True
