"""Signals from outside, incidents with their impacted services, incident role history, and the timeline."""
from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, UTCDateTime, str_enum
from models.enums import IncidentOrigin, IncidentRole, IncidentStatus, Severity, SignalKind, TimelineKind


class Incident(Base):
    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_open_queue", "status", "severity"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    severity: Mapped[Severity] = mapped_column(str_enum(Severity))
    status: Mapped[IncidentStatus] = mapped_column(str_enum(IncidentStatus))
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    type_id: Mapped[int | None] = mapped_column(ForeignKey("incident_types.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    commander_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    customer_impact: Mapped[str] = mapped_column(Text, default="")
    next_action: Mapped[str] = mapped_column(Text, default="")
    resolution: Mapped[str] = mapped_column(Text, default="")
    # Signals with this dedup key or fingerprint join this incident while it is open.
    # "<source>:<dedup key>": up to 64 + 1 + 255 characters (PagerDuty's longest key).
    fingerprint: Mapped[str | None] = mapped_column(String(320), index=True)
    # Grouped under another incident (blast radius: downstream of an open foundational incident).
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"))
    # The severity a person set by hand: automation may raise above it, never lower it.
    severity_set_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    # Demo incidents are moved along by the demo feed; an operator's own incidents never are.
    origin: Mapped[IncidentOrigin] = mapped_column(str_enum(IncidentOrigin), default=IncidentOrigin.MANUAL)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ack_deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Optimistic concurrency: a stale write raises StaleDataError instead of overwriting.
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": version}

    impacted: Mapped[list["IncidentService"]] = relationship(cascade="all, delete-orphan")


class IncidentService(Base):
    """A service impacted by an incident, beside its primary service."""

    __tablename__ = "incident_services"

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"), primary_key=True)


class Signal(Base):
    __tablename__ = "signals"
    # With the id: "the newest signal of this alert" is read from the index alone, however often it repeated.
    __table_args__ = (Index("ix_signals_dedup", "source", "dedup_key", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    dedup_key: Mapped[str] = mapped_column(String(255))  # PagerDuty's limit, the longest any format allows
    kind: Mapped[SignalKind] = mapped_column(str_enum(SignalKind))
    service_id: Mapped[int | None] = mapped_column(ForeignKey("services.id"))
    summary: Mapped[str] = mapped_column(Text)
    value: Mapped[float | None] = mapped_column(Float)
    observed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    # The sender's own word for how bad it is (critical, SEV2, warning); the taxonomy decides the level.
    severity_hint: Mapped[str | None] = mapped_column(String(32))
    # Descriptive facts as canonical JSON (account, strategic, region...): what qualitative rules match on.
    attributes: Mapped[str] = mapped_column(Text, default="{}", server_default="{}")
    # None until routing has acted on the row: a row written straight into the table by any client waits here.
    routed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


class RoleAssignment(Base):
    """Who held a role on an incident and when: history is kept, never overwritten."""

    __tablename__ = "role_assignments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    role: Mapped[IncidentRole] = mapped_column(str_enum(IncidentRole))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    assumed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    renounced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TimelineEvent(Base):
    __tablename__ = "timeline_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[TimelineKind] = mapped_column(str_enum(TimelineKind))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    text: Mapped[str] = mapped_column(Text)
