"""What an attacker with administrator rights can do to the audit table, for the tests that verification catches it.

Migration 0006 makes audit_entries append-only by triggers; an administrator goes around them: on PostgreSQL as
superuser with `session_replication_role = replica` (triggers do not fire), on SQLite by dropping them.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import text

from console import commands
from console.audit import entry_hash

FIELDS = ("at", "actor_id", "actor", "action", "subject_type", "subject_id", "before", "after", "prev_hash", "hash")


def tamper(db, *statements: str, params: list[dict[str, Any]] | None = None) -> None:  # type: ignore[no-untyped-def]
    """Run raw SQL on audit_entries the way an administrator can: around the append-only triggers."""
    with db.engine.begin() as conn:
        if db.backend == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            for verb in ("update", "delete"):
                conn.execute(text(f"DROP TRIGGER IF EXISTS icc_append_only_audit_entries_{verb}"))
        for n, statement in enumerate(statements):
            conn.execute(text(statement), (params or [{}] * len(statements))[n])


def row(db, ident: int) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """One entry's stored fields, read the way the ORM reads them."""
    from models.audit import AuditEntry

    with db.reader() as s:
        entry = s.get_one(AuditEntry, ident)
        return {name: getattr(entry, name) for name in FIELDS}


def rehash(fields: dict[str, Any]) -> str:
    return entry_hash(prev_hash=fields["prev_hash"], at=fields["at"], actor_id=fields["actor_id"],
                      actor=fields["actor"], action=fields["action"], subject_type=fields["subject_type"],
                      subject_id=fields["subject_id"], before=fields["before"], after=fields["after"])


def shift_ids_after(db, ident: int) -> None:  # type: ignore[no-untyped-def]
    """Make room for an entry right after `ident`: every later entry's id goes up by one."""
    tamper(db, f"UPDATE audit_entries SET id = id + 1000000 WHERE id > {ident}",
           f"UPDATE audit_entries SET id = id - 999999 WHERE id > 1000000")


def insert(db, ident: int, fields: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    """Insert an entry with an id of our choosing, through the ORM's types (so the time is stored as it would be)."""
    from models.audit import AuditEntry

    with db.writer() as s:
        s.add(AuditEntry(id=ident, **fields))
        s.commit()


def swap(db, a: int, b: int) -> None:  # type: ignore[no-untyped-def]
    """Swap every stored field of two entries, leaving their ids where they were."""
    first, second = row(db, a), row(db, b)
    columns = ", ".join(f'"{name}" = :{name}' for name in FIELDS)
    # The unique hash and prev_hash must not collide half-way: park one row on placeholders first.
    park = {**first, "prev_hash": "p" * 64, "hash": "h" * 64}
    statement = f"UPDATE audit_entries SET {columns} WHERE id = :id"
    tamper(db, statement, statement, statement,
           params=[_bind(db, {**park, "id": a}), _bind(db, {**first, "id": b}), _bind(db, {**second, "id": a})])


def _bind(db, fields: dict[str, Any]) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Values for raw SQL: the time in the form each backend stores it (SQLite: naive UTC text)."""
    values = dict(fields)
    if db.backend == "sqlite":
        values["at"] = fields["at"].strftime("%Y-%m-%d %H:%M:%S.%f")
    return values


def audited_commands(uow, org, *, notes: int) -> int:  # type: ignore[no-untyped-def]
    """Open an incident and add notes to it through the real commands; return the incident id."""
    incident = commands.open_incident(uow, actor_id=org.alice, title="Login failures “EU”", severity="SEV3",
                                      service_id=org.identity).created_incident
    for n in range(notes):
        commands.add_note(uow, actor_id=org.bob if n % 2 else org.carol, incident_id=incident,
                          text=f'note {n}: "quoted"\nsecond line ✓')
    return incident  # type: ignore[return-value]


def entry_count(db) -> int:  # type: ignore[no-untyped-def]
    with db.reader() as s:
        return s.execute(text("SELECT count(*) FROM audit_entries")).scalar_one()
