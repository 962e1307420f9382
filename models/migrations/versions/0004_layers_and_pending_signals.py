"""rotation layers; signals that wait for routing; pages that inform without waking

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

Rotations become schedules of layers, each handing off at a local wall-clock time in its own zone (0001 kept
one anchor, a shift length and a zone that handoffs ignored). Each existing rotation becomes one layer that
hands off at its anchor's local time, with the same members in the same order.

Signals gain the sender's severity word, descriptive attributes, and `routed_at`: a row written straight into
the table by any client has none and is routed by the next console or ingest server that looks. Existing rows
were routed when they were written.
"""
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

import models.base
from models.migrations.triggers import postgresql_organisation_trigger, sqlite_triggers

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

NEW_ORGANISATION_TABLES = ("rotation_layers", "rotation_layer_members")
# Batch mode rebuilds these on SQLite, dropping their change-log triggers: they are recreated below.
REBUILT = ("rotations", "signals", "incidents")


def upgrade() -> None:
    op.create_table(
        "rotation_layers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rotation_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("starts_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("shift_minutes", sa.Integer(), nullable=False),
        sa.Column("handoff", sa.String(length=5), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("restrict_opens", sa.String(length=5), nullable=True),
        sa.Column("restrict_closes", sa.String(length=5), nullable=True),
        sa.Column("restrict_weekdays", sa.String(length=7), nullable=True),
        sa.ForeignKeyConstraint(["rotation_id"], ["rotations.id"], name=op.f("fk_rotation_layers_rotation_id_rotations"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rotation_layers")),
    )
    with op.batch_alter_table("rotation_layers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rotation_layers_rotation_id"), ["rotation_id"], unique=False)
    op.create_table(
        "rotation_layer_members",
        sa.Column("layer_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["layer_id"], ["rotation_layers.id"],
                                name=op.f("fk_rotation_layer_members_layer_id_rotation_layers"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], name=op.f("fk_rotation_layer_members_person_id_people")),
        sa.PrimaryKeyConstraint("layer_id", "position", name=op.f("pk_rotation_layer_members")),
    )
    _copy_rotations_into_layers()
    op.drop_table("rotation_members")
    with op.batch_alter_table("rotations", schema=None) as batch_op:
        batch_op.drop_column("anchor")
        batch_op.drop_column("shift_hours")
        batch_op.drop_column("timezone")
        batch_op.add_column(sa.Column("roster_role", sa.Enum("responder", "incident_commander", "support_lead",
                                                             "leader", "trainer", "customer_success",
                                                             name="personrole", native_enum=False, length=32),
                                      nullable=True))

    with op.batch_alter_table("incidents", schema=None) as batch_op:
        # A PagerDuty dedup key may be 255 characters; with its source, a fingerprint up to 320.
        batch_op.alter_column("fingerprint", existing_type=sa.String(length=200), type_=sa.String(length=320),
                              existing_nullable=True)
    with op.batch_alter_table("signals", schema=None) as batch_op:
        batch_op.alter_column("dedup_key", existing_type=sa.String(length=200), type_=sa.String(length=255),
                              existing_nullable=False)
        batch_op.add_column(sa.Column("severity_hint", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("attributes", sa.Text(), nullable=False, server_default="{}"))
        batch_op.add_column(sa.Column("routed_at", models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_signals_routed_at"), ["routed_at"], unique=False)
        # Routing looks up the newest signal of an alert (source, dedup key) on every repeat.
        batch_op.drop_index("ix_signals_dedup")
        batch_op.create_index("ix_signals_dedup", ["source", "dedup_key", "id"], unique=False)
    op.execute("UPDATE signals SET routed_at = observed_at")
    with op.batch_alter_table("pages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("urgent", sa.Boolean(), nullable=False, server_default=sa.true()))

    if op.get_bind().dialect.name == "postgresql":
        for table in NEW_ORGANISATION_TABLES:
            op.execute(postgresql_organisation_trigger(table))
    else:
        op.execute("DROP TRIGGER IF EXISTS icc_change_rotation_members_insert")
        op.execute("DROP TRIGGER IF EXISTS icc_change_rotation_members_update")
        op.execute("DROP TRIGGER IF EXISTS icc_change_rotation_members_delete")
        for table in (*REBUILT, *NEW_ORGANISATION_TABLES):
            for verb in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS icc_change_{table}_{verb}")
            for statement in sqlite_triggers(table):
                op.execute(statement)


def _copy_rotations_into_layers() -> None:
    """Turn each rotation's anchor, shift and members into its first layer, handing off at the anchor's local time."""
    bind = op.get_bind()
    utc = models.base.UTCDateTime(timezone=True)
    rotations = bind.execute(sa.text("SELECT id, anchor, shift_hours, timezone FROM rotations ORDER BY id")).all()
    for rotation_id, anchor, shift_hours, zone_name in rotations:
        start = _parse(anchor)
        try:
            zone = ZoneInfo(zone_name or "UTC")
        except (KeyError, ValueError):
            zone, zone_name = ZoneInfo("UTC"), "UTC"
        # Handoffs are whole minutes: a stray second in an old anchor must not make the layer invalid.
        start = start.replace(second=0, microsecond=0)
        members = [r[0] for r in bind.execute(sa.text("SELECT person_id FROM rotation_members WHERE rotation_id = :r "
                                                      "ORDER BY position"), {"r": rotation_id})]
        # A local time names its first occurrence: an anchor in the repeated hour of a fall-back night cannot be
        # a handoff. Start one turn later instead, with the next member first, so everyone keeps their turns.
        for _ in range(len(members) + 1):
            local = start.astimezone(zone)
            if local.replace(tzinfo=None).replace(tzinfo=zone, fold=0).astimezone(timezone.utc) == start:
                break
            start += timedelta(hours=shift_hours)
            members = members[1:] + members[:1]
        layer_id = bind.execute(
            sa.text("INSERT INTO rotation_layers (rotation_id, position, name, starts_at, shift_minutes, handoff, "
                    "timezone) VALUES (:r, 0, 'base', :s, :m, :h, :z) RETURNING id"),
            {"r": rotation_id, "s": utc.process_bind_param(start, bind.dialect), "m": shift_hours * 60,
             "h": f"{local:%H:%M}", "z": zone_name},
        ).scalar()
        for position, person_id in enumerate(members):
            bind.execute(sa.text("INSERT INTO rotation_layer_members (layer_id, position, person_id) "
                                 "VALUES (:l, :p, :person)"), {"l": layer_id, "p": position, "person": person_id})


def _parse(value: str | datetime) -> datetime:
    """Return a stored timestamp as an aware UTC datetime: SQLite hands back naive UTC text."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def downgrade() -> None:
    raise NotImplementedError("0004 folds rotations into layers; restore a backup to go back before it")
