"""bench/routing.py, part 3: the ingest server with the real sink, routing into a real database (see its
docstring)."""
from __future__ import annotations

import http.client
import json
import logging
import multiprocessing as mp
import random
import secrets
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from bench import ingest as http_bench
from bench._report import report_rate, report_untargeted
from console import commands
from console.clock import SystemClock
from console.db import Database
from console.demo.organisation import default_organisation
from console.ingest import IngestServer
from console.ingest.formats import alertmanager_events
from console.queries import Reader, roster
from console.schema import upgrade
from console.uow import UnitOfWork
from console.commands.ingest_sink import RoutingSink
from models.enums import IncidentStatus, ServiceTier, TimelineKind
from models.incident import Incident, Signal, TimelineEvent
from models.org import Service

ALERTS = http_bench.ALERTS
POOL = 200  # alerts already firing when the run starts
REPEAT, RESOLVED = 0.90, 0.05  # the rest (5%) are new alerts
PER_NOTIFICATION = 10
SINK_WARMUP = 20  # requests per client before timing


def pool_alerts(service_names: list[str]) -> list[dict[str, str]]:
    """The alerts firing when the run starts: label sets over the demo services, with their fingerprints."""
    rng = random.Random(7)
    pool = []
    for j in range(POOL):
        service = service_names[j % len(service_names)]
        pool.append({"alertname": ALERTS[(j // len(service_names)) % len(ALERTS)], "service": service,
                     "severity": rng.choices(["critical", "error", "warning", "info"], weights=[1, 3, 5, 1])[0],
                     "instance": f"{service}-{j % 3}:9100", "job": service, "fingerprint": f"{j:016x}"})
    return pool


def _alert(identity: dict[str, str], *, status: str, starts_at: str) -> dict[str, Any]:
    labels = {k: v for k, v in identity.items() if k != "fingerprint"}
    return {"status": status, "labels": labels,
            "annotations": {"summary": f"{labels['alertname']} on {labels['service']}",
                            "runbook_url": f"https://runbooks.example/{labels['alertname']}"},
            "startsAt": starts_at, "endsAt": starts_at if status == "resolved" else "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph?g0.expr=up", "fingerprint": identity["fingerprint"]}


def _notification(alerts: list[dict[str, Any]], n: int) -> dict[str, Any]:
    firing = any(a["status"] == "firing" for a in alerts)
    return {"receiver": "incident-console", "status": "firing" if firing else "resolved", "alerts": alerts,
            "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://alertmanager:9093",
            "version": "4", "groupKey": f"{{}}:{{n=\"{n}\"}}", "truncatedAlerts": 0}


def sink_requests(*, seed: int, count: int, pool: list[dict[str, str]], owners: list[int], service_names: list[str],
                  starts_at: str) -> list[tuple[bytes, int, int]]:
    """(body, firing alerts, resolved alerts) for `count` notifications: repeats, resolutions and new alerts."""
    rng = random.Random(1000 + seed)
    prepared = []
    for n in range(count):
        alerts = []
        for i in range(PER_NOTIFICATION):
            roll = rng.random()
            if roll < REPEAT:
                alerts.append(_alert(rng.choice(pool), status="firing", starts_at=starts_at))
            elif roll < REPEAT + RESOLVED and owners:
                alerts.append(_alert(pool[rng.choice(owners)], status="resolved", starts_at=starts_at))
            else:
                service = rng.choice(service_names)
                new = {"alertname": rng.choice(ALERTS), "service": service,
                       "severity": rng.choice(["error", "warning"]), "instance": f"{service}-{n}:9100", "job": service,
                       "fingerprint": f"{0xA000 + seed:04x}{n * PER_NOTIFICATION + i:012x}"}
                alerts.append(_alert(new, status="firing", starts_at=datetime.now(UTC).isoformat()))
        firing = sum(a["status"] == "firing" for a in alerts)
        prepared.append((json.dumps(_notification(alerts, seed * 100_000 + n)).encode(), firing, len(alerts) - firing))
    return prepared


def sink_client(port: int, token: str, seed: int, warmup: int, count: int, pool: list[dict[str, str]],
                owners: list[int], service_names: list[str], starts_at: str, barrier: Any, results: Any) -> None:
    """Send warm-up then timed notifications on one keep-alive connection; report times, statuses and counts."""
    prepared = sink_requests(seed=seed, count=warmup + count, pool=pool, owners=owners, service_names=service_names,
                             starts_at=starts_at)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    firing = resolved = 0  # accepted, warm-up included: what the database must hold
    statuses: Counter[int] = Counter()

    def send(n: int) -> int:
        nonlocal firing, resolved
        body, f, r = prepared[n]
        connection.request("POST", "/v1/alertmanager", body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        statuses[response.status] += 1
        if response.status == 202:
            firing, resolved = firing + f, resolved + r
            return f + r
        return 0

    for n in range(warmup):
        send(n)
    barrier.wait()
    latencies, accepted, refused = [], 0, 0
    started = time.monotonic()
    for n in range(warmup, warmup + count):
        before = time.perf_counter()
        events = send(n)
        latencies.append((time.perf_counter() - before) * 1000)
        accepted += events
        refused += events == 0
    ended = time.monotonic()
    connection.close()
    results.put((started, ended, accepted, refused, latencies, firing, resolved, dict(statuses)))


def stored(db: Database) -> tuple[int, int]:
    """Signals rows, and "resolved at the source" timeline entries."""
    with db.reader() as session:
        signals = session.execute(select(func.count()).select_from(Signal)).scalar_one()
        notes = session.execute(select(func.count()).select_from(TimelineEvent).where(
            TimelineEvent.kind == TimelineKind.SIGNAL, TimelineEvent.text.like("resolved at the source%"))).scalar_one()
    return signals, notes


SCENARIOS = {
    # Routed leaves first (edge, core, then foundational): each alert opened its own incident before any
    # foundational incident was open, so a repeat finds its incident by fingerprint and is attached to it.
    "own_incidents": "each repeat lands on the incident its alert opened",
    # Routed in pool order, foundational services among the first: most alerts on dependent services were grouped
    # under an open foundational incident (blast radius), and every repeat of them is grouped there again.
    "blast_radius": "most repeats are grouped under an open foundational incident",
}
TIER_ORDER = {"edge": 0, "core": 1, "foundational": 2}


class ServerLog(logging.Handler):
    """Keeps what the server and the sink log at WARNING and above (first lines, counted), instead of tracebacks."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        first = record.getMessage().splitlines()[0][:200]
        if record.exc_info and record.exc_info[1] is not None:
            first += f": {type(record.exc_info[1]).__name__}: {str(record.exc_info[1]).splitlines()[0][:300]}"
        self.lines[first] += 1

    def take(self) -> list[str]:
        out = [f"{count} x {line}" for line, count in self.lines.most_common()]
        self.lines.clear()
        return out


server_log = ServerLog()


def real_sink(label: str, db: Database, *, clients: int, events: int, scenario: str) -> None:
    upgrade(db)
    clock = SystemClock()
    uow = UnitOfWork(db, clock)
    commands.seed_demo(uow)
    sink = RoutingSink(uow=uow, reader=Reader(db, clock))
    tiers = {s.name: s.tier.value for s in default_organisation().services}
    service_names = list(tiers)
    pool = pool_alerts(service_names)
    starts_at = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()
    order = pool
    if scenario == "own_incidents":
        order = sorted(pool, key=lambda a: TIER_ORDER.get(tiers[a["service"]], 0))
        with db.reader() as session:  # the demo's primary-db incident would take in everything downstream of it
            actor = roster(session)[0].id
            foundational = session.execute(select(Incident.id).join(Service, Service.id == Incident.service_id).where(
                Service.tier == ServiceTier.FOUNDATIONAL, Incident.status != IncidentStatus.RESOLVED)).scalars().all()
        for incident_id in foundational:
            commands.resolve(uow, actor_id=actor, incident_id=incident_id, summary="Replication caught up; healthy")
    # Already firing: routed before the run, one alert a request. (Two alerts of one service that joins a blast
    # radius in the same request fail the whole request; see the report. The timed runs count any such failure.)
    for n, identity in enumerate(order):
        document = _notification([_alert(identity, status="firing", starts_at=starts_at)], n)
        sink(alertmanager_events(document=document, received_at=clock.now()))
    with db.reader() as session:
        fingerprints = set(session.execute(select(Incident.fingerprint).where(
            Incident.status != IncidentStatus.RESOLVED, Incident.fingerprint.is_not(None))).scalars())
        open_count = session.execute(select(func.count()).select_from(Incident).where(
            Incident.status != IncidentStatus.RESOLVED)).scalar_one()
    # Resolutions name alerts that own an open incident (the others were grouped under an upstream one, where a
    # resolution at the source is not noted): each then stores exactly one timeline entry.
    owners = [j for j, a in enumerate(pool) if f"alertmanager:{a['fingerprint']}" in fingerprints]
    before = stored(db)
    token = secrets.token_urlsafe(32)
    per_client = -(-events // (clients * PER_NOTIFICATION))
    context = mp.get_context("spawn")
    barrier, results = context.Barrier(clients), context.Queue()
    stop = threading.Event()

    ticks: list[tuple[float, str]] = []  # (ms, "" or the error)

    def tick() -> None:  # as `main.py ingest-server` does beside its server: a failed tick is retried in 5 s
        while not stop.wait(5.0):
            began = time.perf_counter()
            try:
                commands.escalation_tick(uow)
                ticks.append(((time.perf_counter() - began) * 1000, ""))
            except Exception as error:  # noqa: BLE001 - counted and reported, as main.py logs it and goes on
                ticks.append(((time.perf_counter() - began) * 1000, f"{type(error).__name__}: {error}"))

    ticker = threading.Thread(target=tick, daemon=True)
    with IngestServer(sink=sink, token=token, clock=clock, port=0) as server:
        ticker.start()
        workers = [context.Process(target=sink_client, args=(server.port, token, seed, SINK_WARMUP, per_client, pool,
                                                             owners, service_names, starts_at, barrier, results))
                   for seed in range(clients)]
        for process in workers:
            process.start()
        outcomes = [results.get(timeout=900) for _ in workers]
        for process in workers:
            process.join()
        stop.set()
        ticker.join()
    after = stored(db)
    started, ended = min(o[0] for o in outcomes), max(o[1] for o in outcomes)
    accepted, refused = sum(o[2] for o in outcomes), sum(o[3] for o in outcomes)
    latencies = [ms for o in outcomes for ms in o[4]]
    firing, resolved = sum(o[5] for o in outcomes), sum(o[6] for o in outcomes)
    statuses: Counter[int] = Counter()
    for o in outcomes:
        statuses.update(o[7])
    signals, notes = after[0] - before[0], after[1] - before[1]
    with db.reader() as session:
        opened = session.execute(select(func.count()).select_from(Incident).where(
            Incident.status != IncidentStatus.RESOLVED)).scalar_one() - open_count
    name = f"ingest.real_sink.{scenario}.{label}"
    print(f"# real sink, {scenario}, {label} ({SCENARIOS[scenario]}): {POOL} alerts firing beforehand "
          f"({open_count} open incidents, {len(owners)} of them opened by those alerts); {clients} clients x "
          f"{per_client} notifications of {PER_NOTIFICATION} alerts (+{SINK_WARMUP} warm-up each): {accepted} "
          f"events accepted in {ended - started:.2f} s, {refused} requests refused (statuses "
          f"{dict(sorted(statuses.items()))}); {opened} incidents opened during the run", flush=True)
    print(f"# real sink, {scenario}, {label}: accepted {firing} firing and {resolved} resolved alerts (warm-up "
          f"included); the database gained {signals} signals rows and {notes} 'resolved at the source' entries",
          flush=True)
    report_rate(f"{name}_events_per_second", accepted / (ended - started), target=">=1000",
                minimum=1000)
    report_untargeted(f"{name}_request_ms", latencies)
    lost = (firing - signals) + (resolved - notes)
    print(f"{name}_events_lost value={lost} target ==0 {'PASS' if lost == 0 else 'MISS'}", flush=True)
    failed = sum(count for status, count in statuses.items() if status != 202)  # warm-up included
    print(f"{name}_requests_failed value={failed} target ==0 {'PASS' if failed == 0 else 'MISS'}", flush=True)
    errors = Counter(error for _, error in ticks if error)
    print(f"# real sink, {scenario}, {label}: {len(ticks)} escalation ticks beside the server, slowest "
          f"{max((ms for ms, _ in ticks), default=0):.0f} ms, {sum(errors.values())} failed"
          + "".join(f"; {count} x {error}" for error, count in errors.items()), flush=True)
    print(f"{name}_escalation_ticks_failed value={sum(errors.values())} target ==0 "
          f"{'PASS' if not errors else 'MISS'}", flush=True)
    for line in server_log.take():
        print(f"# server log: {line}", flush=True)


def trivial_sink(*, clients: int, events: int) -> None:
    """bench/ingest.py's first two runs: the HTTP and parsing path with a sink that stores nothing."""
    token = secrets.token_urlsafe(32)
    sink = http_bench.MemorySink()
    with IngestServer(sink=sink, token=token, clock=SystemClock(), port=0) as server:
        per_client = -(-events // clients)
        http_bench.run(server.port, token, "single", clients, per_client, sink, "accepted")
        http_bench.run(server.port, token, "alertmanager", clients, -(-per_client // 10), sink, "alertmanager_grouped")
