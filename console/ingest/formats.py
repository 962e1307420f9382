"""Turn request bodies into signal events: Prometheus Alertmanager webhooks (version 4), PagerDuty Events API v2
alert events, and the console's own generic JSON form (docs/INGEST.md).

Each parser takes the whole body and returns every event in it, or raises InvalidPayload listing what is wrong
and where; it never returns a part of a payload, so a sink never stores half a request.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from console.ingest._fields import Obj, Problems, as_text, child, read_json, stable_key
from console.ingest.events import (
    MAX_DEDUP_KEY,
    MAX_SUMMARY,
    EventAction,
    SignalEvent,
    SignalKind,
    SignalSource,
)

Parser = Callable[..., tuple[SignalEvent, ...]]


class AlertStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


class PagerDutySeverity(StrEnum):
    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


def parse_alertmanager(*, body: bytes, received_at: datetime) -> tuple[SignalEvent, ...]:
    """Parse an Alertmanager webhook body into one event per alert."""
    return alertmanager_events(document=read_json(body=body), received_at=received_at)


def parse_pagerduty(*, body: bytes, received_at: datetime) -> tuple[SignalEvent, ...]:
    """Parse a PagerDuty Events API v2 alert event body into its one event."""
    return pagerduty_events(document=read_json(body=body), received_at=received_at)


def parse_generic(*, body: bytes, received_at: datetime) -> tuple[SignalEvent, ...]:
    """Parse a body in the console's generic JSON form into its events."""
    return generic_events(document=read_json(body=body), received_at=received_at)


def _shorten(text: str) -> str:
    return text if len(text) <= MAX_SUMMARY else text[: MAX_SUMMARY - 1] + "…"


def _real_time(when: datetime | None) -> datetime | None:
    # Go's zero time (0001-01-01T00:00:00Z) is how Alertmanager says "not set".
    return None if when is None or when.year <= 1 else when


def alertmanager_events(*, document: Any, received_at: datetime) -> tuple[SignalEvent, ...]:
    """Turn a decoded Alertmanager webhook (version 4) into one event per alert."""
    problems = Problems()
    top = Obj.of(document, "", problems)
    if top is None:
        problems.check()
    assert top is not None
    version = top.text("version", required=True)
    if version is not None and version != "4":
        # Another version may mean other fields; guessing could page the wrong people.
        top.problem("version", f'expected "4" (the Alertmanager webhook version this console reads); got {json.dumps(version)[:20]}')
    alerts = top.array("alerts", required=True)
    if alerts == []:
        top.problem("alerts", "is empty; expected at least one alert")
    context = {
        "alertmanager.receiver": top.text("receiver", nonempty=False),
        "alertmanager.group_key": top.text("groupKey", nonempty=False),
        "alertmanager.external_url": top.text("externalURL", nonempty=False),
    }
    truncated = top.number("truncatedAlerts")
    if truncated:
        # Alertmanager dropped alerts past max_alerts; say so on every event rather than lose the fact.
        context["alertmanager.truncated_alerts"] = str(int(truncated))
    events = []
    for index, raw in enumerate(alerts or ()):
        alert = Obj.of(raw, f"alerts[{index}]", problems)
        if alert is None:
            continue
        event = _alert(alert, context, received_at)
        if event is not None:
            events.append(event)
    problems.check()
    return tuple(events)


