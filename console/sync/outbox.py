"""The local outbox: actions the operator took while the shared database could not take them.

A JSON-lines file beside the app's data (one file per database). Every change is on disk (fsync) before
the operator is told the action is kept, so it survives a crash or a restart of the console; entries leave
the file only once applied (or discarded by the operator). A damaged line is set aside, never dropped silently.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from console.errors import InvalidInput

log = logging.getLogger(__name__)


class EntryState(StrEnum):
    PENDING = "pending"  # waiting for the database
    NEEDS_DECISION = "needs_decision"  # the incident changed meanwhile: the operator redoes or discards it


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


def outbox_path(*, data_dir: Path, database: str) -> Path:
    """Return the outbox file for a database (its display URL, no password), so kept actions go back where they came from."""
    digest = hashlib.sha256(database.encode("utf-8")).hexdigest()[:16]
    return data_dir / "outbox" / f"{digest}.jsonl"


class Outbox:
    """The outbox file; safe to use from several threads of one process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._entries: list[OutboxEntry] = self._read()

    def entries(self) -> list[OutboxEntry]:
        """Return the kept actions, oldest first."""
        with self._lock:
            return list(self._entries)

    def add(self, entry: OutboxEntry) -> None:
        """Keep an action; it is on disk when this returns."""
        with self._lock:
            if any(e.key == entry.key for e in self._entries):
                raise InvalidInput(f"action {entry.key} is already in the outbox")
            self._entries.append(entry)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as file:
                file.write(_line(entry))
                file.flush()
                os.fsync(file.fileno())

    def mark(self, key: str, *, state: EntryState, reason: str = "", request: dict[str, Any] | None = None) -> None:
        """Change an entry's state (and, for a redo, its request)."""
        with self._lock:
            self._entries = [
                replace(e, state=state, reason=reason, request=request or e.request) if e.key == key else e
                for e in self._entries
            ]
            self._rewrite()

    def remove(self, key: str) -> None:
        """Forget an entry that was applied or discarded."""
        with self._lock:
            self._entries = [e for e in self._entries if e.key != key]
            self._rewrite()

    def _rewrite(self) -> None:
        # Write a new file and rename it over the old one: a crash leaves either the old or the new file.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        with open(temporary, "w", encoding="utf-8") as file:
            file.writelines(_line(e) for e in self._entries)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, self.path)
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def _read(self) -> list[OutboxEntry]:
        if not self.path.exists():
            return []
        entries, damaged = [], []
        for number, text in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
            if not text.strip():
                continue
            try:
                data = json.loads(text)
                entries.append(OutboxEntry(request=data["request"], created_at=data["created_at"],
                                           state=EntryState(data.get("state", EntryState.PENDING)),
                                           reason=data.get("reason", "")))
            except (ValueError, KeyError, TypeError) as error:
                damaged.append(text)
                log.error("outbox %s line %d is damaged (%s); kept aside", self.path, number, error)
        if damaged:
            aside = self.path.with_suffix(".damaged")
            with open(aside, "a", encoding="utf-8") as file:
                file.writelines(line + "\n" for line in damaged)
        return entries


def _line(entry: OutboxEntry) -> str:
    data = asdict(entry)
    data["state"] = entry.state.value
    return json.dumps(data, ensure_ascii=False, sort_keys=True) + "\n"
