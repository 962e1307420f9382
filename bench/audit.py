"""The audit chain: how long verifying a million entries takes, and what an audit entry adds to a command.

Targets (issue 6): the whole chain of 1,000,000 entries verifies in <= 3 s (SQLite file; PostgreSQL reported
beside it); appending a command's audit entry inside its real transaction costs <= 1 ms p99, on both.

The chain is the demo organisation's, continued with a million realistic entries computed with the console's
own hash definition and written in bulk. Verification is `verify_database` as `audit verify` and the window
run it (split across the cores), and, for comparison, the one-process walk of `verify_chain`. The append cost
is measured on the real write path, on the million-entry table: `add_note` commands whose `append_entries`
call is timed inside the transaction, interleaved with the same commands with the call left out.
Run: .venv/bin/python bench/audit.py [--entries 1000000] [--pg postgresql+psycopg://postgres@127.0.0.1:5432/test]
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import timezone  # noqa: E402

from bench._report import machine, report, report_untargeted  # noqa: E402

if __name__ == "__main__":
    # Only when run, not when a verification worker re-imports this script (multiprocessing's spawn does): the
    # workers must start as light as they do under main.py, or the figure would include SQLAlchemy's import.
    from bench._audit_chain import write_chain
    from bench._databases import filesystem, pg_database, pg_version
    from console import audit, commands
    from console.audit_verify import verify_database, walk_chain
    from console.clock import SystemClock
    from console.db import Database, open_database
    from console.queries import roster, services
    from console.schema import upgrade
    from console.uow import UnitOfWork

VERIFY_RUNS = 5
APPENDS = 1000
WARMUP = 100


def prepare(db: "Database", entries: int) -> "UnitOfWork":
    """Migrate, seed the demo organisation, and continue its chain to `entries` more entries."""
    upgrade(db)
    uow = UnitOfWork(db, SystemClock())
    commands.seed_demo(uow)
    with db.reader() as session:
        people = [(p.id, p.handle) for p in roster(session)]
        head = walk_chain(session).head
    start = time.perf_counter()
    write_chain(db, entries, people=[(None, "system"), *people], prev=head.hash if head else audit.GENESIS_HASH,
                start=uow.clock.now().astimezone(timezone.utc))
    print(f"# {db.backend}: wrote {entries:,} chained entries in {time.perf_counter() - start:.1f} s", flush=True)
    return uow


def measure_verify(label: str, db: "Database", entries: int) -> None:
    total = verify_database(db)  # warm-up: the file in the page cache, the workers' imports in the OS cache
    assert total.intact, total.reason
    samples = []
    for _ in range(VERIFY_RUNS):
        start = time.perf_counter()
        verdict = verify_database(db)
        samples.append((time.perf_counter() - start) * 1000)
        assert verdict.intact and verdict.checked == total.checked
    millions = f"{entries // 1_000_000}m" if entries % 1_000_000 == 0 else f"{entries}"
    report(f"audit.{label}.verify_{millions}_ms", samples, target="p99<=3000", limit=3000)
    start = time.perf_counter()
    with db.reader() as session:
        assert walk_chain(session).intact
    report_untargeted(f"audit.{label}.verify_{millions}_one_process_ms", [(time.perf_counter() - start) * 1000])


def measure_append(label: str, uow: "UnitOfWork") -> None:
    """Time append_entries inside add_note's transaction, and the command with and without it, interleaved."""
    real = audit.append_entries
    inside: list[float] = []

    def timed(session, entries):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        real(session, entries)
        inside.append((time.perf_counter() - start) * 1000)

    with uow.db.reader() as session:
        actor = roster(session)[0].id
    incident = commands.open_incident(uow, actor_id=actor, title="Audit bench", severity="SEV4",
                                      service_id=_a_service(uow)).created_incident
    with_audit: list[float] = []
    without: list[float] = []
    try:
        for n in range(WARMUP + APPENDS):
            for patched, samples in ((timed, with_audit), (lambda _s, _e: None, without)):
                audit.append_entries = patched  # type: ignore[assignment]
                start = time.perf_counter()
                commands.add_note(uow, actor_id=actor, incident_id=incident, text=f"bench note {n}")
                if n >= WARMUP:
                    samples.append((time.perf_counter() - start) * 1000)
    finally:
        audit.append_entries = real  # type: ignore[assignment]
    report(f"audit.{label}.append_entry_in_transaction_ms", inside[WARMUP:], target="p99<=1", limit=1)
    report_untargeted(f"audit.{label}.command_with_audit_ms", with_audit)
    report_untargeted(f"audit.{label}.command_without_audit_ms", without)


def _a_service(uow: "UnitOfWork") -> int:
    with uow.db.reader() as session:
        return services(session)[0].id


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory(dir=str(Path.home())) as folder:
        print(f"# SQLite file on {filesystem(folder)}, WAL, synchronous=FULL")
        db = open_database(f"sqlite:///{folder}/audit.db")
        uow = prepare(db, args.entries)
        measure_verify("sqlite", db, args.entries)
        measure_append("sqlite", uow)
        db.dispose()
    version = pg_version(args.pg)
    if version is None:
        return
    print(f"# PostgreSQL {version} on loopback")
    with pg_database(args.pg) as db:
        uow = prepare(db, args.entries)
        measure_verify("postgresql", db, args.entries)
        measure_append("postgresql", uow)


if __name__ == "__main__":
    main()
