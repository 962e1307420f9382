"""Ingest server over loopback: accepted events per second and request latency, with keep-alive HTTP clients.

The server is the real IngestServer (parsing, auth, one sink call per request) with a trivial in-memory sink, so
this measures the HTTP and parsing path, not the database. Clients run in their own processes (http.client,
one keep-alive connection each) so they do not share the server's interpreter lock. Three runs:
  1. one event per request (PagerDuty Events v2 triggers with the routing key in the body, and generic single
     events with a bearer token): the hardest case per event;
  2. Alertmanager notifications of 10 grouped alerts;
  3. run 1 again while two attackers flood the server with bad requests and hold 100 slow connections open.
Every 202 is checked against what the sink received: an event counted by a client but not sunk is a MISS.

Target (issue 4): >= 1,000 accepted events/s sustained over loopback. Latency has no stated target; we hold
ourselves to p99 <= 50 ms per request.
Run: .venv/bin/python bench/ingest.py [--events 20000] [--clients 4]
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import multiprocessing as mp  # noqa: E402
import random  # noqa: E402
import secrets  # noqa: E402
import socket  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from datetime import datetime, timedelta, timezone  # noqa: E402
from typing import Any  # noqa: E402

from bench._report import machine, report, report_rate  # noqa: E402
from console.clock import SystemClock  # noqa: E402
from console.ingest import IngestOutcome, IngestResult, IngestServer, SignalEvent  # noqa: E402

# The demo organisation's services and what goes wrong with them.
SERVICES = ["identity", "primary-db", "edge-gateway", "event-bus", "sso-connector", "ledger", "payments-api",
            "billing-engine", "notifications", "search-index", "web-app", "public-api", "checkout",
            "reporting-exports"]
ALERTS = ["HighErrorRate", "HighLatencyP99", "ReplicaLagHigh", "PodCrashLooping", "DiskAlmostFull",
          "CertificateExpiring", "QueueBacklogGrowing", "SLOBurnRateFast"]
SEVERITIES = ["critical", "error", "warning", "info"]
WARMUP = 200


class MemorySink:
    """Keeps a count of what it is given, as a sink that stores nothing would."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls = 0
        self.events = 0

    def __call__(self, events: tuple[SignalEvent, ...]) -> IngestResult:
        with self.lock:
            self.calls += 1
            self.events += len(events)
        return IngestResult(outcome=IngestOutcome.ACCEPTED, accepted=len(events))


def _pagerduty(rng: random.Random, token: str, n: int) -> dict[str, Any]:
    service = rng.choice(SERVICES)
    return {"routing_key": token, "event_action": "trigger", "dedup_key": f"pd-{service}-{n}",
            "client": "bench", "client_url": "https://monitoring.example/bench",
            "payload": {"summary": f"{rng.choice(ALERTS)} on {service}", "source": service,
                        "severity": rng.choice(SEVERITIES), "component": "api",
                        "timestamp": datetime.now(timezone.utc).isoformat(),
                        "custom_details": {"error_ratio": round(rng.random(), 3), "region": "eu-west-1"}}}


def _generic(rng: random.Random, n: int) -> dict[str, Any]:
    if n % 2:
        return {"kind": "metric", "metric": "http_error_ratio", "value": round(rng.random(), 4),
                "service": rng.choice(SERVICES), "labels": {"region": rng.choice(["eu-west-1", "us-east-1"])}}
    return {"kind": "ticket", "dedup_key": f"ZD-{n}", "service": rng.choice(SERVICES),
            "summary": "Customer reports failed payments", "attributes": {"account": f"acct-{n % 97}"}}


def _alertmanager(rng: random.Random, n: int) -> dict[str, Any]:
    start = datetime.now(timezone.utc) - timedelta(minutes=5)
    alerts = []
    for i in range(10):
        service = rng.choice(SERVICES)
        labels = {"alertname": rng.choice(ALERTS), "service": service, "severity": rng.choice(SEVERITIES),
                  "instance": f"{service}-{i}:9100", "job": service}
        alerts.append({"status": "resolved" if i == 9 else "firing", "labels": labels,
                       "annotations": {"summary": f"{labels['alertname']} on {service}",
                                       "runbook_url": f"https://runbooks.example/{labels['alertname']}"},
                       "startsAt": start.isoformat(), "endsAt": "0001-01-01T00:00:00Z",
                       "generatorURL": "http://prometheus:9090/graph?g0.expr=up", "fingerprint": f"{n:08x}{i:08x}"})
    return {"receiver": "incident-console", "status": "firing", "alerts": alerts, "groupLabels": {},
            "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://alertmanager:9093",
            "version": "4", "groupKey": f"{{}}:{{n=\"{n}\"}}", "truncatedAlerts": 0}


