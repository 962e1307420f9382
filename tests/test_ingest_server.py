"""The ingest server over real loopback sockets: documented Alertmanager and PagerDuty Events v2 payloads, the
generic form, every refusal status, a flood of bad and slow clients, and concurrent senders. The sink must be
called exactly once per good request, with every event in it, and never for a bad one."""
from __future__ import annotations

import http.client
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from datetime import datetime, timezone

import pytest

from console.clock import ManualClock
from console.errors import DatabaseUnavailable, InvalidInput
from console.ingest import (
    EventAction,
    IngestOutcome,
    IngestResult,
    IngestServer,
    SignalEvent,
    SignalSource,
)
from tests.test_ingest_formats import alertmanager_group, pagerduty_trigger

TOKEN = "tok-3f9a2c7e51d04b8a9e6f0c1d2b3a4e5f"
AUTH = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
JSON = {"Content-Type": "application/json"}
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)


class RecordingSink:
    """Keeps every call; answers as the test tells it to (accept, report overload, or raise)."""

    def __init__(self) -> None:
        self.calls: list[tuple[SignalEvent, ...]] = []
        self.lock = threading.Lock()
        self.behaviour: Callable[[tuple[SignalEvent, ...]], IngestResult] | None = None

    def __call__(self, events: tuple[SignalEvent, ...]) -> IngestResult:
        with self.lock:
            self.calls.append(events)
        if self.behaviour is not None:
            return self.behaviour(events)
        return IngestResult(outcome=IngestOutcome.ACCEPTED, accepted=len(events))


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def server(sink: RecordingSink) -> Iterator[IngestServer]:
    with IngestServer(sink=sink, token=TOKEN, clock=ManualClock(NOW), port=0) as running:
        yield running


def post(port: int, path: str, document: object, headers: dict[str, str] | None = None,
         ) -> tuple[int, dict, http.client.HTTPResponse]:
    """POST on a fresh connection and return the status, the decoded JSON reply and the response."""
    payload = document if isinstance(document, bytes) else json.dumps(document).encode()
    with closing(http.client.HTTPConnection("127.0.0.1", port, timeout=10)) as connection:
        connection.request("POST", path, body=payload, headers=AUTH if headers is None else headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read()), response


