"""communications: versioned templates, messages, the delivery outbox, per-channel pacing

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

Messages and deliveries belong to an incident: their changes go to the change log as changes of that incident,
so every console sees a delivery settle. A template change is an organisation change (every console reloads
its templates). Channel pacing changes many times a second under load and concerns no screen: no trigger.
"""
import sqlalchemy as sa
from alembic import op

import models.base
from models.migrations.triggers import (
    COMMS_INCIDENT_TABLES,
    postgresql_incident_trigger,
    postgresql_organisation_trigger,
    sqlite_triggers,
)

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_UTC = models.base.UTCDateTime(timezone=True)
_KINDS = sa.Enum("slack", "teams", "webhook", "statuspage", "email", name="channelkind", native_enum=False, length=32)
_STATES = sa.Enum("queued", "sending", "delivered", "failed", name="deliverystate", native_enum=False, length=32)


def upgrade() -> None:
    op.create_table(
        "message_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("audience", sa.String(length=16), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["people.id"], name=op.f("fk_message_templates_created_by_people")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_templates")),
        sa.UniqueConstraint("name", "version", name=op.f("uq_message_templates_name")),
    )
    op.create_table(
        "messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("template", sa.String(length=64), nullable=False),
        sa.Column("template_version", sa.Integer(), nullable=True),
        sa.Column("audience", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("edited", sa.Boolean(), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("sandbox", sa.Boolean(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("counts", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], name=op.f("fk_messages_incident_id_incidents"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["created_by"], ["people.id"], name=op.f("fk_messages_created_by_people")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
        sa.UniqueConstraint("key", name=op.f("uq_messages_key")),
    )
    op.create_index("ix_messages_cadence", "messages", ["incident_id", "audience", "counts", "created_at"])
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("kind", _KINDS, nullable=False),
        sa.Column("state", _STATES, nullable=False),
        sa.Column("sandbox", sa.Boolean(), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _UTC, nullable=False),
        sa.Column("give_up_at", _UTC, nullable=False),
        sa.Column("lease_until", _UTC, nullable=True),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("interrupted", sa.Integer(), nullable=False),
        sa.Column("last_attempt_at", _UTC, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("delivered_at", _UTC, nullable=True),
        sa.Column("provider_ref", sa.String(length=128), nullable=True),
        sa.Column("dismissed_at", _UTC, nullable=True),
        sa.Column("dismissed_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], name=op.f("fk_deliveries_message_id_messages"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], name=op.f("fk_deliveries_incident_id_incidents"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["dismissed_by"], ["people.id"], name=op.f("fk_deliveries_dismissed_by_people")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
        sa.UniqueConstraint("key", name=op.f("uq_deliveries_key")),
    )
    op.create_index("ix_deliveries_due", "deliveries", ["state", "channel", "next_attempt_at"])
    op.create_index("ix_deliveries_incident", "deliveries", ["incident_id"])
    op.create_index("ix_deliveries_message", "deliveries", ["message_id"])
    op.create_table(
        "channel_slots",
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("next_send_at", _UTC, nullable=False),
        sa.PrimaryKeyConstraint("channel", name=op.f("pk_channel_slots")),
    )
    if op.get_bind().dialect.name == "postgresql":
        for table, column in COMMS_INCIDENT_TABLES.items():
            op.execute(postgresql_incident_trigger(table, column))
        op.execute(postgresql_organisation_trigger("message_templates"))
    else:
        for table in (*COMMS_INCIDENT_TABLES, "message_templates"):
            for statement in sqlite_triggers(table):
                op.execute(statement)


def downgrade() -> None:
    for table in ("channel_slots", "deliveries", "messages", "message_templates"):
        op.drop_table(table)
