"""Communications: versioned message templates, the messages sent on incidents, and the durable outbox of
deliveries (one per message and channel) that the sender works through."""
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime, str_enum
from models.enums import ChannelKind, DeliveryState


class MessageTemplate(Base):
    """One version of a template; the newest version of a name is the one in use. Versions are never edited."""

    __tablename__ = "message_templates"
    __table_args__ = (UniqueConstraint("name", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(100))
    audience: Mapped[str] = mapped_column(String(16))  # internal | customers | executives
    purpose: Mapped[str] = mapped_column(Text, default="")
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    reason: Mapped[str] = mapped_column(Text, default="")


class Message(Base):
    """A rendered communication as it was sent (after any edit), to one audience, on one incident."""

    __tablename__ = "messages"
    # "When did customers last hear about this incident?": read from the index alone for every queue row.
    __table_args__ = (Index("ix_messages_cadence", "incident_id", "audience", "counts", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    template: Mapped[str] = mapped_column(String(64))
    template_version: Mapped[int | None] = mapped_column(Integer)  # None: written from scratch
    audience: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    edited: Mapped[bool] = mapped_column(Boolean, default=False)  # changed by hand after rendering
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    # Demo and trainer messages never leave the machine, whichever console's sender picks them up.
    sandbox: Mapped[bool] = mapped_column(Boolean, default=False)
    # The operator's action key: a message replayed from the action outbox is queued once.
    key: Mapped[str] = mapped_column(String(64), unique=True)
    # An update counts towards its audience's cadence unless every delivery of it failed.
    counts: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


class Delivery(Base):
    """One message to one channel: the outbox row the sender claims, sends, retries and settles."""

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_due", "state", "channel", "next_attempt_at"),
        Index("ix_deliveries_incident", "incident_id"),
        Index("ix_deliveries_message", "message_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(64))
    kind: Mapped[ChannelKind] = mapped_column(str_enum(ChannelKind))
    state: Mapped[DeliveryState] = mapped_column(str_enum(DeliveryState))
    sandbox: Mapped[bool] = mapped_column(Boolean, default=False)  # the message's: settled here, never sent
    # Sent to the provider on every attempt (Idempotency-Key, Message-ID): the same on each retry.
    key: Mapped[str] = mapped_column(String(100), unique=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    give_up_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # A sender holds a claimed row until then; a row still "sending" after it was cut off (a crash) and is sent again.
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    interrupted: Mapped[int] = mapped_column(Integer, default=0)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(Text, default="")
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    provider_ref: Mapped[str | None] = mapped_column(String(128))  # e.g. the status page's incident id
    # A failure stays in front of everyone until a person has seen it (dismissed) or sent it again.
    dismissed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    dismissed_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))


class ChannelSlot(Base):
    """When a channel may next be sent to: the provider's rate limit, shared by every console's sender."""

    __tablename__ = "channel_slots"

    channel: Mapped[str] = mapped_column(String(64), primary_key=True)
    next_send_at: Mapped[datetime] = mapped_column(UTCDateTime)