def _alert(alert: Obj, context: Mapping[str, str | None], received_at: datetime) -> SignalEvent | None:
    status = alert.choice("status", AlertStatus, required=True)
    labels = alert.string_map("labels", required=True)
    if alert.has("labels") and isinstance(alert.data["labels"], dict) and not alert.data["labels"]:
        alert.problem("labels", "is empty; an alert needs at least its alertname")
    annotations = alert.string_map("annotations")
    starts_at = _real_time(alert.time("startsAt"))
    ends_at = _real_time(alert.time("endsAt"))
    fingerprint = alert.text("fingerprint", max_length=MAX_DEDUP_KEY)
    generator_url = alert.text("generatorURL", nonempty=False) or ""
    if status is None or not labels:
        return None
    # Alertmanager's fingerprint is a hash of the label set; without one, hash the labels the same way ourselves
    # so a resolve finds the alert its firing opened.
    dedup_key = fingerprint or stable_key(parts=labels, length=16)
    resolved = status is AlertStatus.RESOLVED
    attributes = dict(annotations)
    attributes.update({k: v for k, v in context.items() if v})
    if starts_at is not None:
        attributes["alertmanager.starts_at"] = starts_at.isoformat()
    if ends_at is not None:
        attributes["alertmanager.ends_at"] = ends_at.isoformat()
    summary = annotations.get("summary") or annotations.get("description") or labels.get("alertname") or dedup_key
    return SignalEvent(
        source=SignalSource.ALERTMANAGER,
        action=EventAction.RESOLVE if resolved else EventAction.TRIGGER,
        dedup_key=dedup_key,
        service=labels.get("service") or labels.get("job") or None,
        summary=_shorten(summary),
        severity_hint=labels.get("severity") or None,
        value=None,
        observed_at=(ends_at if resolved else starts_at) or received_at,
        kind=SignalKind.ALERT,
        labels=labels,
        attributes=attributes,
        raw_ref=generator_url,
    )


def pagerduty_events(*, document: Any, received_at: datetime) -> tuple[SignalEvent, ...]:
    """Turn a decoded PagerDuty Events API v2 alert event into its one event."""
    problems = Problems()
    top = Obj.of(document, "", problems)
    if top is None:
        problems.check()
    assert top is not None
    top.text("routing_key")  # only its type: the server checks its value, and it is never echoed or stored
    action = top.choice("event_action", EventAction, required=True)
    dedup_key = top.text("dedup_key", max_length=MAX_DEDUP_KEY)
    if action in (EventAction.ACKNOWLEDGE, EventAction.RESOLVE) and not top.has("dedup_key"):
        top.problem("dedup_key", f"is required to {action.value} an alert")
    client_url = top.text("client_url", nonempty=False) or ""
    client = top.text("client", nonempty=False)
    payload = top.obj("payload", required=True) if action is EventAction.TRIGGER else None
    if payload is not None:
        summary = payload.text("summary", required=True, max_length=MAX_SUMMARY)
        source = payload.text("source", required=True)
        severity = payload.choice("severity", PagerDutySeverity, required=True)
        observed_at = payload.time("timestamp")
        component = payload.text("component", nonempty=False)
        group = payload.text("group", nonempty=False)
        event_class = payload.text("class", nonempty=False)
    else:
        # PagerDuty ignores the payload of an acknowledge or resolve; take what is usable and refuse nothing.
        data = top.data.get("payload") if isinstance(top.data.get("payload"), dict) else {}
        summary, source, component, group, event_class = (
            data.get(k) if isinstance(data.get(k), str) else None
            for k in ("summary", "source", "component", "group", "class"))
        severity, observed_at = None, None
    problems.check()
    assert action is not None
    labels = {k: v for k, v in (("source", source), ("component", component), ("group", group),
                                ("class", event_class)) if v}
    if dedup_key is None:
        # PagerDuty makes up a key for a trigger without one; ours is derived from what identifies the problem
        # (not its time or details), so the same trigger sent twice is one alert, not two.
        dedup_key = stable_key(parts={"summary": summary, **labels})
    attributes = _details(payload.data.get("custom_details")) if payload is not None else {}
    if client:
        attributes["pagerduty.client"] = client
    if client_url:
        attributes["pagerduty.client_url"] = client_url
    return (SignalEvent(
        source=SignalSource.PAGERDUTY,
        action=action,
        dedup_key=dedup_key,
        service=source or component or None,
        summary=_shorten(summary or ""),
        severity_hint=severity.value if severity is not None else None,
        value=None,
        observed_at=observed_at or received_at,
        kind=SignalKind.ALERT,
        labels=labels,
        attributes=attributes,
        raw_ref=client_url,
    ),)


