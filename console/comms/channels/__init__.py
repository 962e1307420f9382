"""Channel adapters: how one message reaches Slack, Teams, a generic webhook, a Statuspage page or e-mail.

Each adapter makes a single attempt and returns an Outcome; the sender decides about retries. The shared
types are in base.py; `adapter_for` picks the adapter of a channel kind.
"""
from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from console.comms.channels.base import (
    Adapter,
    Endpoint,
    MailSecurity,
    Outcome,
    OutcomeKind,
    Outgoing,
    classify_response,
    post_json,
)
from console.comms.channels.email import EmailAdapter
from console.comms.channels.slack import SlackAdapter
from console.comms.channels.statuspage import StatuspageAdapter
from console.comms.channels.teams import TeamsAdapter
from console.comms.channels.webhook import WebhookAdapter, verify_signature
from console.errors import InvalidInput
from models.enums import ChannelKind

ADAPTERS: Mapping[ChannelKind, Adapter] = MappingProxyType({
    ChannelKind.SLACK: SlackAdapter(),
    ChannelKind.TEAMS: TeamsAdapter(),
    ChannelKind.WEBHOOK: WebhookAdapter(),
    ChannelKind.STATUSPAGE: StatuspageAdapter(),
    ChannelKind.EMAIL: EmailAdapter(),
})


def adapter_for(kind: ChannelKind | str) -> Adapter:
    """Return the adapter that delivers to channels of this kind."""
    try:
        return ADAPTERS[ChannelKind(kind)]
    except ValueError:
        raise InvalidInput(f"there is no channel kind {str(kind)[:40]!r}") from None


__all__ = [
    "ADAPTERS", "Adapter", "Endpoint", "MailSecurity", "Outcome", "OutcomeKind", "Outgoing", "adapter_for",
    "classify_response", "post_json", "verify_signature",
]
