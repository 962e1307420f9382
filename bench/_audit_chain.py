"""A long, valid audit chain written straight into a database, for bench/audit.py: realistic entries, computed
here with the console's own hash definition and written in bulk (sqlite3 executemany, PostgreSQL COPY)."""
from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

from console.audit import GENESIS_HASH, at_text, canonical_json, entry_content
from console.db import Database

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
NOTES = ("Checked dashboards; 5xx falling", "Rolled back 4.12.1 on eu-west", "Customer says checkout hangs at “Pay”",
         "Paging the payments on-call again", 'Error: "signature validation failed"\nsince 09:14 UTC')


def entries(n: int, *, people: list[tuple[int | None, str]], rng: random.Random, prev: str = GENESIS_HASH,
            start: datetime = T0) -> Iterator[tuple]:  # type: ignore[type-arg]
    """Yield n chained rows (at, actor_id, actor, action, subject_type, subject_id, before, after, prev, hash)."""
    at = start
    for i in range(n):
        at += timedelta(microseconds=rng.randrange(1, 2_000_000))
        actor_id, actor = people[i % len(people)] if i % 7 else (None, "system")
        incident = str(1 + i // 40)
        roll = i % 5
        if roll == 0:
            action, before, after = "incident.note", {}, {"note": NOTES[i % len(NOTES)]}
        elif roll == 1:
            action, before, after = ("incident.acknowledge", {"owner_id": None, "status": "triggered"},
                                     {"owner_id": actor_id, "status": "acknowledged"})
        elif roll == 2:
            action, before, after = ("incident.page", {}, {"person_id": actor_id, "urgent": True,
                                                           "why": "on call for identity — SEV1 pages the owner"})
        elif roll == 3:
            action, before, after = "incident.next_action", {"next_action": ""}, {"next_action": f"Step {i}"}
        else:
            action, before, after = ("incident.change_status", {"status": "acknowledged"}, {"status": "mitigating"})
        before_text, after_text = canonical_json(before), canonical_json(after)
        content = entry_content(at_text(at), actor_id, actor, action, "incident", incident, before_text, after_text)
        digest = hashlib.sha256((prev + content).encode()).hexdigest()
        yield at, actor_id, actor, action, "incident", incident, before_text, after_text, prev, digest
        prev = digest


COLUMNS = ("at", "actor_id", "actor", "action", "subject_type", "subject_id", "before", "after", "prev_hash", "hash")


def write_chain(db: Database, n: int, *, people: list[tuple[int | None, str]], prev: str = GENESIS_HASH,
                start: datetime = T0, seed: int = 1) -> None:
    """Write n entries chained onto `prev` (the head, or the genesis hash for an empty table) in one transaction."""
    rows = entries(n, people=people, rng=random.Random(seed), prev=prev, start=start)
    raw = db.engine.raw_connection()
    try:
        if db.backend == "sqlite":
            # The text form SQLAlchemy's SQLite DateTime stores (naive UTC, always with microseconds).
            cursor = raw.cursor()
            # The unique indexes on random hashes want far more cache than the default 2 MB.
            cursor.execute("PRAGMA cache_size = -500000")
            cursor.execute("BEGIN IMMEDIATE")
            cursor.executemany(
                f"INSERT INTO audit_entries ({', '.join(f'{c!r}' if c in ('before', 'after') else c for c in COLUMNS)})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                ((at.strftime("%Y-%m-%d %H:%M:%S.%f"), *rest) for at, *rest in rows))
            cursor.execute("COMMIT")
        else:
            cursor = raw.cursor()
            cursor.execute("SET LOCAL statement_timeout = 0")  # the console's 15 s is for commands, not a bulk load
            columns = ", ".join(f'"{c}"' for c in COLUMNS)
            with cursor.copy(f"COPY audit_entries ({columns}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in rows:
                    copy.write_row(row)
            raw.commit()
            cursor.execute("ANALYZE audit_entries")  # autovacuum would, soon after; plans depend on it
            raw.commit()
    finally:
        raw.close()
