"""Migrations: the code's head matches the scripts, the models match the migrated schema, versions are checked."""
from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from console.db import open_database
from console.errors import SchemaMismatch
from console.schema import SchemaState, _alembic_config, ensure_usable, schema_status, upgrade
from models.schema import SCHEMA_HEAD, metadata


def test_code_head_is_the_script_head() -> None:
    assert ScriptDirectory.from_config(_alembic_config()).get_heads() == [SCHEMA_HEAD]


def test_models_and_migrations_do_not_drift(db) -> None:  # type: ignore[no-untyped-def]
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, metadata)
    assert diff == []


def test_an_empty_sqlite_file_is_upgraded_to_the_head(tmp_path) -> None:  # type: ignore[no-untyped-def]
    db = open_database(f"sqlite:///{tmp_path / 'new.db'}")
    assert schema_status(db).state is SchemaState.EMPTY
    assert ensure_usable(db, auto_upgrade=True).state is SchemaState.CURRENT
    db.dispose()


def test_without_auto_upgrade_an_empty_database_says_what_to_run(tmp_path) -> None:  # type: ignore[no-untyped-def]
    db = open_database(f"sqlite:///{tmp_path / 'new.db'}")
    with pytest.raises(SchemaMismatch, match="db upgrade"):
        ensure_usable(db, auto_upgrade=False)
    db.dispose()


def test_a_database_newer_than_the_code_is_refused(db) -> None:  # type: ignore[no-untyped-def]
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'f00dface'"))
    for call in (lambda: ensure_usable(db, auto_upgrade=True), lambda: upgrade(db)):
        with pytest.raises(SchemaMismatch, match="newer than this console"):
            call()
    assert schema_status(db).state is SchemaState.AHEAD


def test_every_watched_table_still_logs_its_changes_after_all_migrations(db, org) -> None:  # type: ignore[no-untyped-def]
    """On SQLite a migration that rebuilds a table (batch mode) drops its triggers unless it recreates them."""
    from models.migrations.triggers import INCIDENT_TABLES, ORGANISATION_TABLES

    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM change_log"))
        conn.execute(text("UPDATE services SET description = 'touched'"))
        conn.execute(text("UPDATE people SET title = 'touched'"))
        incident = conn.execute(text(
            "INSERT INTO incidents (title, severity, status, service_id, team_id, customer_impact, next_action, "
            "resolution, origin, opened_at, ack_deadline, updated_at, version) VALUES ('t', 'SEV3', 'triggered', "
            ":s, NULL, '', '', '', 'manual', :now, :now, :now, 1) RETURNING id"),
            {"s": org.identity, "now": "2026-11-27 10:00:00.000000"}).scalar()
        conn.execute(text("UPDATE incident_types SET description = 'touched'"))
        logged = {tuple(r) for r in conn.execute(text("SELECT entity, entity_id FROM change_log"))}
    assert ("incident", incident) in logged and ("organisation", 0) in logged
    if db.backend == "sqlite":
        with db.engine.connect() as conn:
            triggers = {r[0] for r in conn.execute(text("SELECT tbl_name FROM sqlite_master WHERE type='trigger'"))}
        assert triggers == set(INCIDENT_TABLES) | set(ORGANISATION_TABLES)
