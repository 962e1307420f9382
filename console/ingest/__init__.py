"""Signals in: parse Alertmanager, PagerDuty Events v2 and generic JSON payloads, and serve them over HTTP.

Nothing here touches the database: the server hands each request's events to a sink the caller provides.
"""
from console.ingest.events import (
    EventAction,
    IngestOutcome,
    IngestResult,
    InvalidPayload,
    SignalEvent,
    SignalKind,
    SignalSource,
)
from console.ingest.formats import parse_alertmanager, parse_generic, parse_pagerduty
from console.ingest.server import IngestServer

__all__ = [
    "EventAction", "IngestOutcome", "IngestResult", "IngestServer", "InvalidPayload", "SignalEvent", "SignalKind",
    "SignalSource", "parse_alertmanager", "parse_generic", "parse_pagerduty",
]
