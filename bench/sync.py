"""Live sync between workstations: 10 consoles in separate processes, each running the real change feed (LISTEN/
NOTIFY wake-ups, coalescing, one read past its cursor) into the real queue model, offscreen, over loopback
PostgreSQL. Writers commit audited commands at 50 changes/s sustained, then in bursts of 400 changes/s.

Two runs: writers that are plain SQL clients (a script, psql; cheap enough to reach the stated rates on two
cores shared with ten consoles), then writers issuing audited commands (they print the rate they reached).

Measured per update: commit returned on the writer -> the console's item model holds that version (both stamped
with CLOCK_MONOTONIC, shared by all processes). Every (incident, version) committed must reach every console
exactly once: missed and duplicated deliveries are counted, not sampled.

Targets (issue 3): p50 <= 20 ms, p99 <= 100 ms; zero missed, zero duplicated. With --sqlite: several processes
on one file see each change within 250 ms.
Run: .venv/bin/python bench/sync.py [--pg URL] [--consoles 10] [--sqlite] [--writers sql,commands]
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections import Counter  # noqa: E402

from bench._report import machine, percentile, report  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
INCIDENTS = 2000
SUSTAINED = (50, 20.0)  # changes per second, seconds
BURSTS = (400, 1.0, 3, 3.0)  # changes per second, seconds each, how many, quiet seconds between
WRITERS = 4


def _now_ns() -> int:
    return time.monotonic_ns()  # CLOCK_MONOTONIC: one clock for every process on this machine


# --- one console process ----------------------------------------------------------------------------------------


def run_console(url: str, out: Path, ready: Path, stop: Path) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from console.clock import SystemClock
    from console.db import open_database
    from console.queries import Reader
    from ui.feed import ChangeFeed
    from ui.queue_model import QueueModel
    from ui.tasks import TaskRunner

    app = QApplication(["console"])
    db = open_database(url)
    runner = TaskRunner()
    model = QueueModel()
    feed = ChangeFeed(Reader(db, SystemClock()), runner)
    seen: list[tuple[int, int, int]] = []  # incident, version, when the model had it

    def on_loaded(snapshot) -> None:  # type: ignore[no-untyped-def]
        model.load(snapshot.rows)
        ready.write_text("ready")

    def on_changed(batch) -> None:  # type: ignore[no-untyped-def]
        model.apply(batch.rows)
        stamp = _now_ns()
        seen.extend((row.id, row.version, stamp) for row in batch.rows)

    feed.loaded.connect(on_loaded)
    feed.changed.connect(on_changed)
    feed.start()
    poll = QTimer(interval=100)
    poll.timeout.connect(lambda: app.quit() if stop.exists() else None)
    poll.start()
    app.exec()
    feed.stop()
    runner.shutdown()
    out.write_text(json.dumps({"seen": seen, "cpu": _cpu_seconds()}))


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _postgres_cpu_seconds() -> float:
    """CPU seconds used so far by every PostgreSQL process on this machine (from /proc)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().split(")")[-1].split()
            if "postgres" in (stat.parent / "comm").read_text():
                # own time, plus the time of exited children (backends that already ended)
                total += sum(int(f) for f in fields[11:15]) / tick
        except (OSError, IndexError, ValueError):
            continue
    return total


# --- one writer process -----------------------------------------------------------------------------------------


def run_writer(url: str, out: Path, start_ns: int, schedule: list[tuple[float, int]], kind: str) -> None:
    if kind == "sql":
        _run_sql_writer(url, out, start_ns, schedule)
        return
    from console import commands
    from console.clock import SystemClock
    from console.db import open_database
    from console.queries import roster
    from console.uow import UnitOfWork

    db = open_database(url)
    uow = UnitOfWork(db, SystemClock())
    with db.reader() as session:
        actor = roster(session)[0].id
    done: list[tuple[int, int, int, str]] = []
    for offset, incident in schedule:
        _wait_until(start_ns + int(offset * 1e9))
        changes = commands.set_next_action(uow, actor_id=actor, incident_id=incident, text=f"step at {offset:.3f}")
        stamp = _now_ns()
        for incident_id, version in changes.versions:
            done.append((incident_id, version, stamp, "burst" if offset >= SUSTAINED[1] else "sustained"))
    out.write_text(json.dumps({"done": done, "cpu": _cpu_seconds()}))


def _wait_until(due_ns: int) -> None:
    while (delay := due_ns - _now_ns()) > 0:
        time.sleep(delay / 1e9)


