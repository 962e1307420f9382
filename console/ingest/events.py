"""What the ingest server hands on: signal events parsed from a request, and what the sink says it did with them."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

from console.errors import InvalidInput

# PagerDuty's limits, applied to every format so a key or summary that one sender may use fits them all.
MAX_DEDUP_KEY = 255
MAX_SUMMARY = 1024


class SignalSource(StrEnum):
    ALERTMANAGER = "alertmanager"
    PAGERDUTY = "pagerduty"
    GENERIC = "generic"


class EventAction(StrEnum):
    TRIGGER = "trigger"
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"


class SignalKind(StrEnum):
    ALERT = "alert"
    METRIC = "metric"
    TICKET = "ticket"
    SENTIMENT = "sentiment"


@dataclass(frozen=True)
class SignalEvent:
    """One observation from outside, in the same shape whichever format it arrived in."""

    source: SignalSource
    action: EventAction
    dedup_key: str
    service: str | None
    summary: str
    severity_hint: str | None  # the sender's own word (critical, SEV2, warning); the taxonomy decides the level
    value: float | None
    observed_at: datetime  # aware, UTC
    kind: SignalKind
    labels: Mapping[str, str]  # identifying: what routing rules match on
    attributes: Mapping[str, str]  # descriptive: annotations, custom details, context links
    raw_ref: str  # where the sender says to look (generatorURL, client_url, link); "" when it gave none

    def __post_init__(self) -> None:
        if self.observed_at.tzinfo is None:
            raise ValueError("SignalEvent.observed_at must be timezone-aware")
        # Read-only views over private copies: a frozen event must not change under a caller that kept the dict.
        object.__setattr__(self, "labels", MappingProxyType(dict(self.labels)))
        object.__setattr__(self, "attributes", MappingProxyType(dict(self.attributes)))


class IngestOutcome(StrEnum):
    ACCEPTED = "accepted"
    OVERLOADED = "overloaded"  # nothing was taken; the sender should retry later (HTTP 429)


@dataclass(frozen=True)
class IngestResult:
    """What the sink did with one request's events: all taken, or none (never a part)."""

    outcome: IngestOutcome
    accepted: int = 0
    retry_after_seconds: int = 1
    message: str = ""


class InvalidPayload(InvalidInput):
    """A request body that is not a valid payload of its format; each error says what and where."""

    def __init__(self, errors: tuple[str, ...] | list[str]) -> None:
        self.errors = tuple(errors)
        super().__init__("; ".join(self.errors))
