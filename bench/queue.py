"""Queue model at scale: 100,000 open incidents in a real QTableView (offscreen).

Targets (issue 2): initial load <= 500 ms; applying a batch of 100 changed rows <= 16 ms; full re-sort <= 100 ms.
Run: QT_QPA_PLATFORM=offscreen .venv/bin/python bench/queue.py
"""
from __future__ import annotations

import sys
from pathlib import Path

# Run as `python bench/queue.py`: the repository root goes first on the path, not bench/ (whose queue.py
# would shadow the standard library's queue module that concurrent.futures and psycopg import).
sys.path[0] = str(Path(__file__).resolve().parent.parent)

import os  # noqa: E402
import random  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402
from datetime import datetime, timedelta, timezone  # noqa: E402

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from bench._report import machine, report  # noqa: E402
from PySide6.QtCore import QItemSelectionModel  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from console.dto import IncidentRow, IncidentStatus, Severity  # noqa: E402
from ui.app import create_application  # noqa: E402
from ui.queue_panel import QueuePanel  # noqa: E402
from ui.queue_model import QueueModel  # noqa: E402

ROWS = 100_000
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)
# The demo organisation's services and people, scaled up to a very bad day.
SERVICES = ["identity", "primary-db", "api-gateway", "payments-api", "card-auth", "billing", "ledger", "search",
            "notifications", "web-app", "mobile-api", "data-export"]
OWNERS = ["", "Priya Raman", "Marcus Lee", "Sofia Alvarez", "Jonas Becker", "Aisha Okafor", "Tom Nguyen"]
TITLES = ["Elevated 5xx on card authorisation", "Login latency p99 above 2 s", "Replica lag over 30 s",
          "Customers report password reset emails missing", "Invoice totals disagree with ledger"]
SEVERITY_WEIGHTS = [0.03, 0.17, 0.45, 0.35]


def make_row(rng: random.Random, incident_id: int) -> IncidentRow:
    opened = NOW - timedelta(seconds=rng.uniform(0, 7 * 86400))
    return IncidentRow(
        id=incident_id,
        title=f"{rng.choice(TITLES)} #{incident_id}",
        severity=rng.choices(list(Severity), SEVERITY_WEIGHTS)[0],
        status=rng.choice([IncidentStatus.TRIGGERED, IncidentStatus.ACKNOWLEDGED, IncidentStatus.MITIGATING,
                           IncidentStatus.MONITORING]),
        service=rng.choice(SERVICES),
        owner=rng.choice(OWNERS),
        opened_at=opened,
        ack_deadline=opened + timedelta(minutes=rng.choice([5, 15, 30, 240])),
        version=1,
    )


def changed_batch(rng: random.Random, model: QueueModel, next_id: list[int]) -> list[IncidentRow]:
    """100 rows as the feed delivers them: mostly updates, some new incidents, some resolutions."""
    batch = []
    for _ in range(100):
        roll = rng.random()
        if roll < 0.1:
            next_id[0] += 1
            batch.append(make_row(rng, next_id[0]))
            continue
        row = model.row_at(rng.randrange(model.rowCount()))
        if roll < 0.2:
            batch.append(replace(row, status=IncidentStatus.RESOLVED, version=row.version + 1))
        elif roll < 0.6:
            batch.append(replace(row, severity=rng.choice(list(Severity)), version=row.version + 1))
        else:
            batch.append(replace(row, status=IncidentStatus.MITIGATING, owner=rng.choice(OWNERS[1:]),
                                 version=row.version + 1))
    return batch


def main() -> None:
    print(machine())
    app = create_application(["bench"])
    rng = random.Random(42)
    rows = [make_row(rng, i) for i in range(1, ROWS + 1)]
    model = QueueModel()
    model.set_now(NOW)
    panel = QueuePanel(model)
    panel.resize(1600, 1000)
    panel.show()
    app.processEvents()

    load = []
    for _ in range(7):
        start = time.perf_counter()
        model.load(rows)
        app.processEvents()
        load.append((time.perf_counter() - start) * 1000)
    report("queue.initial_load_100k_ms", load[1:], target="p99<=500", limit=500)

    panel.view.selectionModel().setCurrentIndex(
        model.index(500, 0), QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
    next_id = [ROWS]
    apply = []
    for i in range(220):
        batch = changed_batch(rng, model, next_id)
        start = time.perf_counter()
        model.apply(batch)
        apply.append((time.perf_counter() - start) * 1000)
        if i % 20 == 0:
            app.processEvents()
    report("queue.apply_100_rows_ms", apply[20:], target="p99<=16", limit=16)

    resort = []
    for _ in range(12):
        start = time.perf_counter()
        model.resort()
        resort.append((time.perf_counter() - start) * 1000)
    report("queue.full_resort_ms", resort[2:], target="p99<=100", limit=100)

    paint = []
    for _ in range(30):
        start = time.perf_counter()
        model.set_now(NOW + timedelta(seconds=len(paint)))
        panel.view.viewport().repaint()
        paint.append((time.perf_counter() - start) * 1000)
    report("queue.tick_and_repaint_visible_ms", paint[5:], target="p99<=16", limit=16)
    QApplication.processEvents()
    print(f"# rows at end: {model.rowCount()}")


if __name__ == "__main__":
    main()
