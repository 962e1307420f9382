"""What the window and the command line get from the audit trail: frozen values, standard library only.

`before` and `after` stay the canonical JSON text that was hashed; `field_changes` turns them into a per-field
diff for people to read.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

PAGE_SIZE = 500


@dataclass(frozen=True)
class AuditFilter:
    """Which entries to show or export; every field left empty matches everything."""

    incident_id: int | None = None
    actor: str | None = None  # the handle recorded on the entry ("system" for automation)
    action: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive


@dataclass(frozen=True)
class AuditRow:
    """One stored entry, every field as hashed."""

    id: int
    at: datetime
    actor_id: int | None
    actor: str
    action: str
    subject_type: str
    subject_id: str
    before: str
    after: str
    prev_hash: str
    hash: str

    @property
    def subject(self) -> str:
        return f"INC-{self.subject_id}" if self.subject_type == "incident" else f"{self.subject_type} {self.subject_id}"

    @property
    def summary(self) -> str:
        """One line saying what changed, for the list: the changed fields and their new values."""
        parts = [f"{change.name}: {change.after}" if change.after else f"{change.name} cleared"
                 for change in field_changes(before=self.before, after=self.after) if change.changed]
        return "; ".join(parts)


@dataclass(frozen=True)
class AuditPage:
    """Entries newest first, and whether older ones match too (read them with `before_id` = the last id)."""

    rows: tuple[AuditRow, ...]
    more: bool


@dataclass(frozen=True)
class AuditChoices:
    """What the filters offer: everyone who appears in the trail, and every action recorded."""

    actors: tuple[str, ...]
    actions: tuple[str, ...]


@dataclass(frozen=True)
class FieldChange:
    name: str
    before: str  # "" when the field was not there
    after: str
    changed: bool


def field_changes(*, before: str, after: str) -> tuple[FieldChange, ...]:
    """Return a per-field diff of two canonical JSON objects (a value that is not an object is one field)."""
    old, new = _fields(before), _fields(after)
    names = list(old) + [name for name in new if name not in old]
    return tuple(FieldChange(name, _show(old[name]) if name in old else "", _show(new[name]) if name in new else "",
                             old.get(name, _MISSING) != new.get(name, _MISSING)) for name in names)


_MISSING = object()


def _fields(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {"(text)": text}  # not JSON: show it as it is stored
    return value if isinstance(value, dict) else {"(value)": value}


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return "—"
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


@dataclass(frozen=True)
class ChainCheck:
    """A background check of the whole chain, as the status bar shows it."""

    intact: bool
    entries: int
    checked_at: datetime
    first_bad_id: int | None = None
    kind: str = ""
    reason: str = ""
    head: str = ""  # ID:HASH of the newest entry, to pass to the next check
    root: str = ""  # the oldest entry's hash: tells this chain from another database's (a re-created file)

    @property
    def name(self) -> str:
        """What a remembered head is kept under: the start of the oldest entry's hash."""
        return self.root[:16]
