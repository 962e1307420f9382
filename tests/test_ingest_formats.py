"""The ingest parsers against payloads in the documented shapes of Alertmanager (webhook version 4), PagerDuty
Events API v2, and the console's generic form (docs/INGEST.md), and against malformed ones: every refusal says
what is wrong and where."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from console.errors import InvalidInput
from console.ingest import (
    EventAction,
    InvalidPayload,
    SignalEvent,
    SignalKind,
    SignalSource,
    parse_alertmanager,
    parse_generic,
    parse_pagerduty,
)

RECEIVED = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)
UTC = timezone.utc


def body(document: object) -> bytes:
    return json.dumps(document).encode()


def alertmanager_group() -> dict:
    """A grouped notification as Alertmanager sends it: two alerts still firing, one resolved."""
    return {
        "receiver": "incident-console",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "HighErrorRate", "service": "payments-api", "severity": "critical",
                           "instance": "pay-1:9100", "job": "payments"},
                "annotations": {"summary": "5xx above 5% on payments-api", "runbook_url": "https://runbooks/5xx"},
                "startsAt": "2026-11-27T09:52:26.739266876+02:00",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph?g0.expr=rate%28http_5xx%5B5m%5D%29",
                "fingerprint": "c6eadffa33fcdf37",
            },
            {
                "status": "firing",
                "labels": {"alertname": "HighErrorRate", "instance": "pay-2:9100", "job": "payments"},
                "annotations": {"description": "5xx above 5% on pay-2"},
                "startsAt": "2026-11-27T07:53:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph?g0.expr=x",
                "fingerprint": "bc97ff14869b13e3",
            },
            {
                "status": "resolved",
                "labels": {"alertname": "HighLatency", "service": "checkout"},
                "annotations": {},
                "startsAt": "2026-11-27T07:00:00Z",
                "endsAt": "2026-11-27T07:45:10.5Z",
                "generatorURL": "",
                "fingerprint": "0a1b2c3d4e5f6071",
            },
        ],
        "groupLabels": {"alertname": "HighErrorRate"},
        "commonLabels": {"alertname": "HighErrorRate"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "version": "4",
        "groupKey": '{}/{severity="critical"}:{alertname="HighErrorRate"}',
        "truncatedAlerts": 0,
    }


def pagerduty_trigger() -> dict:
    """The trigger event of the Events API v2 documentation."""
    return {
        "payload": {
            "summary": "Example alert on host1.example.com",
            "timestamp": "2015-07-17T08:42:58.315+0000",
            "source": "primary-db",
            "severity": "info",
            "component": "postgres",
            "group": "prod-datapipe",
            "class": "deploy",
            "custom_details": {"ping time": "1500ms", "load avg": 0.75},
        },
        "routing_key": "samplekeyhere-0123456789abcdef",
        "dedup_key": "samplekeyhere",
        "images": [{"src": "https://example.com/logo.png", "href": "https://example.com/", "alt": "Example"}],
        "links": [{"href": "https://example.com/", "text": "Link text"}],
        "event_action": "trigger",
        "client": "Sample Monitoring Service",
        "client_url": "https://monitoring.example.com",
    }


def errors_of(parse, document: object) -> tuple[str, ...]:
    with pytest.raises(InvalidPayload) as caught:
        parse(body=document if isinstance(document, bytes) else body(document), received_at=RECEIVED)
    assert isinstance(caught.value, InvalidInput)  # the console's own error for bad input
    return caught.value.errors


# --- Alertmanager -------------------------------------------------------------------------------------------

def test_an_alertmanager_group_becomes_one_event_per_alert() -> None:
    events = parse_alertmanager(body=body(alertmanager_group()), received_at=RECEIVED)
    assert [e.action for e in events] == [EventAction.TRIGGER, EventAction.TRIGGER, EventAction.RESOLVE]
    assert [e.dedup_key for e in events] == ["c6eadffa33fcdf37", "bc97ff14869b13e3", "0a1b2c3d4e5f6071"]
    first, second, resolved = events
    assert first.source is SignalSource.ALERTMANAGER and first.kind is SignalKind.ALERT
    assert first.service == "payments-api"  # the service label wins over job
    assert second.service == "payments"  # no service label: the job
    assert first.summary == "5xx above 5% on payments-api"
    assert second.summary == "5xx above 5% on pay-2"  # no summary: the description
    assert resolved.summary == "HighLatency"  # no annotations: the alert name
    assert first.severity_hint == "critical" and second.severity_hint is None
    # A firing alert is observed when it started, a resolved one when it ended; nanoseconds and offsets survive.
    assert first.observed_at == datetime(2026, 11, 27, 7, 52, 26, 739266, tzinfo=UTC)
    assert resolved.observed_at == datetime(2026, 11, 27, 7, 45, 10, 500000, tzinfo=UTC)
    assert first.raw_ref.startswith("http://prometheus:9090/graph") and resolved.raw_ref == ""
    assert dict(first.labels)["instance"] == "pay-1:9100"
    assert first.attributes["runbook_url"] == "https://runbooks/5xx"
    assert first.attributes["alertmanager.receiver"] == "incident-console"
    assert first.attributes["alertmanager.group_key"] == '{}/{severity="critical"}:{alertname="HighErrorRate"}'
    assert first.attributes["alertmanager.external_url"] == "http://alertmanager:9093"
    assert "alertmanager.ends_at" not in first.attributes  # Go's zero time means "not set"
    assert resolved.attributes["alertmanager.ends_at"] == "2026-11-27T07:45:10.500000+00:00"
    assert "alertmanager.truncated_alerts" not in first.attributes


def test_truncated_alerts_are_recorded_on_every_event() -> None:
    group = alertmanager_group()
    group["truncatedAlerts"] = 7
    events = parse_alertmanager(body=body(group), received_at=RECEIVED)
    assert {e.attributes["alertmanager.truncated_alerts"] for e in events} == {"7"}


def test_without_a_fingerprint_the_dedup_key_is_a_stable_hash_of_the_sorted_labels() -> None:
    group = alertmanager_group()
    for alert in group["alerts"]:
        del alert["fingerprint"]
    reordered = alertmanager_group()
    for alert in reordered["alerts"]:
        del alert["fingerprint"]
        alert["labels"] = dict(reversed(list(alert["labels"].items())))
        alert["status"] = "resolved"
    keys = [e.dedup_key for e in parse_alertmanager(body=body(group), received_at=RECEIVED)]
    again = [e.dedup_key for e in parse_alertmanager(body=body(reordered), received_at=RECEIVED)]
    assert keys == again  # the resolve finds what the firing opened, whatever the label order
    assert len(set(keys)) == 3 and all(len(k) == 16 and int(k, 16) >= 0 for k in keys)


def test_a_missing_start_time_falls_back_to_the_time_received() -> None:
    group = alertmanager_group()
    del group["alerts"][0]["startsAt"]
    group["alerts"][2]["endsAt"] = "0001-01-01T00:00:00Z"
    events = parse_alertmanager(body=body(group), received_at=RECEIVED)
    assert events[0].observed_at == RECEIVED and events[2].observed_at == RECEIVED


def test_a_long_alertmanager_summary_is_shortened_not_refused() -> None:
    group = alertmanager_group()
    group["alerts"][0]["annotations"]["summary"] = "x" * 5000
    events = parse_alertmanager(body=body(group), received_at=RECEIVED)
    assert len(events[0].summary) == 1024 and events[0].summary.endswith("…")


def test_alertmanager_problems_name_the_alert_and_the_field() -> None:
    group = alertmanager_group()
    group["alerts"][2]["labels"] = ["alertname", "x"]
    group["alerts"][1]["status"] = "pending"
    group["alerts"][0]["labels"]["severity"] = 2
    group["alerts"][0]["startsAt"] = "yesterday"
    assert errors_of(parse_alertmanager, group) == (
        "alerts[0].labels.severity: expected a string, got a number",
        "alerts[0].startsAt: expected an ISO 8601 time with a UTC offset, e.g. 2026-11-27T10:00:00Z",
        'alerts[1].status: expected one of firing, resolved; got "pending"',
        "alerts[2].labels: expected an object, got an array",
    )


@pytest.mark.parametrize("change, expected", [
    (lambda g: g.update(version="3"), 'version: expected "4"'),
    (lambda g: g.pop("version"), "version: is required"),
    (lambda g: g.pop("alerts"), "alerts: is required"),
    (lambda g: g.update(alerts={}), "alerts: expected an array, got an object"),
    (lambda g: g.update(alerts=[]), "alerts: is empty"),
    (lambda g: g["alerts"].append("firing"), "alerts[3]: expected an object, got a string"),
    (lambda g: g["alerts"][1].pop("labels"), "alerts[1].labels: is required"),
    (lambda g: g["alerts"][1].update(labels={}), "alerts[1].labels: is empty"),
    (lambda g: g["alerts"][1].update(annotations={"summary": None}), "alerts[1].annotations.summary: expected a string, got null"),
    (lambda g: g["alerts"][1].update(fingerprint=12), "alerts[1].fingerprint: expected a string, got a number"),
    (lambda g: g["alerts"][1].update(endsAt="2026-11-27T07:45:10"), "alerts[1].endsAt: expected an ISO 8601 time with a UTC offset"),
])
def test_each_alertmanager_shape_error_is_reported_with_its_path(change, expected: str) -> None:
    group = alertmanager_group()
    change(group)
    errors = errors_of(parse_alertmanager, group)
    assert len(errors) == 1 and errors[0].startswith(expected), errors


def test_a_flood_of_problems_is_capped_with_a_count_of_the_rest() -> None:
    group = alertmanager_group()
    group["alerts"] = ["x"] * 50
    errors = errors_of(parse_alertmanager, group)
    assert len(errors) == 21 and errors[-1] == "... and 30 more problems"


# --- PagerDuty Events API v2 --------------------------------------------------------------------------------

def test_the_documented_pagerduty_trigger() -> None:
    (event,) = parse_pagerduty(body=body(pagerduty_trigger()), received_at=RECEIVED)
    assert event.source is SignalSource.PAGERDUTY and event.action is EventAction.TRIGGER
    assert event.dedup_key == "samplekeyhere"
    assert event.service == "primary-db" and event.summary == "Example alert on host1.example.com"
    assert event.severity_hint == "info" and event.kind is SignalKind.ALERT and event.value is None
    assert event.observed_at == datetime(2015, 7, 17, 8, 42, 58, 315000, tzinfo=UTC)  # "+0000" is read too
    assert dict(event.labels) == {"source": "primary-db", "component": "postgres", "group": "prod-datapipe",
                                  "class": "deploy"}
    assert dict(event.attributes) == {"ping time": "1500ms", "load avg": "0.75",
                                      "pagerduty.client": "Sample Monitoring Service",
                                      "pagerduty.client_url": "https://monitoring.example.com"}
    assert event.raw_ref == "https://monitoring.example.com"
    # The routing key is a credential: it is never carried into the event.
    assert "samplekeyhere-0123456789abcdef" not in repr(event)


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_documented_acknowledge_and_resolve_need_only_the_dedup_key(action: str) -> None:
    document = {"routing_key": "routingkeyhere", "dedup_key": "dedupkeyhere", "event_action": action}
    (event,) = parse_pagerduty(body=body(document), received_at=RECEIVED)
    assert event.action == EventAction(action) and event.dedup_key == "dedupkeyhere"
    assert event.observed_at == RECEIVED and event.summary == "" and event.service is None


def test_a_resolve_takes_what_it_can_from_a_payload_and_refuses_nothing_in_it() -> None:
    document = {"routing_key": "k", "dedup_key": "d", "event_action": "resolve",
                "payload": {"source": "ledger", "severity": "whatever", "summary": 3}}
    (event,) = parse_pagerduty(body=body(document), received_at=RECEIVED)
    assert event.service == "ledger" and event.summary == "" and event.severity_hint is None
    document["payload"] = "resolved by hand"
    (event,) = parse_pagerduty(body=body(document), received_at=RECEIVED)
    assert event.service is None and dict(event.attributes) == {}


def test_a_trigger_without_a_dedup_key_gets_a_stable_one_from_its_payload() -> None:
    first = pagerduty_trigger()
    del first["dedup_key"]
    later = json.loads(json.dumps(first))
    later["payload"]["timestamp"] = "2015-07-17T09:00:00Z"
    later["payload"]["custom_details"] = {"load avg": 3.5}
    later["payload"]["severity"] = "critical"
    other = json.loads(json.dumps(first))
    other["payload"]["source"] = "ledger"
    (a,) = parse_pagerduty(body=body(first), received_at=RECEIVED)
    (b,) = parse_pagerduty(body=body(later), received_at=RECEIVED)
    (c,) = parse_pagerduty(body=body(other), received_at=RECEIVED)
    assert a.dedup_key == b.dedup_key != c.dedup_key
    assert len(a.dedup_key) == 32


def test_service_falls_back_to_the_component_when_source_is_blank() -> None:
    document = {"event_action": "acknowledge", "dedup_key": "k", "payload": {"component": "mysql"}}
    (event,) = parse_pagerduty(body=body(document), received_at=RECEIVED)
    assert event.service == "mysql"


@pytest.mark.parametrize("change, expected", [
    (lambda d: d.update(event_action="escalate"),
     'event_action: expected one of trigger, acknowledge, resolve; got "escalate"'),
    (lambda d: d.pop("event_action"), "event_action: is required"),
    (lambda d: d.update(event_action="acknowledge", dedup_key=None), "dedup_key: is required to acknowledge an alert"),
    (lambda d: d.update(event_action="resolve") or d.pop("dedup_key"), "dedup_key: is required to resolve an alert"),
    (lambda d: d.update(dedup_key="k" * 256), "dedup_key: is 256 characters long; at most 255 are allowed"),
    (lambda d: d.pop("payload"), "payload: is required"),
    (lambda d: d.update(payload="down"), "payload: expected an object, got a string"),
    (lambda d: d["payload"].pop("summary"), "payload.summary: is required"),
    (lambda d: d["payload"].update(summary="s" * 1025), "payload.summary: is 1025 characters long; at most 1024"),
    (lambda d: d["payload"].update(source=""), "payload.source: must not be empty"),
    (lambda d: d["payload"].update(severity="fatal"),
     'payload.severity: expected one of critical, error, warning, info; got "fatal"'),
    (lambda d: d["payload"].update(timestamp=1437122578), "payload.timestamp: expected a string, got a number"),
    (lambda d: d.update(routing_key=12345), "routing_key: expected a string, got a number"),
])
def test_each_pagerduty_shape_error_is_reported_with_its_path(change, expected: str) -> None:
    document = pagerduty_trigger()
    change(document)
    errors = errors_of(parse_pagerduty, document)
    assert len(errors) == 1 and errors[0].startswith(expected), errors


def test_a_bad_routing_key_is_never_echoed() -> None:
    document = pagerduty_trigger()
    document["event_action"] = "samplekeyhere-0123456789abcdef"  # a key pasted into the wrong field
    document["routing_key"] = ["samplekeyhere-0123456789abcdef"]
    errors = errors_of(parse_pagerduty, document)
    assert errors == ("routing_key: expected a string, got an array",
                      "event_action: expected one of trigger, acknowledge, resolve; got a string of 30 characters")


# --- the generic form ---------------------------------------------------------------------------------------

def test_a_single_generic_event_with_defaults() -> None:
    (event,) = parse_generic(body=body({"summary": "Checkout failing for EU customers", "service": "checkout"}),
                             received_at=RECEIVED)
    assert event.source is SignalSource.GENERIC and event.action is EventAction.TRIGGER
    assert event.kind is SignalKind.ALERT and event.observed_at == RECEIVED
    assert event.service == "checkout" and event.value is None and event.raw_ref == ""
    assert len(event.dedup_key) == 32


def test_a_generic_batch_of_every_kind() -> None:
    document = {"events": [
        {"action": "trigger", "kind": "ticket", "dedup_key": "ZD-4411", "service": "billing-engine",
         "summary": "Invoices doubled for ACME", "severity": "SEV2", "value": 14,
         "observed_at": "2026-11-27T09:58:00+01:00", "labels": {"account": "acme"},
         "attributes": {"tickets": 14, "strategic": True, "note": None}, "link": "https://support/ZD-4411"},
        {"kind": "metric", "metric": "http_error_ratio", "value": 0.071, "service": "payments-api",
         "labels": {"region": "eu-west-1"}},
        {"kind": "sentiment", "service": "web-app", "summary": "CSM: strategic account unhappy", "value": -0.8},
        {"action": "resolve", "dedup_key": "ZD-4411"},
    ]}
    ticket, metric, sentiment, resolve = parse_generic(body=body(document), received_at=RECEIVED)
    assert ticket.kind is SignalKind.TICKET and ticket.dedup_key == "ZD-4411" and ticket.value == 14.0
    assert ticket.observed_at == datetime(2026, 11, 27, 8, 58, tzinfo=UTC) and ticket.severity_hint == "SEV2"
    assert dict(ticket.attributes) == {"tickets": "14", "strategic": "true", "note": ""}
    assert ticket.raw_ref == "https://support/ZD-4411"
    assert metric.kind is SignalKind.METRIC and metric.value == pytest.approx(0.071)
    assert dict(metric.labels) == {"region": "eu-west-1", "metric": "http_error_ratio"}
    assert metric.summary == "http_error_ratio = 0.071"
    assert sentiment.value == -0.8 and sentiment.kind is SignalKind.SENTIMENT
    assert resolve.action is EventAction.RESOLVE and resolve.summary == "" and resolve.kind is SignalKind.ALERT


def test_samples_of_one_metric_series_share_a_dedup_key() -> None:
    def sample(value: float, region: str = "eu") -> SignalEvent:
        document = {"kind": "metric", "metric": "latency_p99_ms", "value": value, "service": "public-api",
                    "labels": {"region": region}}
        return parse_generic(body=body(document), received_at=RECEIVED)[0]
    assert sample(120).dedup_key == sample(980).dedup_key != sample(120, "us").dedup_key


def test_generic_alerts_without_a_key_differ_by_summary() -> None:
    def alert(summary: str) -> str:
        return parse_generic(body=body({"service": "ledger", "summary": summary}), received_at=RECEIVED)[0].dedup_key
    assert alert("Ledger lag") == alert("Ledger lag") != alert("Ledger totals wrong")


@pytest.mark.parametrize("event, expected", [
    ({"summary": "s", "dedupkey": "x"}, "events[0].dedupkey: unknown field; did you mean 'dedup_key'?"),
    ({"service": "ledger"}, "events[0].summary: is required to trigger"),
    ({"kind": "metric", "value": 3}, "events[0].metric: is required"),
    ({"kind": "metric", "metric": "m"}, "events[0].value: is required"),
    ({"kind": "metric", "metric": "m", "value": True}, "events[0].value: expected a number, got a boolean"),
    ({"kind": "metric", "metric": "m", "value": "3"}, "events[0].value: expected a number, got a string"),
    ({"summary": "s", "metric": "m"}, 'events[0].metric: only metric samples carry a metric'),
    ({"kind": "metric", "metric": "m", "value": 1, "labels": {"metric": "n"}}, "events[0].labels.metric: clashes"),
    ({"kind": "page", "summary": "s"}, 'events[0].kind: expected one of alert, metric, ticket, sentiment; got "page"'),
    ({"action": "acknowledge"}, "events[0].dedup_key: is required to acknowledge a signal"),
    ({"summary": "s", "observed_at": "2026-11-27T10:00:00"}, "events[0].observed_at: expected an ISO 8601 time with a UTC offset"),
    ({"summary": "s", "labels": {"region": 1}}, "events[0].labels.region: expected a string, got a number"),
    ({"summary": "s", "attributes": {"a b": {"deep": 1}}}, 'events[0].attributes["a b"]: expected a string, number, boolean or null, got an object'),
    ({"summary": "s", "attributes": []}, "events[0].attributes: expected an object, got an array"),
    ({"summary": "s", "service": 7}, "events[0].service: expected a string, got a number"),
])
def test_each_generic_shape_error_is_reported_with_its_path(event: dict, expected: str) -> None:
    errors = errors_of(parse_generic, {"events": [event]})
    assert len(errors) == 1 and errors[0].startswith(expected), errors


def test_a_number_too_large_for_a_float_is_out_of_range() -> None:
    raw = b'{"events": [{"kind": "metric", "metric": "m", "value": 1e400}]}'
    assert errors_of(parse_generic, raw) == ("events[0].value: is out of range",)


def test_a_single_generic_event_reports_paths_from_the_top() -> None:
    assert errors_of(parse_generic, {"summary": "s", "value": "high"}) == ("value: expected a number, got a string",)


def test_a_generic_batch_is_refused_whole_when_one_event_is_wrong() -> None:
    document = {"events": [{"summary": "fine"}, {"summary": "fine too"}, {"summary": 3}]}
    assert errors_of(parse_generic, document) == ("events[2].summary: expected a string, got a number",)


@pytest.mark.parametrize("document, expected", [
    ({"events": []}, "events: is empty"),
    ({"events": {}}, "events: expected an array, got an object"),
    ({"events": [{"summary": "s"}], "source": "x"}, "source: unknown field"),
    ({"events": [[]]}, "events[0]: expected an object, got an array"),
])
def test_generic_envelope_errors(document: object, expected: str) -> None:
    errors = errors_of(parse_generic, document)
    assert errors[0].startswith(expected), errors


# --- bodies that are not JSON objects ------------------------------------------------------------------------

@pytest.mark.parametrize("parse", [parse_alertmanager, parse_pagerduty, parse_generic])
@pytest.mark.parametrize("raw, expected", [
    (b"", "body: is empty; expected a JSON object"),
    (b'{"version": "4", "alerts": [', "body: not valid JSON at line 1 column 29: Expecting value"),
    (b'{"a": 1,\n "b": }', "body: not valid JSON at line 2 column 7"),
    (b'{"value": NaN}', "body: not valid JSON: NaN is not a JSON number"),
    (b'{"value": Infinity}', "body: not valid JSON: Infinity is not a JSON number"),
    (b'{"summary": "\xff\xfe\xfa"}', "body: is not UTF-8 text"),
    (b"[" * 100_000 + b"]" * 100_000, "body: JSON is nested too deeply"),
    (b'[{"summary": "s"}]', "body: expected an object, got an array"),
    (b'"firing"', "body: expected an object, got a string"),
    (b"null", "body: expected an object, got null"),
])
def test_bodies_that_are_not_json_objects(parse, raw: bytes, expected: str) -> None:
    errors = errors_of(parse, raw)
    assert len(errors) == 1 and errors[0].startswith(expected), errors


def test_an_event_is_frozen_and_its_mappings_are_read_only() -> None:
    labels = {"service": "ledger", "alertname": "x"}
    event = SignalEvent(source=SignalSource.GENERIC, action=EventAction.TRIGGER, dedup_key="k", service="ledger",
                        summary="s", severity_hint=None, value=None, observed_at=RECEIVED, kind=SignalKind.ALERT,
                        labels=labels, attributes={}, raw_ref="")
    labels["service"] = "changed"
    assert event.labels["service"] == "ledger"
    with pytest.raises(TypeError):
        event.labels["service"] = "x"  # type: ignore[index]
    with pytest.raises(AttributeError):
        event.summary = "x"  # type: ignore[misc]
    with pytest.raises(ValueError, match="timezone-aware"):
        SignalEvent(source=SignalSource.GENERIC, action=EventAction.TRIGGER, dedup_key="k", service=None,
                    summary="s", severity_hint=None, value=None, observed_at=RECEIVED.replace(tzinfo=None),
                    kind=SignalKind.ALERT, labels={}, attributes={}, raw_ref="")


def test_times_are_converted_to_utc() -> None:
    (event,) = parse_generic(body=body({"summary": "s", "observed_at": "2026-11-27T12:00:00-05:00"}),
                             received_at=RECEIVED)
    assert event.observed_at == datetime(2026, 11, 27, 17, 0, tzinfo=UTC)
    assert event.observed_at.utcoffset() == timedelta(0)
