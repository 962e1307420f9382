"""Routing and escalation state: the loaded impact policy (versioned), every automated or human decision with
its reason, escalations snapshotted per incident, and every page sent."""
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, true
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime, str_enum
from models.enums import DecisionKind, EscalationState, PageReason


class LoadedTextVersion:
    """The columns of one loaded version of a policy file: what it said, who loaded it and why."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[str] = mapped_column(String(64))
    digest: Mapped[str] = mapped_column(String(64))
    content: Mapped[str] = mapped_column(Text)
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    loaded_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    reason: Mapped[str] = mapped_column(Text)


class PolicyVersion(LoadedTextVersion, Base):
    """One loaded version of the impact policy file."""

    __tablename__ = "policy_versions"


class Decision(Base):
    """Why something was decided: the rule, the inputs, the thresholds, the policy version, in plain words too."""

    __tablename__ = "decisions"
    __table_args__ = (Index("ix_decisions_incident", "incident_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    signal_id: Mapped[int | None] = mapped_column(ForeignKey("signals.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[DecisionKind] = mapped_column(str_enum(DecisionKind))
    rule_id: Mapped[str] = mapped_column(String(100))
    policy_version: Mapped[str] = mapped_column(String(64))
    summary: Mapped[str] = mapped_column(Text)
    inputs: Mapped[str] = mapped_column(Text)  # canonical JSON
    thresholds: Mapped[str] = mapped_column(Text)  # canonical JSON
    # None for automation; a person when someone decided or overrode by hand (with their reason in summary).
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))


class Escalation(Base):
    """A running escalation: the policy's tiers as they were when it started, and where it has got to."""

    __tablename__ = "escalations"
    __table_args__ = (Index("ix_escalations_due", "state", "step_due_at"),)

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True)
    policy_name: Mapped[str] = mapped_column(String(100))
    snapshot: Mapped[str] = mapped_column(Text)  # canonical JSON of the tiers and repeat, frozen at start
    state: Mapped[EscalationState] = mapped_column(str_enum(EscalationState))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    step: Mapped[int] = mapped_column(Integer)  # tiers paged so far, counting repeats
    step_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # when the next tier is paged if no ack
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    stop_reason: Mapped[str] = mapped_column(Text, default="")


class Page(Base):
    """A person paged about an incident: who, when, why, and when they acknowledged."""

    __tablename__ = "pages"
    __table_args__ = (Index("ix_pages_person", "person_id", "paged_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    reason: Mapped[PageReason] = mapped_column(str_enum(PageReason))
    step: Mapped[int | None] = mapped_column(Integer)  # the escalation step, for escalation pages
    why: Mapped[str] = mapped_column(Text)
    paged_at: Mapped[datetime] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    night: Mapped[bool] = mapped_column(Boolean, default=False)  # in the person's night (fatigue)
    # True: woken (a page). False: told, not woken (the impact policy's "inform"); not counted as fatigue.
    urgent: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
