"""The local outbox: every operator action is written here before it is sent, and leaves only once applied.

A JSON-lines file beside the app's data, one per database. An action is on disk (fsync) before it is sent,
so a crash, a quit or a lost connection at any moment leaves it here to be sent again (its idempotency key
makes that harmless). Changes happen under an exclusive file lock and re-read the file first, so two console
processes of one operator can share it. A damaged line (a crash mid-write) is set aside in a `.damaged`
file once and the file rewritten without it; nothing is dropped silently.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from console.errors import InvalidInput

try:  # POSIX; elsewhere one process per outbox is assumed
    import fcntl
except ImportError:  # pragma: no cover - not on the platforms we test
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)


class EntryState(StrEnum):
    PENDING = "pending"  # to be sent (or being sent), in order
    NEEDS_DECISION = "needs_decision"  # it no longer applies as it was: the operator redoes or discards it


@dataclass(frozen=True)
class OutboxEntry:
    request: dict[str, Any]  # CommandRequest.to_json()
    created_at: str  # ISO time the operator acted
    state: EntryState = EntryState.PENDING
    reason: str = ""

    @property
    def key(self) -> str:
        return str(self.request["key"])

    @property
    def label(self) -> str:
        return str(self.request.get("label", self.request.get("command", "?")))

    @property
    def incident_id(self) -> int | None:
        value = self.request.get("incident_id")
        return int(value) if value is not None else None


def outbox_path(*, data_dir: Path, database: str) -> Path:
    """Return the outbox file for a database identity (Database.identity: no password, no spelling variants)."""
    digest = hashlib.sha256(database.encode("utf-8")).hexdigest()[:16]
    return data_dir / "outbox" / f"{digest}.jsonl"


class Outbox:
    """The outbox file; safe from several threads and several processes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        with self._locked(exclusive=True):
            self._repair()

    def entries(self) -> list[OutboxEntry]:
        """Return the kept actions, oldest first."""
        with self._locked(exclusive=False):
            return self._read()[0]

    def add(self, entry: OutboxEntry) -> None:
        """Write an action down; it is on disk when this returns."""
        with self._locked(exclusive=True):
            if any(e.key == entry.key for e in self._read()[0]):
                raise InvalidInput(f"action {entry.key} is already in the outbox")
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a+b") as file:
                file.seek(0, os.SEEK_END)
                if file.tell() and _last_byte(file) != b"\n":
                    file.write(b"\n")  # never glue a new action onto a line a crash cut short
                file.write(_line(entry).encode("utf-8"))
                file.flush()
                os.fsync(file.fileno())

    def mark(self, key: str, *, state: EntryState, reason: str = "", request: dict[str, Any] | None = None) -> None:
        """Change an entry's state (and, for a redo, its request)."""
        self._rewrite(lambda entries: [
            replace(e, state=state, reason=reason, request=request or e.request) if e.key == key else e
            for e in entries
        ])

    def remove(self, key: str) -> None:
        """Forget an entry that was applied or discarded."""
        self._rewrite(lambda entries: [e for e in entries if e.key != key])

    # --- the file --------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self, *, exclusive: bool) -> Iterator[None]:
        with self._lock:
            if fcntl is None:
                yield
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path.with_suffix(".lock"), "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
                try:
                    yield
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)

    def _rewrite(self, change: Callable[[list[OutboxEntry]], list[OutboxEntry]]) -> None:
        with self._locked(exclusive=True):
            self._write(change(self._read()[0]))

    def _write(self, entries: list[OutboxEntry]) -> None:
        # A new file renamed over the old one: a crash leaves either the old or the new file, never half.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        with open(temporary, "w", encoding="utf-8") as file:
            file.writelines(_line(e) for e in entries)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, self.path)
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def _read(self) -> tuple[list[OutboxEntry], list[str]]:
        if not self.path.exists():
            return [], []
        entries, damaged = [], []
        for text in self.path.read_text(encoding="utf-8").splitlines():
            if not text.strip():
                continue
            try:
                data = json.loads(text)
                entries.append(OutboxEntry(request=data["request"], created_at=data["created_at"],
                                           state=EntryState(data.get("state", EntryState.PENDING)),
                                           reason=data.get("reason", "")))
            except (ValueError, KeyError, TypeError):
                damaged.append(text)
        return entries, damaged

    def _repair(self) -> None:
        entries, damaged = self._read()
        if not damaged:
            return
        log.error("outbox %s had %d damaged line(s); set aside in %s", self.path, len(damaged),
                  self.path.with_suffix(".damaged"))
        with open(self.path.with_suffix(".damaged"), "a", encoding="utf-8") as aside:
            aside.writelines(line + "\n" for line in damaged)
        self._write(entries)


def _last_byte(file: Any) -> bytes:
    file.seek(-1, os.SEEK_END)
    byte = file.read(1)
    file.seek(0, os.SEEK_END)
    return byte


def _line(entry: OutboxEntry) -> str:
    data = asdict(entry)
    data["state"] = entry.state.value
    return json.dumps(data, ensure_ascii=False, sort_keys=True) + "\n"
