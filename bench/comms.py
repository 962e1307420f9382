"""Issue 5's two figures: click to first send attempt, and 4,000 queued messages per destination drained at the
destination's rate limit with nothing lost.

1. Click to first send attempt: what pressing U does, end to end without the window: the action is written to
   the action outbox on disk (fsync), `send_due_update` renders the customer update and queues it with its audit
   entry, the sender is woken, claims it and POSTs it; the figure is from the click to the request arriving at a
   local HTTP receiver (real sockets). The receiver stands for the status page (a generic webhook endpoint: the
   status page adapter would also look up its incident first). Target p99 <= 500 ms.
2. Drain: 4,000 messages queued for each of two destinations at once, one limited to 100/s and one to 50/s (the
   policy's `rate`; `--rates A,B` for others), a receiver in its own process (keep-alive, as a provider's front end) that answers 1 in 50 requests with 500 and
   one with 429 Retry-After: 1 (each 429 rightly holds its destination for a second, so 429s in the mix would
   measure the provider's pauses, not the sender). Reports per destination: the pace of first attempts (target: at least 90% of
   the limit), the most requests the receiver saw in any one second (must not pass the limit; retries count),
   messages lost (queued but never delivered), deliveries that reached the receiver twice after a success (by
   idempotency key), and the whole drain's length including the retries' backoff (no target).
On SQLite (a file, WAL, synchronous=FULL) and on PostgreSQL.
Run: .venv/bin/python bench/comms.py [--clicks N] [--messages N] [--rates A,B] [--pg URL | --no-pg]  (about 5 min)
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse  # noqa: E402
import collections  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import socket  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: E402

from sqlalchemy import func, select  # noqa: E402

from bench._databases import PG_URL, filesystem, pg_database, pg_version, sqlite_database  # noqa: E402
from bench._report import machine, report, report_rate, report_untargeted  # noqa: E402
from console import commands  # noqa: E402
from console.clock import SystemClock  # noqa: E402
from console.comms.channels import ADAPTERS  # noqa: E402
from console.comms.outbox import queue_message  # noqa: E402
from console.comms.sender import Sender, SenderSettings  # noqa: E402
from console.comms.wire import Endpoint  # noqa: E402
from console.db import Database  # noqa: E402
from console.policy_store import stored_policy  # noqa: E402
from console.queries import roster  # noqa: E402
from console.routing.policy import DEFAULT_PATH  # noqa: E402
from console.schema import upgrade  # noqa: E402
from console.sync.outbox import Outbox, OutboxEntry  # noqa: E402
from console.uow import UnitOfWork  # noqa: E402
from models.comms import Delivery  # noqa: E402
from models.enums import DeliveryState, Severity  # noqa: E402
from models.incident import Incident  # noqa: E402

# Well above any provider's documented limit for one webhook (Slack 1/s, Teams 4/s, Statuspage 1/s), and together
# within what one console's sender does on the 2-core development machine (`--rates 200,100` showed ~190/s in all).
RATES = {"bench-a": 100, "bench-b": 50}


class Receiver(ThreadingHTTPServer):
    """Records when each request arrived and its idempotency key; fails some on purpose when asked."""

    daemon_threads = True

    def __init__(self, *, faults: bool) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.faults = faults
        self.lock = threading.Lock()
        self.arrivals: dict[str, list[float]] = collections.defaultdict(list)
        self.delivered: collections.Counter[tuple[str, str]] = collections.Counter()
        self.first_seen: dict[str, float] = {}
        self.first_attempts: dict[str, list[float]] = collections.defaultdict(list)
        self.count = 0
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a provider's front end does

    def setup(self) -> None:
        super().setup()
        # Headers and body go out as two writes: without this, Nagle and a delayed ACK add 40 ms to each reply.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args) -> None:  # type: ignore[no-untyped-def]
        pass

    def do_GET(self) -> None:  # noqa: N802 - the figures, for the bench process when the receiver runs apart
        server: Receiver = self.server  # type: ignore[assignment]
        with server.lock:
            body = json.dumps({"arrivals": server.arrivals, "first_attempts": server.first_attempts,
                               "delivered": [[d, k, n] for (d, k), n in server.delivered.items()]}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        now = time.perf_counter()
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        server: Receiver = self.server  # type: ignore[assignment]
        destination, key = self.path.strip("/"), self.headers.get("Idempotency-Key", "")
        with server.lock:
            server.count += 1
            server.arrivals[destination].append(now)
            if key not in server.first_seen:
                server.first_seen[key] = now
                server.first_attempts[destination].append(now)
            n = server.count
        status = 200
        if server.faults and n == 150:  # once: the destination is held for the second Retry-After asks
            status = 429
        elif server.faults and n % 50 == 0:
            status = 500
        if status == 200:
            with server.lock:
                server.delivered[(destination, key)] += 1
        self.send_response(status)
        if status == 429:
            self.send_header("Retry-After", "1")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


class RemoteReceiver:
    """A Receiver in a process of its own, as a provider is: its threads do not compete with the sender's for
    the interpreter lock. Its figures are read back over HTTP when the drain is over."""

    def __init__(self, *, faults: bool) -> None:
        context = multiprocessing.get_context("spawn")
        ports = context.Queue()
        self._process = context.Process(target=_serve_apart, args=(ports, faults), daemon=True)
        self._process.start()
        self.url = f"http://127.0.0.1:{ports.get(timeout=30)}"

    def stats(self) -> tuple[dict[str, list[float]], dict[str, list[float]], dict[tuple[str, str], int]]:
        with urllib.request.urlopen(f"{self.url}/stats", timeout=30) as reply:
            data = json.loads(reply.read())
        return data["arrivals"], data["first_attempts"], {(d, k): n for d, k, n in data["delivered"]}

    def shutdown(self) -> None:
        self._process.terminate()
        self._process.join(10)


def _serve_apart(ports, faults: bool) -> None:  # type: ignore[no-untyped-def]
    receiver = Receiver(faults=faults)
    ports.put(receiver.server_address[1])
    threading.Event().wait()


def _policy_file(folder: str) -> Path:
    """The shipped policy with two bench destinations added, and bench-a the default for customers at SEV1."""
    text = DEFAULT_PATH.read_text(encoding="utf-8")
    text = text.replace('customers = ["status-page", "customer-email"]', 'customers = ["bench-a"]', 1)
    text += "".join(f'\n[channels.{name}]\nkind = "webhook"\nrate = "{rate}/s"\n' for name, rate in RATES.items())
    path = Path(folder) / "bench-policy.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _prepare(db: Database, folder: str) -> tuple[UnitOfWork, int, int]:
    upgrade(db)
    uow = UnitOfWork(db, SystemClock())
    commands.seed_demo(uow)
    commands.load_policy(uow, actor_id=None, reason="bench destinations", path=_policy_file(folder))
    with db.reader() as session:
        actor = roster(session)[0].id
    incident = commands.open_incident(uow, actor_id=actor, title="Card payments failing", severity=Severity.SEV1,
                                      service_id=1, customer_impact="Payments fail for some customers.")
    return uow, actor, incident.created_incident  # type: ignore[return-value]


def _sender(uow: UnitOfWork, receiver: Receiver | RemoteReceiver, *, horizon: float) -> Sender:
    endpoints = {name: Endpoint(url=f"{receiver.url}/{name}") for name in RATES}
    return Sender(claim=lambda skip: commands.claim_deliveries(uow, sender_id="bench", timeout=5.0, horizon=horizon,
                                                               skip=skip, limit=400),
                  settle=lambda outcomes: commands.settle_deliveries(uow, outcomes=outcomes),
                  adapters=ADAPTERS, endpoints=endpoints.get, clock=uow.clock,
                  settings=SenderSettings(timeout=5.0, idle_poll=1.0))


def click_to_send(db: Database, folder: str, *, clicks: int, label: str) -> bool:
    uow, actor, incident = _prepare(db, folder)
    receiver = Receiver(faults=False)
    sender = _sender(uow, receiver, horizon=1.0)  # as the window's sender claims
    sender.start()
    outbox = Outbox(Path(folder) / f"actions-{label}.jsonl")
    samples = []
    try:
        for n in range(clicks + 10):
            before = receiver.count
            start = time.perf_counter()
            key = f"click-{label}-{n}"
            outbox.add(OutboxEntry(request={"command": "send_due_update", "key": key},
                                   created_at=datetime.now(timezone.utc).isoformat()))
            commands.send_due_update(uow, actor_id=actor, incident_id=incident, audience="customers",
                                     idempotency_key=key)
            sender.wake()
            while receiver.count == before:
                time.sleep(0.0005)
            outbox.remove(key)
            if n >= 10:  # warm-up
                samples.append((max(receiver.arrivals["bench-a"]) - start) * 1000)
            time.sleep(1 / RATES["bench-a"])  # the destination's pace: the figure is latency, not queueing
    finally:
        sender.stop()
        receiver.shutdown()
    return report(f"comms.click_to_first_attempt_ms.{label}", samples, target="p99<=500", limit=500)


def drain(db: Database, folder: str, *, messages: int, label: str) -> bool:
    uow, actor, incident = _prepare(db, folder)
    with db.reader() as session:
        channels = [stored_policy(session).channel(name=name) for name in RATES]
    for start in range(0, messages, 500):  # queued through the real path, 500 to a transaction (setup)
        with uow.transaction(actor_id=actor) as tx:
            row = tx.session.get(Incident, incident)
            for n in range(start, min(messages, start + 500)):
                queue_message(tx, incident=row, template="internal_brief", template_version=1, audience="internal",
                              subject=f"update {n}", body="Payments are failing; we are rolling back.", edited=False,
                              channels=channels, sandbox=False, key=f"drain-{label}-{n}")
    receiver = RemoteReceiver(faults=True)
    sender = _sender(uow, receiver, horizon=1.0)
    begun = time.perf_counter()
    sender.start()
    ok = True
    try:
        while True:
            with db.reader() as session:
                left = session.execute(select(func.count()).select_from(Delivery).where(
                    Delivery.state.in_((DeliveryState.QUEUED, DeliveryState.SENDING)))).scalar()
            if not left or time.perf_counter() - begun > 600:
                break
            time.sleep(0.5)
    finally:
        sender.stop()
    arrived, first_attempts, delivered = receiver.stats()
    receiver.shutdown()
    with db.reader() as session:
        states = dict(session.execute(select(Delivery.channel, func.count()).where(
            Delivery.state == DeliveryState.DELIVERED).group_by(Delivery.channel)).all())
    for name, limit in RATES.items():
        arrivals = sorted(arrived[name])
        seconds = arrivals[-1] - arrivals[0]  # with the retries' tail (backoff from 5 s)
        firsts = sorted(first_attempts[name])
        per_second = collections.Counter(int(t - arrivals[0]) for t in arrivals)
        busiest = max(per_second.values())
        lost = messages - states.get(name, 0)
        twice = sum(1 for (dest, _), count in delivered.items() if dest == name and count > 1)
        # The pace of first attempts: how fast the queue is worked through, against the destination's limit.
        ok &= report_rate(f"comms.drain_{messages}.{name}.first_attempts_per_s.{label}",
                          (len(firsts) - 1) / (firsts[-1] - firsts[0]), target=f">={limit * 0.9:.0f} (limit {limit}/s)",
                          minimum=limit * 0.9)
        verdict = "PASS" if busiest <= limit else "MISS"
        print(f"comms.drain_{messages}.{name}.busiest_second.{label} value={busiest} target <={limit} {verdict}")
        print(f"comms.drain_{messages}.{name}.lost.{label} value={lost} target 0 {'PASS' if lost == 0 else 'MISS'}")
        print(f"comms.drain_{messages}.{name}.delivered_twice.{label} value={twice} target 0 "
              f"{'PASS' if twice == 0 else 'MISS'}")
        report_untargeted(f"comms.drain_{messages}.{name}.seconds.{label}", [seconds])
        ok &= verdict == "PASS" and lost == 0 and twice == 0
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=200)
    parser.add_argument("--messages", type=int, default=4000)
    parser.add_argument("--rates", default=None, metavar="A,B", help="the two destinations' limits per second")
    parser.add_argument("--pg", default=PG_URL)
    parser.add_argument("--no-pg", action="store_true")
    args = parser.parse_args()
    if args.rates:
        RATES.update(zip(RATES, (int(n) for n in args.rates.split(","))))
    print(machine())
    ok = True
    with tempfile.TemporaryDirectory(dir=Path.home()) as folder:
        print(f"# SQLite files on {filesystem(folder)}")
        with sqlite_database(folder, "click") as db:
            ok &= click_to_send(db, folder, clicks=args.clicks, label="sqlite")
        with sqlite_database(folder, "drain") as db:
            ok &= drain(db, folder, messages=args.messages, label="sqlite")
        version = None if args.no_pg else pg_version(args.pg)
        if version:
            print(f"# PostgreSQL {version}")
            with pg_database(args.pg) as db:
                ok &= click_to_send(db, folder, clicks=args.clicks, label="postgresql")
            with pg_database(args.pg) as db:
                ok &= drain(db, folder, messages=args.messages, label="postgresql")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