def _details(details: object) -> dict[str, str]:
    if details is None:
        return {}
    if isinstance(details, dict):
        return {str(k): as_text(v) for k, v in details.items()}
    return {"custom_details": as_text(details)}  # PagerDuty accepts a bare string here; keep it whole


_GENERIC_FIELDS = ("action", "kind", "dedup_key", "service", "summary", "severity", "metric", "value",
                   "observed_at", "labels", "attributes", "link")


def generic_events(*, document: Any, received_at: datetime) -> tuple[SignalEvent, ...]:
    """Turn a decoded generic-form body ({"events": [...]} or one event object) into its events."""
    problems = Problems()
    top = Obj.of(document, "", problems)
    if top is None:
        problems.check()
    assert top is not None
    if "events" in top.data:
        top.allow(("events",))
        items = top.array("events", required=True)
        if items == []:
            top.problem("events", "is empty; expected at least one event")
        objects = [Obj.of(item, f"events[{i}]", problems) for i, item in enumerate(items or ())]
    else:
        objects = [top]
    events = [_generic(item, received_at) for item in objects if item is not None]
    problems.check()
    return tuple(e for e in events if e is not None)


def _generic(item: Obj, received_at: datetime) -> SignalEvent | None:
    item.allow(_GENERIC_FIELDS)
    action = item.choice("action", EventAction, default=EventAction.TRIGGER)
    kind = item.choice("kind", SignalKind, default=SignalKind.ALERT)
    is_metric = kind is SignalKind.METRIC
    dedup_key = item.text("dedup_key", max_length=MAX_DEDUP_KEY)
    service = item.text("service", max_length=255)
    summary = item.text("summary", max_length=MAX_SUMMARY)
    severity = item.text("severity", max_length=64)
    metric = item.text("metric", required=is_metric, max_length=255)
    value = item.number("value", required=is_metric)
    observed_at = item.time("observed_at")
    labels = item.string_map("labels")
    attributes = item.scalar_map("attributes")
    link = item.text("link", nonempty=False) or ""
    if metric is not None and kind is not None and not is_metric:
        item.problem("metric", 'only metric samples carry a metric; add "kind": "metric"')
    if metric is not None and "metric" in labels:
        item.problems.add(child(item.path("labels"), "metric"), 'clashes with the "metric" field; the metric name is stored as this label')
    if action is not None and action is not EventAction.TRIGGER and not item.has("dedup_key"):
        item.problem("dedup_key", f"is required to {action.value} a signal")
    if summary is None and action is EventAction.TRIGGER and kind is not None and not is_metric \
            and not item.has("summary"):
        item.problem("summary", "is required to trigger an alert, ticket or sentiment signal")
    if item.problems.items or action is None or kind is None:
        return None
    if metric is not None:
        labels["metric"] = metric
    if summary is None:
        summary = f"{metric} = {value:g}" if is_metric and value is not None else ""
    if dedup_key is None:
        # A metric series is its name, service and labels: every sample of it shares one key. Other signals
        # add their summary, so two different problems on one service stay apart.
        parts: dict[str, object] = {"kind": kind.value, "service": service, "labels": labels}
        if not is_metric:
            parts["summary"] = summary
        dedup_key = stable_key(parts=parts)
    return SignalEvent(
        source=SignalSource.GENERIC,
        action=action,
        dedup_key=dedup_key,
        service=service,
        summary=summary,
        severity_hint=severity,
        value=value,
        observed_at=observed_at or received_at,
        kind=kind,
        labels=labels,
        attributes=attributes,
        raw_ref=link,
    )


PARSERS: Mapping[SignalSource, Parser] = {
    SignalSource.ALERTMANAGER: alertmanager_events,
    SignalSource.PAGERDUTY: pagerduty_events,
    SignalSource.GENERIC: generic_events,
}
