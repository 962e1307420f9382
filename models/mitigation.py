"""Mitigation authorizations: requests, the asks a leader signs (the mitigation, then any extension), signed
decisions, leaders' public signing keys, and the decision-rights roster as loaded from its policy file.

Four eyes is a rule of the database, not only of the code: a decision carries the id of the person who asked,
pinned to the ask by a composite foreign key, and a CHECK refuses a decision by that same person. The signing
key of a decision is pinned to the person who decided in the same way.
"""
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime, str_enum
from models.enums import AskKind, AskState, MitigationRisk, MitigationState, Verdict
from models.routing import LoadedTextVersion


class Mitigation(Base):
    """A temporary action on an incident, what it touches, how risky it is, and how to undo it."""

    __tablename__ = "mitigations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    action: Mapped[str] = mapped_column(Text)
    action_class: Mapped[str] = mapped_column(String(32))
    # Canonical JSON {"regions": [...], "services": [...], "tenants": [...]}: signed byte for byte.
    scope: Mapped[str] = mapped_column(Text)
    risk: Mapped[MitigationRisk] = mapped_column(str_enum(MitigationRisk))
    evidence: Mapped[str] = mapped_column(Text)
    revert_plan: Mapped[str] = mapped_column(Text)
    minutes: Mapped[int] = mapped_column(Integer)  # how long it may stay in place once approved
    state: Mapped[MitigationState] = mapped_column(str_enum(MitigationState))
    requested_by: Mapped[int] = mapped_column(ForeignKey("people.id"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the reminder for the current expiry
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    end_reason: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class MitigationAsk(Base):
    """One thing a leader is asked to authorize: the mitigation as requested, or an extension of it."""

    __tablename__ = "mitigation_asks"
    __table_args__ = (UniqueConstraint("id", "requested_by", name="uq_mitigation_asks_id_requester"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mitigation_id: Mapped[int] = mapped_column(ForeignKey("mitigations.id"), index=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"))
    kind: Mapped[AskKind] = mapped_column(str_enum(AskKind))
    requested_by: Mapped[int] = mapped_column(ForeignKey("people.id"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    minutes: Mapped[int] = mapped_column(Integer)  # the duration asked for (an extension: the extra minutes)
    reason: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[AskState] = mapped_column(str_enum(AskState))


class MitigationDecision(Base):
    """A leader's signed approval or rejection of one ask.

    `signed` is the canonical JSON that was signed (the ask and the decision); `signature` is its Ed25519
    signature in hex, verifiable with the public key of `key_id`.
    """

    __tablename__ = "mitigation_decisions"
    __table_args__ = (
        ForeignKeyConstraint(["ask_id", "requested_by"], ["mitigation_asks.id", "mitigation_asks.requested_by"],
                             name="fk_mitigation_decisions_ask_requester"),
        ForeignKeyConstraint(["key_id", "decided_by"], ["signing_keys.id", "signing_keys.person_id"],
                             name="fk_mitigation_decisions_key_owner"),
        CheckConstraint("decided_by <> requested_by", name="four_eyes"),
        UniqueConstraint("ask_id", name="uq_mitigation_decisions_ask_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ask_id: Mapped[int] = mapped_column(Integer)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"))
    requested_by: Mapped[int] = mapped_column(Integer)
    decided_by: Mapped[int] = mapped_column(ForeignKey("people.id"))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime)
    verdict: Mapped[Verdict] = mapped_column(str_enum(Verdict))
    reason: Mapped[str] = mapped_column(Text)
    key_id: Mapped[int] = mapped_column(Integer)
    signed: Mapped[str] = mapped_column(Text)
    signature: Mapped[str] = mapped_column(String(128))


class SigningKey(Base):
    """A leader's Ed25519 public key (hex); the private half stays in their OS keyring, sealed by a passphrase."""

    __tablename__ = "signing_keys"
    __table_args__ = (UniqueConstraint("id", "person_id", name="uq_signing_keys_id_person"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    public_key: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RightsVersion(LoadedTextVersion, Base):
    """One loaded version of the decision-rights file."""

    __tablename__ = "rights_versions"


class DecisionRight(Base):
    """That a person may authorize a class of action, under the newest rights version.

    The services and severities of each right live in the policy text; this row is what the database itself
    checks when a decision is written: an approval by someone holding no right to the class is refused.
    """

    __tablename__ = "decision_rights"

    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), primary_key=True)
    action_class: Mapped[str] = mapped_column(String(32), primary_key=True)
