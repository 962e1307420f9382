"""mitigation authorizations, signing keys, decision rights; the audit table made append-only

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

The database guards what matters most by itself, whatever client writes to it:
- audit_entries refuses UPDATE and DELETE (and TRUNCATE on PostgreSQL), and two entries can never claim the
  same predecessor, so a writer that skipped the chain lock fails instead of forking the chain;
- a signed decision is never changed or deleted either;
- a decision by the person who asked is refused (CHECK four_eyes, the asker pinned by a composite key), and so
  is a decision by someone who holds no right to the mitigation's class (a trigger over decision_rights).
"""
import sqlalchemy as sa
from alembic import op

import models.base
from models.migrations.triggers import (
    MITIGATION_INCIDENT_TABLES,
    MITIGATION_ORGANISATION_TABLES,
    postgresql_incident_trigger,
    postgresql_organisation_trigger,
    sqlite_triggers,
)

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_UTC = models.base.UTCDateTime(timezone=True)


def _enum(*values: str, name: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, length=32)


_RIGHT_MISSING = "the decider holds no decision right for this class of mitigation"
_RIGHT_CHECK = """NOT EXISTS (SELECT 1 FROM decision_rights d
                             JOIN mitigations m ON m.action_class = d.action_class
                             JOIN mitigation_asks a ON a.mitigation_id = m.id
                             WHERE a.id = NEW.ask_id AND d.person_id = NEW.decided_by)"""
# Tables nobody may rewrite: the audit trail and the signed decisions.
_APPEND_ONLY = ("audit_entries", "mitigation_decisions")


