"""Change feed written by triggers; one NOTIFY per transaction; applied-action keys.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

Triggers, not application code, write the change log, so that a change made by any client (another console,
a script, a psql session) reaches every console. Sequence numbers are handed out when a row is written, not
when it commits, so a smaller number can commit after a larger one; readers keep such gaps and look again
(ui/feed.py). No lock is taken here: a psql session left open must not stall every console's writes.
A statement trigger on the change log sends an empty NOTIFY; PostgreSQL folds identical notifications of one
transaction into one.
"""
import sqlalchemy as sa
from alembic import op

import models.base

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

from models.migrations.triggers import CHANNEL, INCIDENT_TABLES, postgresql_organisation_trigger, sqlite_triggers
from models.migrations.triggers import ORGANISATION_TABLES_0002 as ORGANISATION_TABLES


def upgrade() -> None:
    op.create_table(
        "applied_actions",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("applied_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_applied_actions")),
    )
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_up()
    else:
        _sqlite_up()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in (*INCIDENT_TABLES, *ORGANISATION_TABLES):
            op.execute(f'DROP TRIGGER IF EXISTS icc_change_{table} ON "{table}"')
        op.execute("DROP TRIGGER IF EXISTS icc_change_notify ON change_log")
        op.execute("DROP FUNCTION IF EXISTS icc_log_change()")
        op.execute("DROP FUNCTION IF EXISTS icc_notify_change()")
    else:
        for table in (*INCIDENT_TABLES, *ORGANISATION_TABLES):
            for verb in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS icc_change_{table}_{verb}")
    op.drop_table("applied_actions")


def _postgresql_up() -> None:
    op.execute("""
        CREATE OR REPLACE FUNCTION icc_log_change() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            row_data jsonb;
            entity_id integer;
        BEGIN
            IF TG_ARGV[1] = '' THEN
                entity_id := 0;
            ELSE
                row_data := to_jsonb(CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END);
                entity_id := (row_data ->> TG_ARGV[1])::integer;
            END IF;
            IF entity_id IS NOT NULL THEN
                INSERT INTO change_log (at, entity, entity_id) VALUES (now(), TG_ARGV[0], entity_id);
            END IF;
            RETURN NULL;
        END $$;
    """)
    op.execute(f"""
        CREATE OR REPLACE FUNCTION icc_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', '');
            RETURN NULL;
        END $$;
    """)
    for table, column in INCIDENT_TABLES.items():
        op.execute(f"""CREATE TRIGGER icc_change_{table} AFTER INSERT OR UPDATE OR DELETE ON "{table}"
                       FOR EACH ROW EXECUTE FUNCTION icc_log_change('incident', '{column}')""")
    for table in ORGANISATION_TABLES:
        op.execute(postgresql_organisation_trigger(table))
    op.execute("""CREATE TRIGGER icc_change_notify AFTER INSERT ON change_log
                  FOR EACH STATEMENT EXECUTE FUNCTION icc_notify_change()""")


def _sqlite_up() -> None:
    # SQLite has one writer at a time, so rowid order is commit order already.
    for table in (*INCIDENT_TABLES, *ORGANISATION_TABLES):
        for statement in sqlite_triggers(table):
            op.execute(statement)
