"""Audit exports for compliance reviews: every field of every entry, hashes included, as JSON lines or CSV, and
the offline check of such a file (each entry's hash recomputes from its own fields; entries that follow one
another in the file link up).

A field is exported exactly as it was hashed: `at` in the hashed form (UTC, ISO 8601 with microseconds),
`before` and `after` as the canonical JSON text (signed mitigation decisions carry "signed", "signature" and
"public_key" inside `after`), so an auditor can recompute every hash with a few lines of any language.
"""
from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from console.audit_chain import GENESIS_HASH, at_text, entry_content
from console.audit_dto import AuditRow
from console.errors import InvalidInput

FIELDS = ("id", "at", "actor_id", "actor", "action", "subject_type", "subject_id", "before", "after", "prev_hash",
          "hash")


def export_record(row: AuditRow) -> dict[str, Any]:
    """Return an entry as exported: every field, the time in its hashed form."""
    return {"id": row.id, "at": at_text(row.at), "actor_id": row.actor_id, "actor": row.actor, "action": row.action,
            "subject_type": row.subject_type, "subject_id": row.subject_id, "before": row.before, "after": row.after,
            "prev_hash": row.prev_hash, "hash": row.hash}


def write_export(rows: Iterable[AuditRow], *, fmt: str, out: TextIO) -> int:
    """Write entries as JSON lines or CSV and return how many were written."""
    count = 0
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(export_record(row))
            count += 1
        return count
    for row in rows:
        out.write(json.dumps(export_record(row), ensure_ascii=False) + "\n")
        count += 1
    return count


def read_export(lines: Iterable[str], *, fmt: str) -> Iterator[dict[str, Any]]:
    """Yield the records of an export; a line that is not a record is refused with its number."""
    if fmt == "csv":
        reader = csv.DictReader(lines)
        if reader.fieldnames is None or tuple(reader.fieldnames) != FIELDS:
            raise InvalidInput(f"not an audit export: the CSV header must be {','.join(FIELDS)}")
        for record in reader:
            yield {**record, "id": _int(record["id"], reader.line_num, "id"),
                   "actor_id": _int(record["actor_id"], reader.line_num, "actor_id") if record["actor_id"] else None}
        return
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as error:
            raise InvalidInput(f"line {number}: not JSON ({error})") from None
        if not isinstance(record, dict) or set(record) != set(FIELDS):
            raise InvalidInput(f"line {number}: not an audit entry (expected the fields {', '.join(FIELDS)})")
        yield record


def _int(value: str, line: int, name: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InvalidInput(f"line {line}: {name} {value!r} is not a number") from None


@dataclass(frozen=True)
class ExportVerdict:
    intact: bool
    entries: int
    links: int  # consecutive entries whose link was checked
    gaps: int  # places where entries are not in the file (a filtered export)
    first_id: int | None = None
    last_id: int | None = None
    bad_id: int | None = None
    reason: str = ""


def verify_export(records: Iterable[dict[str, Any]]) -> ExportVerdict:
    """Recompute each record's hash and check each link the file can show; a gap in ids is a gap, not a break.

    Two records link when the later one's prev_hash is the earlier one's hash. Records with consecutive ids must
    link; records further apart may (PostgreSQL skips ids a rolled-back transaction took) or may not (the export
    was filtered), and only the second counts as a gap.
    """
    entries = links = gaps = 0
    first_id = prev_id = None
    prev_hash = ""
    for record in records:
        ident = record["id"]
        try:
            content = entry_content(record["at"], record["actor_id"], record["actor"], record["action"],
                                    record["subject_type"], record["subject_id"], record["before"], record["after"])
            ok = hashlib.sha256((record["prev_hash"] + content).encode()).hexdigest() == record["hash"]
        except (TypeError, ValueError, UnicodeEncodeError):
            ok = False
        if not ok:
            return ExportVerdict(False, entries, links, gaps, first_id, prev_id, ident,
                                 f"entry #{ident} does not match its hash: a field was changed")
        if prev_id is None:
            if ident == 1 and record["prev_hash"] != GENESIS_HASH:
                return ExportVerdict(False, entries, links, gaps, first_id, prev_id, ident,
                                     "entry #1 does not start the chain")
            first_id = ident
        elif ident <= prev_id:
            return ExportVerdict(False, entries, links, gaps, first_id, prev_id, ident,
                                 f"entry #{ident} comes after #{prev_id}: the file is out of order")
        elif record["prev_hash"] == prev_hash:
            links += 1
        elif ident == prev_id + 1:
            return ExportVerdict(False, entries, links, gaps, first_id, prev_id, ident,
                                 f"entry #{ident} does not follow #{prev_id}: an entry between them was removed, or "
                                 f"one of them replaced")
        else:
            gaps += 1
        entries, prev_id, prev_hash = entries + 1, ident, record["hash"]
    return ExportVerdict(True, entries, links, gaps, first_id, prev_id)
