"""Watchers that wake the change feed as soon as someone commits: LISTEN on PostgreSQL, data_version on SQLite.

They only wake; correctness rests on the cursor and the feed's slow poll. Each runs on its own thread with
its own connection and calls back from that thread (the GUI turns the callback into a queued signal).
"""
from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger(__name__)

CHANNEL = "icc_change"  # the channel migration 0002's trigger notifies
SQLITE_INTERVAL_S = 0.1
RECONNECT_MAX_S = 15.0

Wake = Callable[[], None]
Report = Callable[[str], None]  # "" when connected, else what went wrong


class Watcher(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...

    def join(self, timeout: float) -> None: ...


class _Thread:
    """A stoppable daemon thread that retries with capped exponential backoff."""

    def __init__(self, *, name: str, on_wake: Wake, on_state: Report) -> None:
        self._on_wake = on_wake
        self._on_state = on_state
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> None:
        """Start watching."""
        self._thread.start()

    def stop(self) -> None:
        """Stop watching. Returns at once: the thread ends by itself within about a second (or a connect timeout)
        and calls nobody after this, so the window that owned it may go."""
        self._stop.set()

    def join(self, timeout: float) -> None:
        """Wait for the thread to end (tests and shutdown paths that can afford to wait)."""
        if self._thread.ident is not None:
            self._thread.join(timeout=timeout)

    def _wake(self) -> None:
        if not self._stop.is_set():
            self._guarded(self._on_wake)

    def _state(self, message: str) -> None:
        if not self._stop.is_set():
            self._guarded(lambda: self._on_state(message))

    @staticmethod
    def _guarded(call: Callable[[], None]) -> None:
        try:
            call()
        except RuntimeError:  # the receiver was deleted in the meantime (a retired window): nobody to tell
            pass

    def _loop(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            try:
                self._watch()
                delay = 0.5
            except Exception as error:  # noqa: BLE001 - any failure means: report, wait, reconnect
                message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                message = self._redact(message)
                log.info("change watcher lost its connection: %s", message)
                self._state(message)
                self._stop.wait(delay)
                delay = min(delay * 2, RECONNECT_MAX_S)

    def _watch(self) -> None:
        raise NotImplementedError

    _secret = ""

    def _redact(self, message: str) -> str:
        """Never let a password reach a log line or the screen, whatever a driver puts in its messages."""
        return message.replace(self._secret, "***") if self._secret else message


class PgNotifyWatcher(_Thread):
    """LISTENs on its own autocommit connection; every notification wakes the feed."""

    def __init__(self, *, params: dict[str, object], on_wake: Wake, on_state: Report) -> None:
        super().__init__(name="icc-listen", on_wake=on_wake, on_state=on_state)
        self._params = params
        self._secret = str(params.get("password") or "")

    def _watch(self) -> None:
        import psycopg

        with psycopg.connect(**self._params, autocommit=True, connect_timeout=5, keepalives=1, keepalives_idle=5,
                             keepalives_interval=2, keepalives_count=2,
                             application_name="incident-console-listen") as conn:  # type: ignore[arg-type]
            conn.execute(f"LISTEN {CHANNEL}")
            self._state("")
            self._wake()  # whatever happened while we were not listening
            while not self._stop.is_set():
                for _ in conn.notifies(timeout=0.5):
                    self._wake()
                # A dead server is noticed here even when no notification comes.
                conn.execute("SELECT 1")


class SqliteDataVersionWatcher(_Thread):
    """Polls PRAGMA data_version, which changes whenever another connection commits to the file."""

    def __init__(self, *, path: str, on_wake: Wake, on_state: Report, interval_s: float = SQLITE_INTERVAL_S) -> None:
        super().__init__(name="icc-data-version", on_wake=on_wake, on_state=on_state)
        self._path = path
        self._interval = interval_s

    def _watch(self) -> None:
        conn = sqlite3.connect(f"file:{self._path}?mode=ro", uri=True, timeout=1, check_same_thread=False)
        try:
            version = conn.execute("PRAGMA data_version").fetchone()[0]
            self._state("")
            while not self._stop.wait(self._interval):
                current = conn.execute("PRAGMA data_version").fetchone()[0]
                if current != version:
                    version = current
                    self._wake()
        finally:
            conn.close()
