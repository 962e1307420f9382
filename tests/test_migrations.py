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
    try:
        for call in (lambda: ensure_usable(db, auto_upgrade=True), lambda: upgrade(db)):
            with pytest.raises(SchemaMismatch, match="newer than this console"):
                call()
        assert schema_status(db).state is SchemaState.AHEAD
    finally:
        # The PostgreSQL schema is shared by the whole run: later tests must find it at the head again.
        with db.engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :head"), {"head": SCHEMA_HEAD})


def test_every_watched_table_still_logs_its_changes_after_all_migrations(db, org) -> None:  # type: ignore[no-untyped-def]
    """On SQLite a migration that rebuilds a table (batch mode) drops its triggers unless it recreates them."""
    from models.migrations.triggers import (
        COMMS_INCIDENT_TABLES,
        INCIDENT_TABLES,
        MITIGATION_INCIDENT_TABLES,
        MITIGATION_ORGANISATION_TABLES,
        ORGANISATION_TABLES,
    )

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
            triggers = {r[0] for r in conn.execute(text(
                "SELECT tbl_name FROM sqlite_master WHERE type='trigger' AND name LIKE 'icc_change_%'"))}
            guards = {r[0] for r in conn.execute(text(
                "SELECT tbl_name FROM sqlite_master WHERE type='trigger' AND name LIKE 'icc_append_only_%'"))}
        assert triggers == set(INCIDENT_TABLES) | set(ORGANISATION_TABLES) | set(COMMS_INCIDENT_TABLES) | {
            "message_templates"} | set(MITIGATION_INCIDENT_TABLES) | set(MITIGATION_ORGANISATION_TABLES)
        assert guards == {"audit_entries", "mitigation_decisions"}


def _rotation_made_before_layers(tmp_path, *, anchor: str, extra: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    """A database at 0003 with Ann and Ben on a daily London rotation anchored at `anchor` (UTC), upgraded."""
    from alembic import command

    db = open_database(f"sqlite:///{tmp_path / 'old.db'}")
    config = _alembic_config()
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0003")
        for statement in (
            "INSERT INTO people (id, handle, name, email, title, timezone, active) VALUES "
            "(1, 'ann', 'Ann', 'a@x', '', 'UTC', 1), (2, 'ben', 'Ben', 'b@x', '', 'UTC', 1)",
            f"INSERT INTO rotations (id, name, team_id, anchor, shift_hours, timezone) VALUES "
            f"(1, 'old', NULL, '{anchor}', 24, 'Europe/London')",
            "INSERT INTO rotation_members (rotation_id, position, person_id) VALUES (1, 0, 1), (1, 1, 2)",
            *extra,
        ):
            conn.execute(text(statement))
    upgrade(db)
    return db


def test_0004_turns_each_rotation_into_a_layer_that_hands_off_at_the_anchors_local_time(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A database made before layers keeps its on-call answers, now with handoffs in the rotation's own zone."""
    from datetime import datetime, timezone

    from console.oncall import on_call_for_rotation
    from models.policy import Rotation

    # Daily turns from 08:00 London time on a winter day (08:00 UTC), before the change to summer time.
    db = _rotation_made_before_layers(tmp_path, anchor="2026-03-20 08:00:00.000000", extra=(
        "INSERT INTO signals (source, dedup_key, kind, service_id, summary, value, observed_at, incident_id) "
        "VALUES ('x', 'k', 'alert', NULL, 's', NULL, '2026-03-20 08:00:00.000000', NULL)",))
    with db.reader() as s:
        rotation = s.get_one(Rotation, 1)
        layer = rotation.layers[0]
        assert (layer.handoff, layer.timezone, layer.shift_minutes, [m.person_id for m in layer.members]) == (
            "08:00", "Europe/London", 24 * 60, [1, 2])
        # After the clocks go forward (29 March) the handoff stays at 08:00 local, which is 07:00 UTC.
        on_call = on_call_for_rotation(s, rotation=rotation, at=datetime(2026, 3, 30, 7, 30, tzinfo=timezone.utc))
        assert on_call is not None and on_call.since == datetime(2026, 3, 30, 7, 0, tzinfo=timezone.utc)
        assert s.execute(text("SELECT routed_at IS NOT NULL FROM signals")).scalar() == 1  # old rows count as routed
    db.dispose()


def test_0004_keeps_a_rotation_anchored_in_the_repeated_autumn_hour_on_call(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """01:30 UTC on 25 Oct 2026 is the second 01:30 in London: no handoff can name it, so the layer starts one turn
    later with the next member first, and the rotation still has someone on call, in the same order."""
    from datetime import datetime, timezone

    from console.oncall import on_call_for_rotation
    from models.policy import Rotation

    db = _rotation_made_before_layers(tmp_path, anchor="2026-10-25 01:30:00.000000")
    with db.reader() as s:
        rotation = s.get_one(Rotation, 1)
        # Old rule: (t - anchor) // 24 h; 2 Nov 12:00 UTC is day 8 from the anchor: Ann (8 is even).
        found = on_call_for_rotation(s, rotation=rotation, at=datetime(2026, 11, 2, 12, 0, tzinfo=timezone.utc))
    db.dispose()
    assert found is not None and found.person_id == 1


def test_upgrading_a_sqlite_file_with_data_loses_no_row_that_refers_to_a_rebuilt_table(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Batch mode drops and recreates tables (incidents in 0003, rotations in 0004); rows that point at them
    with ON DELETE CASCADE (timeline events, overrides) must survive it."""
    from alembic import command

    db = open_database(f"sqlite:///{tmp_path / 'old.db'}")
    config = _alembic_config()
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0002")
        now = "'2026-11-27 10:00:00.000000'"
        for statement in (
            "INSERT INTO people (id, handle, name, email, title, timezone, active) VALUES (1, 'ann', 'Ann', 'a@x', "
            "'', 'UTC', 1)",
            "INSERT INTO teams (id, name, description, lead_id) VALUES (1, 'T', '', 1)",
            "INSERT INTO services (id, name, description, tier, family, team_id) VALUES (1, 's', '', 'core', "
            "'payments', 1)",
            f"INSERT INTO incidents (id, title, severity, status, service_id, team_id, customer_impact, next_action, "
            f"resolution, origin, opened_at, ack_deadline, updated_at, version) VALUES (1, 't', 'SEV2', 'triggered', "
            f"1, 1, '', '', '', 'manual', {now}, {now}, {now}, 1)",
            f"INSERT INTO timeline_events (incident_id, at, kind, actor_id, text) VALUES (1, {now}, 'note', 1, 'kept')",
            f"INSERT INTO rotations (id, name, team_id, anchor, shift_hours, timezone) VALUES (1, 'r', 1, {now}, 24, "
            f"'UTC')",
            "INSERT INTO rotation_members (rotation_id, position, person_id) VALUES (1, 0, 1)",
            f"INSERT INTO overrides (rotation_id, person_id, starts_at, ends_at, reason) VALUES (1, 1, {now}, {now}, "
            f"'swap')",
        ):
            conn.execute(text(statement))
    upgrade(db)
    with db.engine.connect() as conn:
        counts = [conn.execute(text(f"SELECT count(*) FROM {t}")).scalar()
                  for t in ("timeline_events", "overrides", "rotation_layer_members")]
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1  # back on for the connection's next user
    assert counts == [1, 1, 1]
    db.dispose()