def upgrade() -> None:
    op.create_index("ux_audit_entries_prev_hash", "audit_entries", ["prev_hash"], unique=True)
    op.create_table(
        "signing_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("revoked_at", _UTC, nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], name=op.f("fk_signing_keys_person_id_people")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signing_keys")),
        sa.UniqueConstraint("public_key", name=op.f("uq_signing_keys_public_key")),
        sa.UniqueConstraint("id", "person_id", name="uq_signing_keys_id_person"),
    )
    op.create_index("ix_signing_keys_person_id", "signing_keys", ["person_id"])
    op.create_table(
        "rights_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("loaded_at", _UTC, nullable=False),
        sa.Column("loaded_by", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["loaded_by"], ["people.id"], name=op.f("fk_rights_versions_loaded_by_people")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rights_versions")),
    )
    op.create_table(
        "decision_rights",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("action_class", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], name=op.f("fk_decision_rights_person_id_people")),
        sa.PrimaryKeyConstraint("person_id", "action_class", name=op.f("pk_decision_rights")),
    )
    op.create_table(
        "mitigations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("action_class", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("risk", _enum("low", "medium", "high", name="mitigationrisk"), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("revert_plan", sa.Text(), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("state", _enum("requested", "rejected", "withdrawn", "active", "expired", "reverted",
                                 name="mitigationstate"), nullable=False),
        sa.Column("requested_by", sa.Integer(), nullable=False),
        sa.Column("requested_at", _UTC, nullable=False),
        sa.Column("approved_at", _UTC, nullable=True),
        sa.Column("expires_at", _UTC, nullable=True),
        sa.Column("reminded_at", _UTC, nullable=True),
        sa.Column("ended_at", _UTC, nullable=True),
        sa.Column("ended_by", sa.Integer(), nullable=True),
        sa.Column("end_reason", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], name=op.f("fk_mitigations_incident_id_incidents")),
        sa.ForeignKeyConstraint(["requested_by"], ["people.id"], name=op.f("fk_mitigations_requested_by_people")),
        sa.ForeignKeyConstraint(["ended_by"], ["people.id"], name=op.f("fk_mitigations_ended_by_people")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mitigations")),
    )
    op.create_index("ix_mitigations_incident_id", "mitigations", ["incident_id"])
    op.create_table(
        "mitigation_asks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mitigation_id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("kind", _enum("initial", "extension", name="askkind"), nullable=False),
        sa.Column("requested_by", sa.Integer(), nullable=False),
        sa.Column("requested_at", _UTC, nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("state", _enum("pending", "approved", "rejected", "withdrawn", name="askstate"), nullable=False),
        sa.ForeignKeyConstraint(["mitigation_id"], ["mitigations.id"],
                                name=op.f("fk_mitigation_asks_mitigation_id_mitigations")),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], name=op.f("fk_mitigation_asks_incident_id_incidents")),
        sa.ForeignKeyConstraint(["requested_by"], ["people.id"], name=op.f("fk_mitigation_asks_requested_by_people")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mitigation_asks")),
        sa.UniqueConstraint("id", "requested_by", name="uq_mitigation_asks_id_requester"),
    )
    op.create_index("ix_mitigation_asks_mitigation_id", "mitigation_asks", ["mitigation_id"])
    op.create_table(
        "mitigation_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ask_id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("requested_by", sa.Integer(), nullable=False),
        sa.Column("decided_by", sa.Integer(), nullable=False),
        sa.Column("decided_at", _UTC, nullable=False),
        sa.Column("verdict", _enum("approved", "rejected", name="verdict"), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("signed", sa.Text(), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.CheckConstraint("decided_by <> requested_by", name=op.f("ck_mitigation_decisions_four_eyes")),
        sa.ForeignKeyConstraint(["ask_id", "requested_by"], ["mitigation_asks.id", "mitigation_asks.requested_by"],
                                name="fk_mitigation_decisions_ask_requester"),
        sa.ForeignKeyConstraint(["key_id", "decided_by"], ["signing_keys.id", "signing_keys.person_id"],
                                name="fk_mitigation_decisions_key_owner"),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"],
                                name=op.f("fk_mitigation_decisions_incident_id_incidents")),
        sa.ForeignKeyConstraint(["decided_by"], ["people.id"], name=op.f("fk_mitigation_decisions_decided_by_people")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mitigation_decisions")),
        sa.UniqueConstraint("ask_id", name="uq_mitigation_decisions_ask_id"),
    )
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_guards()
        for table, column in MITIGATION_INCIDENT_TABLES.items():
            op.execute(postgresql_incident_trigger(table, column))
        for table in MITIGATION_ORGANISATION_TABLES:
            op.execute(postgresql_organisation_trigger(table))
    else:
        _sqlite_guards()
        for table in (*MITIGATION_INCIDENT_TABLES, *MITIGATION_ORGANISATION_TABLES):
            for statement in sqlite_triggers(table):
                op.execute(statement)


def _postgresql_guards() -> None:
    op.execute("""CREATE FUNCTION icc_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
                  BEGIN
                    RAISE EXCEPTION '% is append-only: % is refused', TG_TABLE_NAME, TG_OP
                      USING ERRCODE = 'insufficient_privilege';
                  END $$""")
    for table in _APPEND_ONLY:
        op.execute(f"""CREATE TRIGGER icc_append_only BEFORE UPDATE OR DELETE ON {table}
                       FOR EACH ROW EXECUTE FUNCTION icc_append_only()""")
        op.execute(f"""CREATE TRIGGER icc_append_only_truncate BEFORE TRUNCATE ON {table}
                       FOR EACH STATEMENT EXECUTE FUNCTION icc_append_only()""")
    op.execute(f"""CREATE FUNCTION icc_decision_right() RETURNS trigger LANGUAGE plpgsql AS $$
                   BEGIN
                     IF {_RIGHT_CHECK} THEN
                       RAISE EXCEPTION '{_RIGHT_MISSING} (person #%)', NEW.decided_by
                         USING ERRCODE = 'check_violation';
                     END IF;
                     RETURN NEW;
                   END $$""")
    op.execute("""CREATE TRIGGER icc_decision_right BEFORE INSERT ON mitigation_decisions
                  FOR EACH ROW EXECUTE FUNCTION icc_decision_right()""")


def _sqlite_guards() -> None:
    for table in _APPEND_ONLY:
        for verb in ("update", "delete"):
            op.execute(f"""CREATE TRIGGER icc_append_only_{table}_{verb} BEFORE {verb.upper()} ON {table}
                           BEGIN SELECT RAISE(ABORT, '{table} is append-only: {verb.upper()} is refused'); END""")
    op.execute(f"""CREATE TRIGGER icc_decision_right BEFORE INSERT ON mitigation_decisions WHEN {_RIGHT_CHECK}
                   BEGIN SELECT RAISE(ABORT, '{_RIGHT_MISSING}'); END""")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER icc_append_only ON audit_entries")
        op.execute("DROP TRIGGER icc_append_only_truncate ON audit_entries")
    else:
        op.execute("DROP TRIGGER icc_append_only_audit_entries_update")
        op.execute("DROP TRIGGER icc_append_only_audit_entries_delete")
    for table in ("mitigation_decisions", "mitigation_asks", "mitigations", "decision_rights", "rights_versions",
                  "signing_keys"):
        op.drop_table(table)
    op.drop_index("ux_audit_entries_prev_hash", table_name="audit_entries")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION icc_append_only()")
        op.execute("DROP FUNCTION icc_decision_right()")
