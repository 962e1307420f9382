"""Catching up after a lost connection: an hour of changes made by others (50 changes/s, each an incident
update and a timeline entry, as commands write them) while this console was away; then the real change feed
reads from its cursor into the real queue model (offscreen) until nothing is left.

Target (issue 3): replaying an hour of missed changes takes <= 2 s.
Run: .venv/bin/python bench/catchup.py [--pg URL] [--minutes 60]
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402

from bench._report import machine, report  # noqa: E402

INCIDENTS = 2000
RATE = 50  # changes per second
RUNS = 3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--minutes", type=int, default=60)
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import psycopg
    from PySide6.QtCore import QDeadlineTimer, QEventLoop
    from PySide6.QtWidgets import QApplication
    from sqlalchemy import text

    from bench._setup import seeded_database
    from console.clock import SystemClock
    from console.queries import Reader
    from ui.feed import ChangeFeed
    from ui.queue_model import QueueModel
    from ui.tasks import TaskRunner

    print(machine())
    app = QApplication(["catchup"])
    changes = RATE * 60 * args.minutes
    schema = f"icc_catchup_{uuid.uuid4().hex[:8]}"
    plain = args.pg.replace("postgresql+psycopg://", "postgresql://")
    admin = psycopg.connect(plain, autocommit=True)
    admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        db, ids = seeded_database(f"{args.pg}?options=-csearch_path%3D{schema}", incidents=INCIDENTS,
                                  title="Catch-up incident")
        samples = []
        for run in range(RUNS):
            runner = TaskRunner()
            model = QueueModel()
            feed = ChangeFeed(Reader(db, SystemClock()), runner, watch=False)
            feed.loaded.connect(lambda snapshot, m=model: m.load(snapshot.rows))
            feed.changed.connect(lambda batch, m=model: m.apply(batch.rows))
            feed.start()
            _wait(app, lambda f=feed: f.cursor is not None, QDeadlineTimer, QEventLoop)
            feed.stop()  # the line drops: nothing is read from here on
            rounds = changes // INCIDENTS
            with db.engine.begin() as conn:  # an hour of the rest of the war room, in bulk to save the wait
                for k in range(rounds):
                    conn.execute(text("UPDATE incidents SET next_action = :t, version = version + 1 "
                                      "WHERE id = ANY(:ids)"), {"t": f"hour step {k}", "ids": ids})
                    conn.execute(text("INSERT INTO timeline_events (incident_id, at, kind, actor_id, text) "
                                      "SELECT id, now(), 'note', NULL, :t FROM incidents WHERE id = ANY(:ids)"),
                                 {"t": f"note {k}", "ids": ids})
            with db.engine.connect() as conn:
                final = dict(conn.execute(text("SELECT id, version FROM incidents WHERE id = ANY(:ids)"),
                                          {"ids": ids}).all())
                backlog = conn.execute(text("SELECT count(*) FROM change_log WHERE seq > :c"),
                                       {"c": feed.cursor}).scalar()
                end = conn.execute(text("SELECT max(seq) FROM change_log")).scalar()
            start = time.perf_counter()
            feed.poll_now()  # the line is back: catch up from the cursor
            # Rows are read as they are now, so the screen is current after the first batch; caught up means
            # the cursor has walked to the end of the log as well (nothing left that could be missed).
            _wait(app, lambda m=model, want=final: all((r := m.row_by_id(i)) is not None and r.version == v
                                                       for i, v in want.items()), QDeadlineTimer, QEventLoop)
            current = (time.perf_counter() - start) * 1000
            _wait(app, lambda f=feed, e=end: f.cursor is not None and f.cursor >= e, QDeadlineTimer, QEventLoop)
            samples.append((time.perf_counter() - start) * 1000)
            print(f"# run {run + 1}: {backlog} change-log rows behind ({changes} changes): screen current after "
                  f"{current:.0f} ms, cursor at the end after {samples[-1]:.0f} ms")
            runner.shutdown()
        report(f"catchup.{args.minutes}_minutes_ms", samples, target="max<=2000", limit=2000, stat="max")
        db.dispose()
    finally:
        admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()


def _wait(app, done, QDeadlineTimer, QEventLoop) -> None:  # type: ignore[no-untyped-def]
    deadline = QDeadlineTimer(120_000)
    while not done():
        if deadline.hasExpired():
            raise SystemExit("gave up waiting after 120 s")
        app.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents, 20)


if __name__ == "__main__":
    main()
