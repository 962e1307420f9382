"""Telemetry storage: record samples, roll old ones up into minutes, and read a series over any range.

Retention: samples stay at full resolution for `full` (2 days by default); older ones are folded into one row per
service and minute, and one per quarter hour (what a chart of a month reads), and deleted; rolled-up rows older
than `keep` (35 days) are dropped. `roll_up` is idempotent at
one moment, like the escalation tick: running it twice changes nothing more. A range read takes minutes where
only minutes are left and samples after, so a chart of a month and a chart of the last quarter hour are both
one query of a few thousand rows at most per series.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, delete, func, select
from sqlalchemy.orm import Session

from console.errors import InvalidInput
from models.telemetry import MetricMinute, MetricQuarter, MetricSample

# The rolled-up tiers: each table, and the width of one of its rows in seconds.
TIERS: tuple[tuple[type[MetricMinute] | type[MetricQuarter], int], ...] = ((MetricMinute, 60), (MetricQuarter, 900))


class Metric(StrEnum):
    LATENCY_P50 = "latency_p50"
    LATENCY_P95 = "latency_p95"
    LATENCY_P99 = "latency_p99"
    ERROR_RATE = "error_rate"
    AVAILABILITY = "availability"
    THROUGHPUT = "throughput"


# The worst value of a minute: highest latency and error rate, lowest availability (throughput has none).
WORST = {Metric.LATENCY_P50: "worst_p50", Metric.LATENCY_P95: "worst_p95", Metric.LATENCY_P99: "worst_p99",
         Metric.ERROR_RATE: "worst_error_rate", Metric.AVAILABILITY: "worst_availability"}
FRACTIONS = (Metric.ERROR_RATE, Metric.AVAILABILITY)


@dataclass(frozen=True)
class Retention:
    full: timedelta = timedelta(days=2)
    keep: timedelta = timedelta(days=35)


@dataclass(frozen=True)
class Sample:
    """One measurement of a service, as any source delivers it; a metric it did not measure is None."""

    service_id: int
    at: datetime
    values: dict[Metric, float]
    source: str = ""


def check_sample(sample: Sample) -> None:
    """Refuse a sample that could not be a measurement, naming the metric and the value."""
    if sample.at.tzinfo is None:
        raise InvalidInput(f"service #{sample.service_id}: a sample's time must carry its UTC offset")
    if not sample.values:
        raise InvalidInput(f"service #{sample.service_id} at {sample.at.isoformat()}: the sample has no metric")
    for metric, value in sample.values.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            raise InvalidInput(f"{metric}: {value!r} is not a finite number")
        if value < 0:
            raise InvalidInput(f"{metric}: {value} is negative")
        if metric in FRACTIONS and value > 1:
            raise InvalidInput(f"{metric}: {value} is above 1 (a fraction: 0.995 is 99.5%)")


def record_samples(session: Session, *, samples: Sequence[Sample]) -> int:
    """Store samples (a repeat of the same service and moment replaces the earlier one); return how many."""
    for sample in samples:
        check_sample(sample)
    for sample in samples:
        at = sample.at.astimezone(timezone.utc)
        session.merge(MetricSample(service_id=sample.service_id, at=at, t=int(at.timestamp()),
                                   source=sample.source[:32], **{m.value: v for m, v in sample.values.items()}))
    return len(samples)


def roll_up(session: Session, *, now: datetime, retention: Retention = Retention()) -> int:
    """Fold samples older than the full-resolution window into minutes and drop what is past keeping."""
    cutoff = _minute(now - retention.full)
    cutoff -= timedelta(minutes=cutoff.minute % 15)  # whole quarters only: a quarter is folded once, complete
    old = session.execute(select(MetricSample).where(MetricSample.at < cutoff)
                          .order_by(MetricSample.service_id, MetricSample.at)).scalars().all()
    folded = 0
    for table, width in TIERS:
        groups: dict[tuple[int, datetime], list[MetricSample]] = {}
        for row in old:
            groups.setdefault((row.service_id, _floor(row.at, width)), []).append(row)
        for (service_id, start), rows in groups.items():
            session.merge(_fold(table, service_id, start, rows, session.get(table, (service_id, start))))
        folded = folded or len(groups)
        session.execute(delete(table).where(table.minute < _minute(now - retention.keep)))
    session.execute(delete(MetricSample).where(MetricSample.at < cutoff))
    return folded


def _fold(table: Any, service_id: int, start: datetime, rows: list[MetricSample], existing: Any) -> Any:
    """Merge samples into a rolled-up row (one already rolled up in part keeps its weight)."""
    weight = existing.samples if existing else 0
    folded = table(service_id=service_id, minute=start, t=int(start.timestamp()), samples=weight + len(rows))
    for metric in Metric:
        values = [v for r in rows if (v := getattr(r, metric.value)) is not None]
        before = getattr(existing, metric.value) if existing else None
        total = sum(values) + (before * weight if before is not None else 0)
        count = len(values) + (weight if before is not None else 0)
        setattr(folded, metric.value, total / count if count else None)
        if metric in WORST:
            column = WORST[metric]
            candidates = values + ([getattr(existing, column)] if existing and getattr(existing, column) is not None
                                   else [])
            pick = min if metric is Metric.AVAILABILITY else max
            setattr(folded, column, pick(candidates) if candidates else None)
    return folded


@dataclass(frozen=True)
class Series:
    """One metric of one service over a range: times (UTC epoch seconds) and values, oldest first; `worst` is
    the minute's worst value where the range reaches into rolled-up minutes (else the value itself)."""

    service_id: int
    metric: Metric
    times: tuple[float, ...]
    values: tuple[float, ...]
    worst: tuple[float, ...]


