"""Impact taxonomy, incident types, escalation policies, rotations, overrides and leave."""
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, Boolean
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, UTCDateTime, str_enum
from models.enums import FailureFamily, LeaveKind, PersonRole, Severity, TierTarget


class ImpactLevel(Base):
    """One severity of the impact taxonomy: what qualifies, how fast to acknowledge, how often to update whom."""

    __tablename__ = "impact_levels"

    severity: Mapped[Severity] = mapped_column(str_enum(Severity), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    criteria: Mapped[str] = mapped_column(Text, default="")
    ack_minutes: Mapped[int] = mapped_column(Integer)
    internal_update_minutes: Mapped[int] = mapped_column(Integer)
    customer_update_minutes: Mapped[int | None] = mapped_column(Integer)
    executive_update_minutes: Mapped[int | None] = mapped_column(Integer)
    page_executives: Mapped[bool] = mapped_column(Boolean, default=False)


class IncidentType(Base):
    __tablename__ = "incident_types"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    family: Mapped[FailureFamily] = mapped_column(str_enum(FailureFamily))
    description: Mapped[str] = mapped_column(Text, default="")
    default_severity: Mapped[Severity] = mapped_column(str_enum(Severity))
    owner_team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    runbook_url: Mapped[str] = mapped_column(String(500), default="", server_default="")


class Rotation(Base):
    """An on-call schedule of one or more layers; where several layers are on duty, the later one answers."""

    __tablename__ = "rotations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    # The on-call roster of a standing role (incident commanders, the executive on call): the impact policy's
    # "incident_commanders" or "executive_roster" page whoever is on call here, not every holder of the role.
    roster_role: Mapped[PersonRole | None] = mapped_column(str_enum(PersonRole))

    layers: Mapped[list["RotationLayer"]] = relationship(
        order_by="RotationLayer.position", cascade="all, delete-orphan", lazy="selectin"
    )


class RotationLayer(Base):
    """Members take turns of `shift_minutes`, handing off at the local time `handoff` in `timezone`.

    `starts_at` is the first handoff. A restriction (a daily window in local time on some weekdays) makes a
    layer cover only then, e.g. a business-hours layer over a 24/7 base layer.
    """

    __tablename__ = "rotation_layers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rotation_id: Mapped[int] = mapped_column(ForeignKey("rotations.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    shift_minutes: Mapped[int] = mapped_column(Integer)
    handoff: Mapped[str] = mapped_column(String(5))  # "HH:MM", local wall-clock time in `timezone`
    timezone: Mapped[str] = mapped_column(String(64))
    restrict_opens: Mapped[str | None] = mapped_column(String(5))  # "HH:MM" local; None: always on duty
    restrict_closes: Mapped[str | None] = mapped_column(String(5))
    restrict_weekdays: Mapped[str | None] = mapped_column(String(7))  # "01234" = Mon-Fri (0 = Monday)

    members: Mapped[list["RotationLayerMember"]] = relationship(
        order_by="RotationLayerMember.position", cascade="all, delete-orphan", lazy="selectin"
    )


class RotationLayerMember(Base):
    __tablename__ = "rotation_layer_members"

    layer_id: Mapped[int] = mapped_column(ForeignKey("rotation_layers.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))


class Override(Base):
    """Someone covers a rotation for a window, in place of whoever the schedule says."""

    __tablename__ = "overrides"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rotation_id: Mapped[int] = mapped_column(ForeignKey("rotations.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(Text, default="")


class Leave(Base):
    """A person is away (PTO, holiday, sick): never paged in this window."""

    __tablename__ = "leaves"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    kind: Mapped[LeaveKind] = mapped_column(str_enum(LeaveKind))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)


class EscalationPolicy(Base):
    __tablename__ = "escalation_policies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    repeat: Mapped[int] = mapped_column(Integer, default=0)

    tiers: Mapped[list["EscalationTier"]] = relationship(
        order_by="EscalationTier.position", cascade="all, delete-orphan", lazy="selectin"
    )


class EscalationTier(Base):
    """One step of a policy: page the target, wait `ack_timeout_minutes` for an acknowledgement, then go on."""

    __tablename__ = "escalation_tiers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("escalation_policies.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    ack_timeout_minutes: Mapped[int] = mapped_column(Integer)
    target: Mapped[TierTarget] = mapped_column(str_enum(TierTarget))
    rotation_id: Mapped[int | None] = mapped_column(ForeignKey("rotations.id"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
