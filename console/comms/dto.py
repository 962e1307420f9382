"""Frozen data about communications for the GUI: templates, messages with their deliveries, update cadence.

Imports only the standard library and models.enums, like console/dto.py: the window can hold these cheaply.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from models.enums import ChannelKind, DeliveryState  # noqa: F401 (re-exported for ui/)

AUDIENCES = ("internal", "customers", "executives")
AUDIENCE_WORDS = {"internal": "Internal", "customers": "Customers", "executives": "Executives"}


@dataclass(frozen=True, slots=True)
class TemplateInfo:
    """One version of a template as the editor and the composer see it."""

    name: str
    version: int
    title: str
    audience: str
    purpose: str
    subject: str
    body: str
    created_at: datetime | None  # None: the shipped file, never saved in this database
    created_by: str
    reason: str


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    """A channel of the policy as the composer offers it: where its endpoint is set and whether it is the default."""

    name: str
    kind: ChannelKind
    description: str
    per_second: float
    endpoint_set: bool


@dataclass(frozen=True, slots=True)
class DeliveryItem:
    id: int
    channel: str
    kind: ChannelKind
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime
    last_error: str
    delivered_at: datetime | None
    interrupted: int
    dismissed: bool

    @property
    def needs_attention(self) -> bool:
        """A failure nobody has dismissed or sent again yet."""
        return self.state is DeliveryState.FAILED and not self.dismissed


@dataclass(frozen=True, slots=True)
class MessageItem:
    id: int
    incident_id: int
    template: str
    audience: str
    subject: str
    body: str
    created_at: datetime
    created_by: str
    sandbox: bool
    edited: bool
    deliveries: tuple[DeliveryItem, ...]

    @property
    def state(self) -> DeliveryState:
        """The worst state among its deliveries: failed, then sending/queued, else delivered."""
        states = {d.state for d in self.deliveries}
        for state in (DeliveryState.FAILED, DeliveryState.SENDING, DeliveryState.QUEUED):
            if state in states:
                return state
        return DeliveryState.DELIVERED


@dataclass(frozen=True, slots=True)
class Draft:
    """A rendered template ready to preview, edit and send."""

    incident_id: int
    template: str
    template_version: int
    audience: str
    subject: str
    body: str
    channels: tuple[str, ...]  # the defaults for this severity and audience
    sandbox: bool


@dataclass(frozen=True, slots=True)
class CommsView:
    """Everything the incident's Communications tab shows."""

    incident_id: int
    messages: tuple[MessageItem, ...]  # newest first
    templates: tuple[TemplateInfo, ...]  # the ones this severity's policy lists, current versions
    channels: tuple[ChannelInfo, ...]
    cadence: tuple[tuple[str, int], ...]  # (audience, minutes) this severity schedules
    last_update: tuple[tuple[str, datetime], ...]  # (audience, when it was last sent) for counted updates
    sandbox: bool  # messages from this console on this incident stay on this machine
