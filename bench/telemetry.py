"""Telemetry reads for charts: a month of rolled-up minutes for 12 services, read in buckets for a chart.

Issue 7's "a month of samples for 12 services queried and drawn in <= 300 ms": this is the query half (the
drawing half belongs to bench/charts.py, with the charts). Setup, not measured: 30 days of minutes (43,200 per
service, every metric) and their quarter hours (2,880) for the demo organisation's first 12 services, plus the last two days at 10-second
resolution for one of them (17,280 samples). Measured: `read_bucketed` over the whole month, 1,000 points per
series, for the 12 services' p99 latency (12 series: the overview of every service, the target) and for their 5
charted metrics (60 series, reported); and over the last hour of one service (samples only).
Run: .venv/bin/python bench/telemetry.py [--pg URL | --no-pg]
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse  # noqa: E402
import random  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import datetime, timedelta, timezone  # noqa: E402

from sqlalchemy import insert, select  # noqa: E402

from bench._databases import PG_URL, pg_database, pg_version, sqlite_database  # noqa: E402
from bench._report import machine, report, report_untargeted  # noqa: E402
from console import commands  # noqa: E402
from console.clock import SystemClock  # noqa: E402
from console.db import Database  # noqa: E402
from console.schema import upgrade  # noqa: E402
from console.telemetry.ranges import read_bucketed  # noqa: E402
from console.telemetry.store import Metric  # noqa: E402
from console.uow import UnitOfWork  # noqa: E402
from models.org import Service  # noqa: E402
from models.telemetry import MetricMinute, MetricQuarter, MetricSample  # noqa: E402

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)
CHART = (Metric.LATENCY_P50, Metric.LATENCY_P95, Metric.LATENCY_P99, Metric.ERROR_RATE, Metric.AVAILABILITY)


def fill(db: Database) -> list[int]:
    upgrade(db)
    commands.seed_demo(UnitOfWork(db, SystemClock()))
    with db.reader() as s:
        ids = list(s.execute(select(Service.id).order_by(Service.id).limit(12)).scalars())
    rng = random.Random(7)
    start = NOW - timedelta(days=30)
    for service_id in ids:
        for table, step in ((MetricMinute, 1), (MetricQuarter, 15)):
            rows = []
            for minute in range(0, 30 * 24 * 60, step):
                p50 = 40 + rng.random() * 10
                at = start + timedelta(minutes=minute)
                rows.append({"service_id": service_id, "minute": at, "t": int(at.timestamp()), "samples": 6 * step,
                             "latency_p50": p50, "latency_p95": p50 * 3, "latency_p99": p50 * 6, "error_rate": 0.002,
                             "availability": 0.999, "throughput": 120.0, "worst_p50": p50 * 1.2,
                             "worst_p95": p50 * 4, "worst_p99": p50 * 9, "worst_error_rate": 0.01,
                             "worst_availability": 0.99})
            with db.writer() as s:
                s.execute(insert(table), rows)
                s.commit()
    samples = [{"service_id": ids[0], "at": (at := NOW - timedelta(days=2) + timedelta(seconds=10 * i)),
                "t": int(at.timestamp()), "latency_p50": 45.0,
                "latency_p95": 130.0, "latency_p99": 260.0, "error_rate": 0.002, "availability": 0.999,
                "throughput": 120.0, "source": "bench"} for i in range(2 * 8640)]
    with db.writer() as s:
        s.execute(insert(MetricSample), samples)
        s.commit()
    return ids


def run(db: Database, label: str) -> None:
    started = time.perf_counter()
    ids = fill(db)
    print(f"# {label}: 12 services x 43,200 minutes written in {time.perf_counter() - started:.1f} s", flush=True)
    month, month_p99, hour = [], [], []
    for _ in range(10):
        started = time.perf_counter()
        with db.reader() as session:
            read_bucketed(session, service_ids=ids, metrics=[Metric.LATENCY_P99], start=NOW - timedelta(days=30),
                          end=NOW, points=1000)
        month_p99.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        with db.reader() as session:
            series = read_bucketed(session, service_ids=ids, metrics=CHART, start=NOW - timedelta(days=30), end=NOW,
                                   points=1000)
        month.append((time.perf_counter() - started) * 1000)
        assert len(series) == 60 and all(900 <= len(s.times) <= 1000 for s in series), [len(s.times) for s in series]
        started = time.perf_counter()
        with db.reader() as session:
            read_bucketed(session, service_ids=ids[:1], metrics=CHART, start=NOW - timedelta(hours=1), end=NOW,
                          points=1000)
        hour.append((time.perf_counter() - started) * 1000)
    report(f"telemetry.{label}.month_12_series_p99_1000_points_ms", month_p99, target="p99<=300 (query part)",
           limit=300)
    report_untargeted(f"telemetry.{label}.month_12_services_5_metrics_1000_points_ms", month)
    report(f"telemetry.{label}.last_hour_one_service_ms", hour, target="p99<=300", limit=300)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pg", default=PG_URL)
    parser.add_argument("--no-pg", action="store_true")
    args = parser.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory() as folder, sqlite_database(folder, "telemetry") as db:
        run(db, "sqlite")
    if not args.no_pg and (version := pg_version(args.pg)):
        print(f"# PostgreSQL {version}")
        with pg_database(args.pg) as db:
            run(db, "postgresql")


if __name__ == "__main__":
    main()
