"""bench/routing.py, part 2: the escalation tick over 10,000 open, escalating incidents (see its docstring)."""
from __future__ import annotations

import gc
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select

from bench._report import report, report_untargeted
from console import commands
from console.clock import ManualClock
from console.commands._incident_ops import apply_open
from console.db import Database
from console.escalation import running_due
from console.queries import services
from console.schema import upgrade
from console.uow import UnitOfWork
from models.base import UTCDateTime
from models.enums import EscalationState, IncidentStatus
from models.incident import Incident, TimelineEvent
from models.routing import Decision, Escalation, Page

INCIDENTS = 10_000
PER_TRANSACTION = 50  # incidents opened in one transaction, at one moment
SPACING = timedelta(seconds=1.2)  # between those moments: 10,000 incidents opened over 4 minutes
DUE_BATCH = 100  # 1% of 10,000 reach their next tier at once in case (b)
SEVERITIES = (["SEV1"] * 1) + (["SEV2"] * 3) + (["SEV3"] * 6)
TITLES = ["Error rate above SLO", "p99 latency degraded", "Elevated 5xx at the edge", "Replica lag high",
          "Queue backlog growing", "Pods crash-looping", "Customer reports failed requests", "Disk almost full"]
# Tables whose rows an opened incident has, copied with it (the rows the tick reads, and the table sizes).
CHILDREN = (Escalation.__table__, Page.__table__, TimelineEvent.__table__, Decision.__table__)


def open_incidents(db: Database, *, incidents: int, real_opens: int) -> tuple[UnitOfWork, ManualClock, str]:
    """Seed the demo organisation and open `incidents` escalating incidents; return the clock at the moment after."""
    upgrade(db)
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    uow = UnitOfWork(db, clock)
    commands.seed_demo(uow)
    start = clock.now()
    rng = random.Random(4)
    with db.reader() as session:
        service_list = [(s.id, s.name) for s in services(session)]
    slots = incidents // PER_TRANSACTION
    copies = incidents // real_opens - 1  # each real batch is followed by this many shifted copies
    templates: list[int] = []
    n = 0
    for slot in range(0, slots, copies + 1):
        clock.set(start + slot * SPACING)
        with uow.transaction(actor_id=None) as tx:
            for _ in range(PER_TRANSACTION):
                service_id, name = service_list[n % len(service_list)]
                incident = apply_open(tx, title=f"{TITLES[n % len(TITLES)]} on {name}", severity=rng.choice(SEVERITIES),
                                      service_id=service_id)
                templates.append(incident.id)
                n += 1
    if copies:
        copy_incidents(db, templates=templates, copies=copies)
    clock.set(start + slots * SPACING)
    how = (f"{real_opens:,} through apply_open, {incidents - real_opens:,} copies of them" if copies
           else f"all {incidents:,} through apply_open")
    return uow, clock, how


def copy_incidents(db: Database, *, templates: list[int], copies: int) -> None:
    """Copy each incident `copies` times with its escalation, pages, timeline and decisions, each copy k shifted
    by k * SPACING, so that the copies fill the moments between the real batches."""
    incidents = Incident.__table__
    with db.writer() as session:
        originals = [dict(r) for r in session.execute(
            select(incidents).where(incidents.c.id.in_(templates)).order_by(incidents.c.id)).mappings()]
        children = {table: [dict(r) for r in session.execute(
            select(table).where(table.c.incident_id.in_(templates))).mappings()] for table in CHILDREN}
        for k in range(1, copies + 1):
            shift = k * SPACING
            rows = [_shifted(incidents, row, shift) | {"title": f"{row['title']} ({k + 1})"} for row in originals]
            ids = session.execute(insert(incidents).returning(incidents.c.id, sort_by_parameter_order=True),
                                  rows).scalars().all()
            new_id = dict(zip((row["id"] for row in originals), ids, strict=True))
            for table, child_rows in children.items():
                if child_rows:
                    session.execute(insert(table), [
                        _shifted(table, row, shift) | {"incident_id": new_id[row["incident_id"]]}
                        for row in child_rows])
        session.commit()


def _shifted(table: Any, row: dict[str, Any], shift: timedelta) -> dict[str, Any]:
    """A copy of a row without its generated id and with every time moved by `shift`."""
    out = {}
    for column in table.columns:
        if column.primary_key and column.autoincrement is not False and column.name == "id":
            continue
        value = row[column.name]
        if isinstance(column.type, UTCDateTime) and value is not None:
            value = value + shift
        out[column.name] = value
    return out


def next_due(db: Database, *, batch: int) -> datetime:
    """The moment at which `batch` more running escalations have their next tier due."""
    with db.reader() as session:
        return session.execute(select(Escalation.step_due_at).where(
            Escalation.state == EscalationState.RUNNING, Escalation.step_due_at.is_not(None))
            .order_by(Escalation.step_due_at).offset(batch - 1).limit(1)).scalar_one()


def escalation(label: str, db: Database, *, real_opens: int, idle_runs: int, due_runs: int) -> None:
    started = time.perf_counter()
    uow, clock, how = open_incidents(db, incidents=INCIDENTS, real_opens=real_opens)
    # The demo organisation's own incidents in flight may be due by now: a console ticking every 5 s paged them.
    drained = 0
    while True:
        with db.reader() as session:
            if not running_due(session, at=clock.now(), for_update=False):
                break
        drained += len(commands.escalation_tick(uow).incidents)
    with db.reader() as session:
        open_count = session.execute(select(func.count()).select_from(Incident).where(
            Incident.status != IncidentStatus.RESOLVED)).scalar_one()
        running = session.execute(select(func.count()).select_from(Escalation).where(
            Escalation.state == EscalationState.RUNNING)).scalar_one()
        pages = session.execute(select(func.count()).select_from(Page)).scalar_one()
    print(f"# {label}: {open_count:,} open incidents ({how}), {running:,} escalations running, {pages:,} pages; "
          f"{drained} demo incidents paged before timing; setup {time.perf_counter() - started:.0f} s", flush=True)

    # (a) nothing due.
    idle: list[float] = []
    touched = 0
    gc.collect()
    for n in range(20 + idle_runs):
        before = time.perf_counter()
        changes = commands.escalation_tick(uow)
        elapsed = (time.perf_counter() - before) * 1000
        touched += len(changes.incidents)
        if n >= 20:
            idle.append(elapsed)
    report(f"routing.escalation_tick_idle.{label}_ms", idle, target="p99<=50", limit=50 if touched == 0 else -1)
    if touched:
        print(f"# MISS: the idle ticks paged {touched} incidents; nothing was due", flush=True)

    # (b) 1% due at once.
    due: list[float] = []
    paged: list[int] = []
    twice = 0
    for n in range(3 + due_runs):
        clock.set(next_due(db, batch=DUE_BATCH))
        gc.collect()
        before = time.perf_counter()
        changes = commands.escalation_tick(uow)
        elapsed = (time.perf_counter() - before) * 1000
        twice += len(commands.escalation_tick(uow).incidents)  # the same moment again: nobody is paged twice
        if n >= 3:
            due.append(elapsed)
            paged.append(len(changes.incidents))
    per = statistics.median(due) / statistics.mean(paged)
    print(f"# {label}: {statistics.mean(paged):.0f} incidents due per tick (min {min(paged)}, max {max(paged)}), "
          f"~{per:.1f} ms per incident paged; a second tick at the same moment paged {twice}", flush=True)
    report_untargeted(f"routing.escalation_tick_due_1pct.{label}_ms", due)
    if twice:
        print(f"routing.escalation_tick_twice.{label} value={twice} target ==0 MISS", flush=True)