def _run_sql_writer(url: str, out: Path, start_ns: int, schedule: list[tuple[float, int]]) -> None:
    """A plain client (a script, psql): one UPDATE per transaction, seen only through the database's triggers.

    An audited command costs its writer ~3 ms of CPU; on two cores shared with ten consoles, command writers
    cannot reach 400 changes/s, so this lighter client drives the rates the target is stated at."""
    done: list[tuple[int, int, int, str]] = []
    if url.startswith("sqlite"):
        import sqlite3

        conn = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=5, isolation_level=None)
        conn.execute("PRAGMA busy_timeout=5000")
    else:
        import psycopg

        conn = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)
    for offset, incident in schedule:
        _wait_until(start_ns + int(offset * 1e9))
        if url.startswith("sqlite"):
            conn.execute("BEGIN IMMEDIATE")
        version = conn.execute("UPDATE incidents SET next_action = ?, version = version + 1 WHERE id = ? "
                               "RETURNING version" if url.startswith("sqlite") else
                               "UPDATE incidents SET next_action = %s, version = version + 1 WHERE id = %s "
                               "RETURNING version", (f"step at {offset:.3f}", incident)).fetchone()[0]
        if url.startswith("sqlite"):
            conn.execute("COMMIT")
        done.append((incident, version, _now_ns(), "burst" if offset >= SUSTAINED[1] else "sustained"))
    out.write_text(json.dumps({"done": done, "cpu": _cpu_seconds()}))


# --- the conductor ----------------------------------------------------------------------------------------------


def plan(incidents: list[int]) -> list[tuple[float, int]]:
    """When each change is due (seconds from the start) and on which incident (round robin, so no incident
    changes twice within a few seconds and every version is a separate, checkable update)."""
    times = [n / SUSTAINED[0] for n in range(int(SUSTAINED[0] * SUSTAINED[1]))]
    rate, length, count, quiet = BURSTS
    for b in range(count):
        begin = SUSTAINED[1] + quiet + b * (length + quiet)
        times += [begin + n / rate for n in range(int(rate * length))]
    return [(t, incidents[n % len(incidents)]) for n, t in enumerate(times)]


def prepare(url: str) -> list[int]:
    """Migrate and seed a fresh database, open the incidents the writers will change, and return their ids."""
    from bench._setup import seeded_database

    db, ids = seeded_database(url, incidents=INCIDENTS, title="Bench incident")
    db.dispose()
    return ids  # type: ignore[return-value]


def conduct(url: str, consoles: int, writer_kind: str) -> None:
    incidents = prepare(url)
    work = Path(tempfile.mkdtemp(prefix="icc-sync-"))
    stop = work / "stop"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    procs = []
    for i in range(consoles):
        procs.append(subprocess.Popen([sys.executable, __file__, "--role", "console", "--url", url, "--out",
                                       str(work / f"c{i}.json"), "--ready", str(work / f"r{i}"), "--stop", str(stop)],
                                      cwd=ROOT, env=env))
    deadline = time.monotonic() + 120
    while not all((work / f"r{i}").exists() for i in range(consoles)):
        if time.monotonic() > deadline:
            raise SystemExit("consoles did not load their queues in 120 s")
        time.sleep(0.1)
    schedule = plan(incidents)
    pg_cpu_before = _postgres_cpu_seconds()
    position = {incident: n for n, incident in enumerate(incidents)}  # each writer owns a share of the incidents
    start_ns = _now_ns() + int(1e9)
    writers = []
    for w in range(WRITERS):
        part = [item for item in schedule if position[item[1]] % WRITERS == w]
        (work / f"plan{w}.json").write_text(json.dumps(part))
        writers.append(subprocess.Popen([sys.executable, __file__, "--role", "writer", "--url", url, "--out",
                                         str(work / f"w{w}.json"), "--plan", str(work / f"plan{w}.json"),
                                         "--start", str(start_ns), "--writer-kind", writer_kind], cwd=ROOT, env=env))
    for writer in writers:
        if writer.wait(timeout=300):
            raise SystemExit("a writer failed")
    time.sleep(3)  # let the consoles drain what the last commits woke
    stop.write_text("stop")
    for proc in procs:
        proc.wait(timeout=60)
    pg_cpu = _postgres_cpu_seconds() - pg_cpu_before
    writer_out = [json.loads((work / f"w{w}.json").read_text()) for w in range(WRITERS)]
    console_out = [json.loads((work / f"c{c}.json").read_text()) for c in range(consoles)]
    committed = [tuple(x) for out in writer_out for x in out["done"]]
    when = {(i, v): (t, phase) for i, v, t, phase in committed}
    lat: dict[str, list[float]] = {"sustained": [], "burst": []}
    missed = duplicated = 0
    for c in range(consoles):
        seen = console_out[c]["seen"]
        counts = Counter((i, v) for i, v, _ in seen)
        duplicated += sum(n - 1 for n in counts.values() if n > 1)
        first: dict[tuple[int, int], int] = {}
        for i, v, t in seen:
            first.setdefault((i, v), t)
        for key, (t_commit, phase) in when.items():
            if key not in first:
                missed += 1
            else:
                lat[phase].append((first[key] - t_commit) / 1e6)
    total = len(committed)
    label = "audited commands" if writer_kind == "commands" else "plain SQL clients"
    prefix = "sync" if writer_kind == "sql" else "sync.commands"
    print(f"# {consoles} consoles, {total} committed changes ({WRITERS} writer processes: {label}), "
          f"{consoles * total} deliveries checked")
    print(f"# cpu seconds: consoles {sum(o['cpu'] for o in console_out):.1f} (incl. loading), "
          f"writers {sum(o['cpu'] for o in writer_out):.1f}, postgres {pg_cpu:.1f}")
    print(f"# achieved: sustained {_peak_rate(committed, 'sustained'):.0f} changes/s, "
          f"bursts {_peak_rate(committed, 'burst'):.0f} changes/s (busiest second)")
    every = lat["sustained"] + lat["burst"]
    sqlite = url.startswith("sqlite")
    # On SQLite the target is "seen by the other processes within 250 ms" (data_version polling).
    target, limit = ("p99<=250", 250.0) if sqlite else ("p99<=100", 100.0)
    report(f"{prefix}.commit_to_model_ms", every, target=target, limit=limit)
    report(f"{prefix}.commit_to_model_sustained_50s_ms", lat["sustained"], target=target, limit=limit)
    report(f"{prefix}.commit_to_model_burst_400s_ms", lat["burst"], target=target, limit=limit)
    if not sqlite:
        p50 = percentile(every, 50)
        print(f"{prefix}.commit_to_model_p50_ms value={p50:.1f} target p50<=20 {'PASS' if p50 <= 20 else 'MISS'}")
    print(f"{prefix}.missed value={missed} target ==0 {'PASS' if missed == 0 else 'MISS'}")
    print(f"{prefix}.duplicated value={duplicated} target ==0 {'PASS' if duplicated == 0 else 'MISS'}")


