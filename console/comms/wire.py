"""The plain shapes that cross between the outbox and the channel adapters: a message to send, where to send it
(an endpoint, from the keyring) and what came of an attempt. Standard library only, so the outbox, the sender
and the window can hold them without importing requests (~0.2 s) at start-up; the adapters live in channels/.
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

from console.errors import InvalidInput


class OutcomeKind(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    FAILED = "failed"


class MailSecurity(StrEnum):
    STARTTLS = "starttls"
    SSL = "ssl"
    NONE = "none"  # for a local relay and the tests only


def _no_components() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True)
class Outgoing:
    """One message to one channel, as plain data."""

    idempotency_key: str  # stable per (message, channel): the same on every retry
    incident_ref: str
    incident_title: str
    severity: str
    incident_status: str
    audience: str
    subject: str
    body: str
    sent_at: datetime  # tz-aware UTC
    provider_ref: str | None = None  # e.g. the Statuspage incident an earlier message on this incident created
    components: Mapping[str, str] = field(default_factory=_no_components)  # Statuspage component id -> status


_STR_FIELDS = ("url", "token", "hmac_secret", "host", "username", "password", "sender")


@dataclass(frozen=True)
class Endpoint:
    """Where and how to reach a channel; kept in the OS keyring, never in the database."""

    url: str = field(default="", repr=False)  # webhook URL, or "https://api.statuspage.io/v1/pages/<page_id>"
    token: str = field(default="", repr=False)  # Statuspage API key
    hmac_secret: str = field(default="", repr=False)  # generic webhook: requests are signed when set
    host: str = ""
    port: int = 0  # 0: the usual port for the security
    username: str = ""
    password: str = field(default="", repr=False)
    security: str = MailSecurity.STARTTLS
    sender: str = ""
    recipients: tuple[str, ...] = ()

    def to_json(self) -> str:
        """Return the endpoint as the JSON text stored in the keyring."""
        data = dataclasses.asdict(self)
        data["security"] = str(self.security)
        data["recipients"] = list(self.recipients)
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Endpoint:
        """Read an endpoint back from its keyring JSON; raise InvalidInput saying what is wrong (never a value)."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:  # its message gives a position, never the text
            raise InvalidInput(f"the channel's stored settings are not valid JSON "
                               f"({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
        except TypeError:
            raise InvalidInput("the channel's stored settings are not text") from None
        if not isinstance(data, dict):
            raise InvalidInput("the channel's stored settings must be a JSON object")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(str(key)[:40] for key in data if key not in known)
        if unknown:
            raise InvalidInput(f"the channel's stored settings have unknown fields: {', '.join(unknown)}")
        values: dict[str, object] = {}
        for name in _STR_FIELDS:
            if name in data:
                if not isinstance(data[name], str):
                    raise InvalidInput(f"the channel setting '{name}' must be text")
                values[name] = data[name]
        if "port" in data:
            port = data["port"]
            if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
                raise InvalidInput("the channel setting 'port' must be a whole number from 0 to 65535")
            values["port"] = port
        if "security" in data:
            if data["security"] not in set(MailSecurity):
                raise InvalidInput("the channel setting 'security' must be one of starttls, ssl, none")
            values["security"] = MailSecurity(data["security"])
        if "recipients" in data:
            recipients = data["recipients"]
            if not isinstance(recipients, list) or not all(isinstance(r, str) for r in recipients):
                raise InvalidInput("the channel setting 'recipients' must be a list of addresses")
            values["recipients"] = tuple(recipients)
        return cls(**values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Outcome:
    """What one delivery attempt came to, with a line fit to show the operator."""

    kind: OutcomeKind
    detail: str
    retry_after: float | None = None  # seconds the provider asked us to wait, capped at an hour
    provider_ref: str | None = None  # the Statuspage incident id after a create or update
    status_code: int | None = None