def raw(port: int, data: bytes) -> tuple[int, dict, http.client.HTTPResponse]:
    """Send bytes as they are (for what http.client will not send) and read one response."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, json.loads(response.read()), response


def generic(summary: str = "Checkout failing", **fields: object) -> dict:
    return {"summary": summary, "service": "checkout", **fields}


# --- the documented payloads ---------------------------------------------------------------------------------

def test_an_alertmanager_group_is_accepted_and_sunk_in_one_call(server: IngestServer, sink: RecordingSink) -> None:
    status, reply, response = post(server.port, "/v1/alertmanager", alertmanager_group())
    assert status == 202
    assert reply == {"status": "accepted", "events": 3,
                     "dedup_keys": ["c6eadffa33fcdf37", "bc97ff14869b13e3", "0a1b2c3d4e5f6071"]}
    assert response.getheader("Content-Type") == "application/json"
    assert response.getheader("Date") == "Fri, 27 Nov 2026 10:00:00 GMT"  # the injected clock
    (events,) = sink.calls
    assert [e.action for e in events] == [EventAction.TRIGGER, EventAction.TRIGGER, EventAction.RESOLVE]
    assert {e.source for e in events} == {SignalSource.ALERTMANAGER}


def test_pagerduty_trigger_acknowledge_resolve_with_the_routing_key_in_the_body(
        server: IngestServer, sink: RecordingSink) -> None:
    trigger = pagerduty_trigger()
    trigger["routing_key"] = TOKEN
    del trigger["dedup_key"]
    status, reply, _ = post(server.port, "/v2/enqueue", trigger, JSON)
    assert status == 202 and reply["status"] == "success" and reply["message"] == "Event processed"
    key = reply["dedup_key"]  # generated, as PagerDuty does, and handed back for the follow-ups
    for action in ("acknowledge", "resolve"):
        status, reply, _ = post(server.port, "/v2/enqueue",
                                {"routing_key": TOKEN, "dedup_key": key, "event_action": action}, JSON)
        assert (status, reply) == (202, {"status": "success", "message": "Event processed", "dedup_key": key})
    assert [(c[0].action, c[0].dedup_key) for c in sink.calls] == [
        (EventAction.TRIGGER, key), (EventAction.ACKNOWLEDGE, key), (EventAction.RESOLVE, key)]
    assert sink.calls[0][0].service == "primary-db"


def test_pagerduty_with_a_bearer_header_needs_no_routing_key(server: IngestServer, sink: RecordingSink) -> None:
    trigger = pagerduty_trigger()
    del trigger["routing_key"]
    status, reply, _ = post(server.port, "/v2/enqueue", trigger)
    assert (status, reply["dedup_key"]) == (202, "samplekeyhere") and len(sink.calls) == 1


def test_generic_single_event_and_batch(server: IngestServer, sink: RecordingSink) -> None:
    status, reply, _ = post(server.port, "/v1/events", generic(dedup_key="chk-1"))
    assert (status, reply) == (202, {"status": "accepted", "events": 1, "dedup_keys": ["chk-1"]})
    batch = {"events": [generic(dedup_key=f"k{n}") for n in range(50)] +
             [{"kind": "metric", "metric": "error_ratio", "value": 0.2, "service": "ledger"}]}
    status, reply, _ = post(server.port, "/v1/events", batch)
    assert status == 202 and reply["events"] == 51
    assert [len(c) for c in sink.calls] == [1, 51]
    assert sink.calls[1][-1].value == 0.2 and sink.calls[1][-1].observed_at == NOW


def test_requests_on_one_keep_alive_connection(server: IngestServer, sink: RecordingSink) -> None:
    with closing(http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)) as connection:
        for n in range(20):
            connection.request("POST", "/v1/events", body=json.dumps(generic(dedup_key=str(n))), headers=AUTH)
            response = connection.getresponse()
            assert response.status == 202 and response.getheader("Connection") == "keep-alive"
            response.read()
    assert [c[0].dedup_key for c in sink.calls] == [str(n) for n in range(20)]


def test_expect_100_continue_is_answered(server: IngestServer, sink: RecordingSink) -> None:
    body = json.dumps(generic()).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Authorization: Bearer " + TOKEN.encode() + b"\r\nExpect: 100-continue\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
        assert sock.recv(25) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(body)
        response = http.client.HTTPResponse(sock)
        response.begin()
        assert response.status == 202
        response.read()
    assert len(sink.calls) == 1


def test_health_needs_no_token(server: IngestServer) -> None:
    with closing(http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)) as connection:
        connection.request("GET", "/healthz")
        response = connection.getresponse()
        assert (response.status, json.loads(response.read())) == (200, {"status": "ok"})


# --- refusals ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path, document, headers", [
    ("/v1/events", generic(), JSON),
    ("/v1/events", generic(), {**JSON, "Authorization": "Bearer wrong-token-0000000000000000"}),
    ("/v1/events", generic(), {**JSON, "Authorization": f"Basic {TOKEN}"}),
    ("/v1/events", generic(), {**JSON, "Authorization": f"Bearer {TOKEN[:-1]}"}),
    ("/v1/events", generic(), {**JSON, "Authorization": f"Bearer {TOKEN}x"}),
    ("/v1/events", generic(), {**JSON, "Authorization": "Bearer"}),
    ("/v1/alertmanager", alertmanager_group(), JSON),
    ("/v1/events", {**generic(), "routing_key": TOKEN}, JSON),  # a body key counts on /v2/enqueue only
    ("/v2/enqueue", {**pagerduty_trigger(), "routing_key": "wrong-0123456789abcdef"}, JSON),
    ("/v2/enqueue", {**pagerduty_trigger(), "routing_key": None}, JSON),
    ("/v2/enqueue", pagerduty_trigger(), {**JSON, "Authorization": "Bearer nope-0000000000000000"}),
    ("/v2/enqueue", b'{"routing_key": "' + TOKEN.encode() + b'", ', JSON),  # unreadable: no key proven
])
def test_unauthenticated_requests_get_401_and_never_reach_the_sink(
        server: IngestServer, sink: RecordingSink, path: str, document: object, headers: dict) -> None:
    status, reply, response = post(server.port, path, document, headers)
    assert status == 401 and reply["status"] == "unauthorized"
    assert response.getheader("WWW-Authenticate", "").startswith("Bearer")
    assert sink.calls == []


def test_not_found_and_wrong_methods(server: IngestServer, sink: RecordingSink) -> None:
    status, reply, _ = post(server.port, "/v1/alerts", generic())
    assert status == 404 and reply["status"] == "not_found" and "/v1/events" in reply["message"]
    with closing(http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)) as connection:
        connection.request("GET", "/v1/events", headers=AUTH)
        response = connection.getresponse()
        assert response.status == 405 and response.getheader("Allow") == "POST"
        assert json.loads(response.read())["status"] == "method_not_allowed"
    status, _, response = post(server.port, "/healthz", generic())
    assert status == 405 and response.getheader("Allow") == "GET"
    assert sink.calls == []


def test_a_body_without_a_length_gets_411(server: IngestServer, sink: RecordingSink) -> None:
    head = b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer "
    status, reply, _ = raw(server.port, head + TOKEN.encode() + b"\r\n\r\n")
    assert status == 411 and reply["status"] == "length_required"
    chunked = head + TOKEN.encode() + b"\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n0\r\n\r\n"
    status, reply, _ = raw(server.port, chunked)
    assert status == 411 and "Content-Length" in reply["message"]
    assert sink.calls == []


def test_an_oversized_body_is_refused_from_its_length_before_a_byte_is_read(
        server: IngestServer, sink: RecordingSink) -> None:
    # Only the head is sent: the reply comes without the server waiting for 600 KB that never arrive.
    status, reply, response = raw(server.port, b"POST /v1/alertmanager HTTP/1.1\r\nHost: x\r\n"
                                               b"Content-Type: application/json\r\nAuthorization: Bearer "
                                               + TOKEN.encode() + b"\r\nContent-Length: 600000\r\n\r\n")
    assert status == 413 and reply["status"] == "too_large" and "524288" in reply["message"]
    assert response.getheader("Connection") == "close"
    # Exactly at the limit is still read (and refused only for what it holds).
    padded = b'{"summary": "' + b"x" * (512 * 1024 - 15) + b'"}'
    assert len(padded) == 512 * 1024
    status, reply, _ = post(server.port, "/v1/events", padded)
    assert status == 400 and reply["errors"] == ["summary: is 524273 characters long; at most 1024 are allowed"]
    status, _, _ = post(server.port, "/v2/enqueue", b" " * (512 * 1024 + 1), JSON)
    assert status == 413
    assert sink.calls == []


def test_no_more_than_the_declared_length_is_ever_read(server: IngestServer, sink: RecordingSink) -> None:
    body = json.dumps(generic()).encode()
    data = (b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer "
            + TOKEN.encode() + b"\r\nContent-Length: 10\r\n\r\n" + body)
    status, reply, _ = raw(server.port, data)
    assert status == 400 and reply["errors"][0].startswith("body: not valid JSON at line 1 column")
    assert sink.calls == []


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "application/json; charset=latin-1", "application/jsonx"])
def test_a_body_that_is_not_declared_json_gets_415(server: IngestServer, sink: RecordingSink,
                                                  content_type: str | None) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    if content_type:
        headers["Content-Type"] = content_type
    status, reply, _ = post(server.port, "/v1/events", generic(), headers)
    assert status == 415 and reply["message"] == "expected Content-Type: application/json"
    assert sink.calls == []


def test_json_with_a_charset_is_fine(server: IngestServer) -> None:
    status, _, _ = post(server.port, "/v1/events", generic(),
                        {**AUTH, "Content-Type": "Application/JSON; charset=UTF-8"})
    assert status == 202


@pytest.mark.parametrize("path, document, expected", [
    ("/v1/events", b'{"summary": "Checkout', ["body: not valid JSON at line 1 column 13: Unterminated string"]),
    ("/v1/events", b"", ["body: is empty; expected a JSON object"]),
    ("/v1/events", {"events": [generic(), {"summary": 5, "value": "high"}]},
     ["events[1].summary: expected a string, got a number", "events[1].value: expected a number, got a string"]),
    ("/v1/alertmanager", {**alertmanager_group(), "alerts": [{"status": "firing", "labels": []}]},
     ["alerts[0].labels: expected an object, got an array"]),
    ("/v2/enqueue", {"event_action": "resolve"}, ["dedup_key: is required to resolve an alert"]),
])
def test_malformed_payloads_get_400_saying_what_and_where(server: IngestServer, sink: RecordingSink, path: str,
                                                         document: object, expected: list[str]) -> None:
    status, reply, _ = post(server.port, path, document)
    assert status == 400 and reply["status"] == "invalid" and reply["message"] == "the payload is invalid"
    assert [e[:len(x)] for e, x in zip(reply["errors"], expected)] == expected and len(reply["errors"]) == len(expected)
    assert sink.calls == []


def test_a_token_echoed_by_a_sender_mistake_is_redacted(server: IngestServer) -> None:
    short = "tok-0123456789abcdef"  # 20 characters: short enough to be echoed as a wrong word
    with IngestServer(sink=RecordingSink(), token=short, clock=ManualClock(NOW), port=0) as other:
        status, reply, _ = post(other.port, "/v1/events", {"summary": "s", "kind": short},
                                {**JSON, "Authorization": f"Bearer {short}"})
    assert status == 400 and short not in json.dumps(reply) and "[redacted]" in reply["errors"][0]


def test_an_overloaded_sink_gets_429_or_503_for_alertmanager(server: IngestServer, sink: RecordingSink) -> None:
    sink.behaviour = lambda events: IngestResult(outcome=IngestOutcome.OVERLOADED, retry_after_seconds=7,
                                                 message="signal queue full")
    status, reply, response = post(server.port, "/v1/events", generic())
    assert (status, reply["status"], reply["message"]) == (429, "overloaded", "signal queue full")
    assert response.getheader("Retry-After") == "7"
    status, _, _ = post(server.port, "/v2/enqueue", pagerduty_trigger())
    assert status == 429
    # Alertmanager drops a notification answered 4xx and retries only 5xx: busy must be 503 for it.
    status, reply, response = post(server.port, "/v1/alertmanager", alertmanager_group())
    assert (status, reply["status"], response.getheader("Retry-After")) == (503, "overloaded", "7")
    assert len(sink.calls) == 3


def test_an_unreachable_database_gets_503_and_the_server_carries_on(server: IngestServer,
                                                                   sink: RecordingSink) -> None:
    def down(events: tuple[SignalEvent, ...]) -> IngestResult:
        raise DatabaseUnavailable("cannot connect to 127.0.0.1:5432")
    sink.behaviour = down
    status, reply, response = post(server.port, "/v1/alertmanager", alertmanager_group())
    assert status == 503 and reply["status"] == "unavailable" and "cannot connect" in reply["message"]
    assert response.getheader("Retry-After") == "5"
    sink.behaviour = None
    assert post(server.port, "/v1/alertmanager", alertmanager_group())[0] == 202


def test_a_sink_refusal_is_400_and_a_sink_crash_is_500(server: IngestServer, sink: RecordingSink,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    def refuse(events: tuple[SignalEvent, ...]) -> IngestResult:
        raise InvalidInput("service 'nope' is not in the service graph")
    sink.behaviour = refuse
    status, reply, _ = post(server.port, "/v1/events", generic())
    assert (status, reply["message"]) == (400, "service 'nope' is not in the service graph")

    def crash(events: tuple[SignalEvent, ...]) -> IngestResult:
        raise RuntimeError("bug")
    sink.behaviour = crash
    with caplog.at_level(logging.ERROR, logger="console.ingest"):
        status, reply, _ = post(server.port, "/v1/events", generic())
    assert status == 500 and reply["status"] == "error" and "bug" not in reply["message"]
    assert "the sink failed" in caplog.text
    sink.behaviour = lambda events: "ok"  # type: ignore[assignment,return-value]
    with caplog.at_level(logging.ERROR, logger="console.ingest"):
        assert post(server.port, "/v1/events", generic())[0] == 500
    sink.behaviour = None
    assert post(server.port, "/v1/events", generic())[0] == 202


@pytest.mark.parametrize("data, status", [
    (b"GARBAGE\r\n\r\n", 400),
    (b"POST /v1/events SPDY/3\r\n\r\n", 400),
    (b"POST /v1/events HTTP/1.1\r\n bad fold\r\n\r\n", 400),
    (b"POST /v1/events HTTP/1.1\r\nContent-Length: -5\r\n\r\n", 400),
    (b"POST /v1/events HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400),
    (b"GET /healthz HTTP/1.1\r\n" + b"X-Pad: y\r\n" * 101 + b"\r\n", 431),
    (b"GET /healthz HTTP/1.1\r\nX-Big: " + b"y" * 20_000 + b"\r\n\r\n", 431),
])
def test_malformed_http_is_refused(server: IngestServer, sink: RecordingSink, data: bytes, status: int) -> None:
    assert raw(server.port, data)[0] == status
    assert sink.calls == []


# --- floods, slow clients, concurrency -----------------------------------------------------------------------

def bad_requests(port: int) -> list[bytes]:
    auth = b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"
    return [
        b"POST /v1/events HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",  # 401
        b"POST /v1/events HTTP/1.1\r\nContent-Type: application/json\r\n" + auth + b"Content-Length: 5\r\n\r\n{\"a\":",
        b"POST /v1/events HTTP/1.1\r\nContent-Type: text/plain\r\n" + auth + b"Content-Length: 2\r\n\r\n{}",
        b"POST /v1/alertmanager HTTP/1.1\r\nContent-Type: application/json\r\n" + auth
        + b"Content-Length: 99999999\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",  # a TLS hello on the plain port
        b"DELETE /v1/events HTTP/1.1\r\n\r\n",
        (b"POST /v2/enqueue HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 27\r\n\r\n"
         b'{"routing_key": "guess-me"}'),
        b"POST /nope HTTP/1.1\r\n\r\n",
    ]


def test_a_flood_of_500_bad_requests_then_a_good_one_succeeds_promptly(
        server: IngestServer, sink: RecordingSink) -> None:
    kinds = bad_requests(server.port)

    def send(n: int) -> int:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(kinds[n % len(kinds)])
            reply = sock.recv(64)
            return int(reply.split()[1]) if reply.startswith(b"HTTP/1.1 ") else 0

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(send, range(500)))
    assert all(400 <= s < 500 for s in statuses), sorted(set(statuses))
    assert sink.calls == []
    started = time.monotonic()
    status, _, _ = post(server.port, "/v1/alertmanager", alertmanager_group())
    assert status == 202 and time.monotonic() - started < 1.0
    assert len(sink.calls) == 1


def test_slow_and_silent_clients_neither_block_others_nor_stay_for_ever(sink: RecordingSink) -> None:
    with IngestServer(sink=sink, token=TOKEN, clock=ManualClock(NOW), port=0, request_timeout=1.0,
                      idle_timeout=1.0) as server:
        slow = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(100)]
        try:
            for n, sock in enumerate(slow):
                if n % 2:  # half send part of a head and stop; the other half say nothing at all
                    sock.sendall(b"POST /v1/events HTTP/1.1\r\nContent-Type: appl")
            started = time.monotonic()
            assert post(server.port, "/v1/events", generic())[0] == 202
            assert time.monotonic() - started < 0.9  # answered before any slow client timed out
            # Each slow client is cut off after the request timeout: the server closes, recv sees the end.
            for sock in slow:
                assert sock.recv(100) == b""
            assert time.monotonic() - started < 5
            # A body that stops half-way is given up on as well, and never reaches the sink.
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
                sock.sendall(b"POST /v1/events HTTP/1.1\r\nContent-Type: application/json\r\nAuthorization: Bearer "
                             + TOKEN.encode() + b"\r\nContent-Length: 100\r\n\r\n{\"summary\":")
                assert sock.recv(100) == b""
        finally:
            for sock in slow:
                sock.close()
    assert len(sink.calls) == 1


def test_an_idle_keep_alive_connection_is_closed_quietly(sink: RecordingSink) -> None:
    with (IngestServer(sink=sink, token=TOKEN, clock=ManualClock(NOW), port=0, idle_timeout=0.3) as server,
          socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock):
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        response = http.client.HTTPResponse(sock)
        response.begin()
        assert response.status == 200 and response.getheader("Connection") == "keep-alive"
        response.read()
        assert sock.recv(100) == b""  # no unsolicited reply, just the end of the connection


def test_connections_beyond_the_limit_are_turned_away(sink: RecordingSink) -> None:
    with IngestServer(sink=sink, token=TOKEN, clock=ManualClock(NOW), port=0, max_connections=5) as server:
        held = []
        try:
            for _ in range(5):
                connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
                connection.request("GET", "/healthz")
                connection.getresponse().read()  # now surely accepted, and held open (keep-alive)
                held.append(connection)
            status, reply, _ = post(server.port, "/v1/events", generic())
            assert status == 503 and "too many connections" in reply["message"]
            held.pop().close()
            # The freed slot is taken back once the server has seen the close.
            deadline = time.monotonic() + 5
            while (status := post(server.port, "/v1/events", generic())[0]) == 503 and time.monotonic() < deadline:
                pass
            assert status == 202
        finally:
            for connection in held:
                connection.close()


def test_concurrent_senders_each_get_their_events_in_exactly_once(server: IngestServer,
                                                                 sink: RecordingSink) -> None:
    def sender(client: int) -> list[int]:
        statuses = []
        with closing(http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)) as connection:
            for n in range(25):
                if n % 3 == 0:
                    path, document = "/v1/alertmanager", alertmanager_group()
                    for i, alert in enumerate(document["alerts"]):
                        alert["fingerprint"] = f"am-{client}-{n}-{i}"
                elif n % 3 == 1:
                    path, document = "/v2/enqueue", {**pagerduty_trigger(), "dedup_key": f"pd-{client}-{n}"}
                else:
                    path, document = "/v1/events", {"events": [generic(dedup_key=f"g-{client}-{n}-{i}")
                                                               for i in range(4)]}
                connection.request("POST", path, body=json.dumps(document), headers=AUTH)
                response = connection.getresponse()
                response.read()
                statuses.append(response.status)
        return statuses

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(sender, range(8)))
    assert all(s == 202 for statuses in results for s in statuses)
    assert len(sink.calls) == 8 * 25
    keys = [e.dedup_key for call in sink.calls for e in call]
    assert len(keys) == len(set(keys)) == 8 * (9 * 3 + 8 * 1 + 8 * 4)


def test_the_token_is_never_logged(sink: RecordingSink, caplog: pytest.LogCaptureFixture) -> None:
    wrong = "wrong-" + TOKEN[6:]
    with (caplog.at_level(logging.DEBUG, logger="console.ingest"),
          IngestServer(sink=sink, token=TOKEN, clock=ManualClock(NOW), port=0) as server):
        post(server.port, "/v1/events", generic())
        post(server.port, "/v1/events", generic(), {**JSON, "Authorization": f"Bearer {wrong}"})
        post(server.port, "/v2/enqueue", {**pagerduty_trigger(), "routing_key": TOKEN}, JSON)
        post(server.port, "/v2/enqueue", {**pagerduty_trigger(), "routing_key": wrong}, JSON)
        post(server.port, "/v1/events", {"summary": 1})
        assert TOKEN not in repr(server)
    assert "401" in caplog.text and "400" in caplog.text  # refusals are logged ...
    assert TOKEN not in caplog.text and wrong not in caplog.text  # ... without any credential


# --- lifecycle -----------------------------------------------------------------------------------------------

def test_loopback_by_default_and_port_zero_picks_a_free_port(sink: RecordingSink) -> None:
    server = IngestServer(sink=sink, token=TOKEN, clock=ManualClock(NOW), port=0)
    assert server.port == 0
    server.start()
    try:
        assert server.port > 0
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            assert sock.getpeername()[0] == "127.0.0.1"
        with pytest.raises(OSError):  # the port is taken: a second server says so at start
            IngestServer(sink=sink, token=TOKEN, clock=ManualClock(NOW), port=server.port).start()
    finally:
        server.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=10).close()
    server.stop()  # stopping twice is harmless


def test_stop_returns_promptly_with_idle_connections_open(sink: RecordingSink) -> None:
    server = IngestServer(sink=sink, token=TOKEN, clock=ManualClock(NOW), port=0)
    server.start()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as idle:
        idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        response = http.client.HTTPResponse(idle)
        response.begin()
        response.read()  # the connection is now surely accepted, and stays open (keep-alive)
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 2
        assert idle.recv(10) == b""


def test_stop_lets_a_request_already_with_the_sink_finish(sink: RecordingSink) -> None:
    entered, release = threading.Event(), threading.Event()

    def slow(events: tuple[SignalEvent, ...]) -> IngestResult:
        entered.set()
        release.wait(10)
        return IngestResult(outcome=IngestOutcome.ACCEPTED, accepted=len(events))
    sink.behaviour = slow
    server = IngestServer(sink=sink, token=TOKEN, clock=ManualClock(NOW), port=0)
    server.start()
    with ThreadPoolExecutor(max_workers=2) as pool:
        reply = pool.submit(post, server.port, "/v1/events", generic())
        assert entered.wait(10)
        stopping = pool.submit(server.stop)
        release.set()
        status, _, response = reply.result(timeout=10)
        stopping.result(timeout=10)
    assert status == 202 and response.getheader("Connection") == "close"


def test_a_short_token_is_refused() -> None:
    with pytest.raises(InvalidInput, match="at least 16 characters"):
        IngestServer(sink=RecordingSink(), token="secret", clock=ManualClock(NOW), port=0)