def _peak_rate(committed: list[tuple], phase: str) -> float:
    """The most commits that returned within any one second of a phase: what the writers really achieved."""
    stamps = sorted(t for _, _, t, p in committed if p == phase)
    best, low = 0, 0
    for high, stamp in enumerate(stamps):
        while stamp - stamps[low] > 1e9:
            low += 1
        best = max(best, high - low + 1)
    return float(best)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--role", default="conductor", choices=["conductor", "console", "writer"])
    parser.add_argument("--url")
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--sqlite", action="store_true", help="several processes on one SQLite file instead")
    parser.add_argument("--consoles", type=int, default=10)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--ready", type=Path)
    parser.add_argument("--stop", type=Path)
    parser.add_argument("--plan", type=Path)
    parser.add_argument("--start", type=int)
    parser.add_argument("--writer-kind", default="sql", choices=["sql", "commands"])
    parser.add_argument("--writers", default="sql,commands",
                        help="which writer runs to make, in order: sql (plain clients), commands (audited commands)")
    args = parser.parse_args()
    if args.role == "console":
        if os.environ.get("ICC_SYNC_PROFILE") and args.out.name == "c0.json":
            import cProfile

            cProfile.runctx("run_console(args.url, args.out, args.ready, args.stop)", globals(), locals(),
                            os.environ["ICC_SYNC_PROFILE"])
        else:
            run_console(args.url, args.out, args.ready, args.stop)
        return
    if args.role == "writer":
        run_writer(args.url, args.out, args.start, [tuple(x) for x in json.loads(args.plan.read_text())],
                   args.writer_kind)
        return
    print(machine())
    kinds = [kind for kind in args.writers.split(",") if kind]
    if args.sqlite:
        for kind in kinds:
            folder = tempfile.mkdtemp(prefix="icc-sync-sqlite-")
            conduct(f"sqlite:///{folder}/sync.db", args.consoles, kind)
        return
    import psycopg

    plain = args.pg.replace("postgresql+psycopg://", "postgresql://")
    for kind in kinds:
        schema = f"icc_sync_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(plain, autocommit=True) as admin:
            admin.execute(f'CREATE SCHEMA "{schema}"')
            try:
                conduct(f"{args.pg}?options=-csearch_path%3D{schema}", args.consoles, kind)
            finally:
                admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


if __name__ == "__main__":
    main()