def read_series(session: Session, *, service_ids: Iterable[int], metrics: Iterable[Metric], start: datetime,
                end: datetime) -> list[Series]:
    """Return each service's metrics between start and end: minutes where only minutes are kept, then samples."""
    if end <= start:
        raise InvalidInput("the range ends before it starts")
    wanted, ids = tuple(metrics), tuple(service_ids)
    found: dict[tuple[int, Metric], tuple[list[float], list[float], list[float]]] = {
        (s, m): ([], [], []) for s in ids for m in wanted}
    minute_columns = [getattr(MetricMinute, m.value) for m in wanted] + [
        getattr(MetricMinute, WORST.get(m, m.value)) for m in wanted]
    for row in session.execute(select(MetricMinute.service_id, MetricMinute.minute, *minute_columns).where(
            MetricMinute.service_id.in_(ids), and_(MetricMinute.minute >= start, MetricMinute.minute <= end))
            .order_by(MetricMinute.service_id, MetricMinute.minute)):
        for index, metric in enumerate(wanted):
            value, worst = row[2 + index], row[2 + len(wanted) + index]
            if value is not None:
                times, values, worsts = found[(row[0], metric)]
                times.append(row[1].timestamp()), values.append(value), worsts.append(worst)
    sample_columns = [getattr(MetricSample, m.value) for m in wanted]
    for row in session.execute(select(MetricSample.service_id, MetricSample.at, *sample_columns).where(
            MetricSample.service_id.in_(ids), MetricSample.at >= start, MetricSample.at <= end)
            .order_by(MetricSample.service_id, MetricSample.at)):
        for index, metric in enumerate(wanted):
            if (value := row[2 + index]) is not None:
                times, values, worsts = found[(row[0], metric)]
                times.append(row[1].timestamp()), values.append(value), worsts.append(value)
    return [Series(s, m, tuple(t), tuple(v), tuple(w)) for (s, m), (t, v, w) in found.items()]


def sample_count(session: Session) -> tuple[int, int]:
    """Return how many samples and rolled-up minutes are stored."""
    return (session.execute(select(func.count()).select_from(MetricSample)).scalar_one(),
            session.execute(select(func.count()).select_from(MetricMinute)).scalar_one())


def _minute(at: datetime) -> datetime:
    return at.astimezone(timezone.utc).replace(second=0, microsecond=0)


def _floor(at: datetime, width: int) -> datetime:
    minute = _minute(at)
    return minute - timedelta(minutes=minute.minute % (width // 60))
