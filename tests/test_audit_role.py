"""The deployment role of docs/AUDIT.md, for real: a throwaway PostgreSQL role gets `audit role-sql`'s grants,
a console connected as it runs audited commands, and it cannot rewrite the trail by any way round the triggers."""
from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import exc, text

from console import commands
from console.audit import verify_chain
from console.audit_role import role_sql
from console.db import open_database
from console.uow import UnitOfWork
from tests.conftest import PG_URL, _pg_schema_url, _truncate_all

pytestmark = pytest.mark.postgres


@pytest.fixture
def db(pg_schema: str):  # type: ignore[no-untyped-def]
    """PostgreSQL only, as the owner of the tables (conftest's `db` is on both backends; this test is about roles)."""
    _truncate_all(_pg_schema_url(pg_schema))
    owner = open_database(_pg_schema_url(pg_schema))
    yield owner
    owner.dispose()


@pytest.fixture
def as_role(db, pg_schema: str) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A throwaway role with only the console's rights on the test schema (its URL); dropped afterwards."""
    role = f"icc_console_{uuid.uuid4().hex[:8]}"
    with db.engine.begin() as conn:
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE'))
        conn.exec_driver_sql(role_sql(role=role, schema=pg_schema))
    try:
        yield PG_URL.replace("//postgres@", f"//{role}@") + f"?options=-csearch_path%3D{pg_schema}"
    finally:
        with db.engine.begin() as conn:
            conn.execute(text(f'DROP OWNED BY "{role}"'))  # revokes its grants in this database
            conn.execute(text(f'DROP ROLE "{role}"'))


def test_a_console_as_the_role_runs_audited_commands_and_cannot_rewrite_the_trail(as_role, org, clock) -> None:  # type: ignore[no-untyped-def]
    console = open_database(as_role)
    uow = UnitOfWork(console, clock)
    incident = commands.open_incident(uow, actor_id=org.alice, title="Login failures", severity="SEV2",
                                      service_id=org.identity).created_incident
    commands.add_note(uow, actor_id=org.bob, incident_id=incident, text="as the console role")
    commands.acknowledge(uow, actor_id=org.bob, incident_id=incident)
    with console.reader() as s:
        verdict = verify_chain(s)
        assert verdict.intact and verdict.checked >= 3
        assert s.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar() is False

    refused = ["UPDATE audit_entries SET actor = 'mallory' WHERE id = 1", "DELETE FROM audit_entries WHERE id = 1",
               "TRUNCATE audit_entries", "ALTER TABLE audit_entries DISABLE TRIGGER icc_append_only",
               "DROP TRIGGER icc_append_only ON audit_entries", "SET session_replication_role = replica",
               "UPDATE mitigation_decisions SET reason = 'x'", "UPDATE alembic_version SET version_num = '0001'"]
    for statement in refused:
        with pytest.raises(exc.DBAPIError) as caught, console.engine.begin() as conn:
            conn.execute(text(statement))
        assert caught.value.orig.sqlstate == "42501", (statement, caught.value.orig)  # type: ignore[union-attr]
    with console.reader() as s:
        assert verify_chain(s).checked == verdict.checked
    console.dispose()
