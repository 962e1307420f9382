"""Run domain work off the GUI thread: one writer thread (commands), a small pool for reads.

Results come back to the GUI thread through a queued signal and are handed to the caller's callbacks.
Errors that the caller does not handle are emitted as `failed` for the window to show.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from PySide6.QtCore import QObject, Signal

from console.errors import ConsoleError

log = logging.getLogger(__name__)

Callback = Callable[[Any], None]
ErrorCallback = Callable[[BaseException], None]


class TaskRunner(QObject):
    failed = Signal(str)
    busy_changed = Signal(int)
    _completed = Signal(object)

    def __init__(self, parent: QObject | None = None, *, readers: int = 2) -> None:
        super().__init__(parent)
        # One writer keeps commands in the order the operator gave them and avoids writer-writer lock waits.
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="icc-writer")
        self._readers = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="icc-reader")
        self._pending = 0
        self._closed = False
        self._completed.connect(self._on_completed)

    @property
    def pending(self) -> int:
        return self._pending

    def write(self, fn: Callable[[], Any], *, on_done: Callback | None = None,
              on_error: ErrorCallback | None = None) -> None:
        """Run a command on the writer thread."""
        self._submit(self._writer, fn, on_done, on_error)

    def read(self, fn: Callable[[], Any], *, on_done: Callback | None = None,
             on_error: ErrorCallback | None = None) -> None:
        """Run a query on the reader pool."""
        self._submit(self._readers, fn, on_done, on_error)

    def shutdown(self) -> None:
        """Finish queued commands (nothing the operator did is dropped), then stop the threads."""
        self._closed = True
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True, cancel_futures=True)

    def _submit(self, pool: ThreadPoolExecutor, fn: Callable[[], Any], on_done: Callback | None,
                on_error: ErrorCallback | None) -> None:
        if self._closed:
            return
        self._pending += 1
        self.busy_changed.emit(self._pending)
        pool.submit(self._run, fn, on_done, on_error)

    def _run(self, fn: Callable[[], Any], on_done: Callback | None, on_error: ErrorCallback | None) -> None:
        try:
            outcome: tuple[Any, BaseException | None] = (fn(), None)
        except BaseException as error:  # noqa: BLE001 - every failure must reach the GUI, never vanish in a thread
            if not isinstance(error, ConsoleError):
                log.exception("background task failed")
            outcome = (None, error)
        if not self._closed:
            self._completed.emit((outcome, on_done, on_error))

    def _on_completed(self, payload: tuple[tuple[Any, BaseException | None], Callback | None, ErrorCallback | None]) -> None:
        (result, error), on_done, on_error = payload
        self._pending -= 1
        self.busy_changed.emit(self._pending)
        if error is None:
            if on_done is not None:
                on_done(result)
        elif on_error is not None:
            on_error(error)
        elif isinstance(error, ConsoleError):
            self.failed.emit(str(error))
        else:
            self.failed.emit(f"Unexpected error: {type(error).__name__}: {error}")