def _requests(kind: str, token: str, seed: int) -> list[tuple[str, bytes, dict[str, str], int]]:
    """Prepare (path, body, headers, events) for a client, so encoding JSON is not what gets measured."""
    rng = random.Random(seed)
    bearer = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    plain = {"Content-Type": "application/json"}
    prepared = []
    for n in range(500):
        if kind == "alertmanager":
            prepared.append(("/v1/alertmanager", json.dumps(_alertmanager(rng, seed * 10_000 + n)).encode(), bearer, 10))
        elif n % 2:
            prepared.append(("/v2/enqueue", json.dumps(_pagerduty(rng, token, seed * 10_000 + n)).encode(), plain, 1))
        else:
            prepared.append(("/v1/events", json.dumps(_generic(rng, seed * 10_000 + n)).encode(), bearer, 1))
    return prepared


def client(port: int, token: str, kind: str, count: int, seed: int, barrier: Any, results: Any) -> None:
    """Send `count` requests on one keep-alive connection after a warm-up; report times and statuses."""
    prepared = _requests(kind, token, seed)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def send(n: int) -> tuple[int, int]:
        path, body, headers, events = prepared[n % len(prepared)]
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status, events

    for n in range(WARMUP):
        send(n)
    barrier.wait()
    latencies, accepted, refused = [], 0, 0
    started = time.monotonic()  # CLOCK_MONOTONIC: comparable across the client processes
    for n in range(count):
        before = time.perf_counter()
        status, events = send(n)
        latencies.append((time.perf_counter() - before) * 1000)
        if status == 202:
            accepted += events
        else:
            refused += 1
    results.put((started, time.monotonic(), accepted, refused, latencies))
    connection.close()


def attacker(port: int, stop: Any, sent_counts: Any) -> None:
    """Flood the server with bad requests on new connections, and hold slow ones open, until told to stop."""
    bad = [(b"POST /v1/events HTTP/1.1\r\nContent-Type: application/json\r\nAuthorization: Bearer guess\r\n"
            b"Content-Length: 2\r\n\r\n{}"),
           (b"POST /v2/enqueue HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n"
            b'{"routing_key": "guess", "event_action":'),
           b"POST /v1/alertmanager HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n",
           b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
           b"GET /admin HTTP/1.1\r\n\r\n"]
    slow = []
    for _ in range(50):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(b"POST /v1/events HTTP/1.1\r\nContent-Ty")
        slow.append(sock)
    sent, started = 0, time.monotonic()
    while not stop.is_set():
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(bad[sent % len(bad)])
            sock.recv(256)
        sent += 1
    for sock in slow:
        sock.close()
    sent_counts.put((sent, time.monotonic() - started))


def run(port: int, token: str, kind: str, clients: int, per_client: int, sink: MemorySink,
        name: str, attackers: int = 0) -> None:
    context = mp.get_context("spawn")
    barrier, results, stop, sent_counts = context.Barrier(clients), context.Queue(), context.Event(), context.Queue()
    before_events, before_calls = sink.events, sink.calls
    flood = [context.Process(target=attacker, args=(port, stop, sent_counts)) for _ in range(attackers)]
    for process in flood:
        process.start()
    workers = [context.Process(target=client, args=(port, token, kind, per_client, seed, barrier, results))
               for seed in range(clients)]
    for process in workers:
        process.start()
    outcomes = [results.get(timeout=600) for _ in workers]
    for process in workers:
        process.join()
    stop.set()
    floods = [sent_counts.get(timeout=60) for _ in flood]
    for process in flood:
        process.join()
    started = min(o[0] for o in outcomes)
    ended = max(o[1] for o in outcomes)
    accepted = sum(o[2] for o in outcomes)
    refused = sum(o[3] for o in outcomes)
    latencies = [ms for o in outcomes for ms in o[4]]
    sunk = sink.events - before_events
    warm = clients * WARMUP * (10 if kind == "alertmanager" else 1)
    print(f"# {name}: {clients} clients x {per_client} requests, {accepted} events accepted in "
          f"{ended - started:.2f} s, {refused} requests refused; sink got {sunk - warm} events "
          f"(+{warm} warm-up) in {sink.calls - before_calls} calls", flush=True)
    if attackers:
        bad, rate = sum(f[0] for f in floods), sum(f[0] / f[1] for f in floods)
        print(f"# meanwhile {attackers} attackers sent {bad} bad requests ({rate:.0f}/s) on new connections and "
              f"held {50 * attackers} slow connections open", flush=True)
    report_rate(f"ingest.{name}_events_per_second", accepted / (ended - started), target=">=1000", minimum=1000)
    report(f"ingest.{name}_request_ms", latencies, target="p99<=50", limit=50)
    verdict = "PASS" if refused == 0 and sunk - warm == accepted else "MISS"
    print(f"ingest.{name}_events_lost value={accepted - (sunk - warm)} target ==0 {verdict}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000, help="events per run (at least 20,000)")
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    print(machine())
    token = secrets.token_urlsafe(32)
    sink = MemorySink()
    with IngestServer(sink=sink, token=token, clock=SystemClock(), port=0) as server:
        per_client = -(-args.events // args.clients)
        run(server.port, token, "single", args.clients, per_client, sink, "accepted")
        run(server.port, token, "alertmanager", args.clients, -(-per_client // 10), sink, "alertmanager_grouped")
        run(server.port, token, "single", args.clients, per_client, sink, "accepted_under_flood", attackers=2)


if __name__ == "__main__":
    main()
