"""Reading a long range for a chart: at most `points` buckets per series, averaged (and the worst kept) by the
database from the coarsest tier fine enough for the bucket (quarter hours for a month, minutes for a day, then
the samples), so a month for a dozen services reads 35k rows, not half a million.

A bucket's time is its start; each bucket's value is the mean of what it holds and its worst the worst value
(highest latency or error rate, lowest availability), so a breach stays visible however far out the chart is.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from console.errors import InvalidInput
from console.telemetry.store import TIERS, WORST, Metric, Series
from models.telemetry import MetricSample


def bucket_seconds(*, start: datetime, end: datetime, points: int) -> int:
    """Return the bucket width that fits the range into at most `points` buckets (whole seconds, at least 1)."""
    if end <= start:
        raise InvalidInput("the range ends before it starts")
    if points < 1:
        raise InvalidInput("a chart needs at least one point")
    span = (end - start).total_seconds()
    # Buckets are aligned to the epoch (so they do not shift as a live chart's range slides): a range may touch
    # one more bucket than it spans, hence one fewer in the division.
    return max(1, int(-(-span // (points - 1 if points > 1 else 0.5))))


def read_bucketed(session: Session, *, service_ids: Iterable[int], metrics: Iterable[Metric], start: datetime,
                  end: datetime, points: int) -> list[Series]:
    """Return each service's metrics over the range in at most `points` buckets, from minutes and samples."""
    width = bucket_seconds(start=start, end=end, points=points)
    wanted, ids = tuple(metrics), tuple(service_ids)
    # Per metric, per service: bucket number -> [sum of values, how many, worst]. The hot loop below runs once per
    # returned row and metric (12 services x 1,000 buckets x 5 metrics for a month): it does as little as it can.
    found: list[dict[int, dict[int, list[Any]]]] = [{s: {} for s in ids} for _ in wanted]
    worse = [min if m is Metric.AVAILABILITY else max for m in wanted]
    # The coarsest rolled-up tier whose rows are no wider than a bucket (minutes for anything finer).
    rolled = next((table for table, tier in reversed(TIERS) if tier <= width), TIERS[0][0])
    for table, time_column in ((rolled, rolled.minute), (MetricSample, MetricSample.at)):
        bucket = table.t // width  # whole seconds since the epoch: integer arithmetic on both backends
        columns: list[Any] = []
        for metric in wanted:
            worst_name = WORST.get(metric, metric.value) if table is not MetricSample else metric.value
            pick = func.min if metric is Metric.AVAILABILITY else func.max
            column = getattr(table, metric.value)
            columns += [func.avg(column), func.count(column), pick(getattr(table, worst_name))]
        query = (select(table.service_id, bucket.label("bucket"), *columns)
                 .where(table.service_id.in_(ids), time_column >= start, time_column <= end)
                 .group_by(table.service_id, bucket))
        for row in session.connection().execute(query):  # Core rows: no ORM loading per row
            service, number = row[0], int(row[1])
            for index in range(len(wanted)):
                mean, count, worst = row[2 + 3 * index], row[3 + 3 * index], row[4 + 3 * index]
                if mean is None:
                    continue
                slots = found[index][service]
                slot = slots.get(number)
                if slot is None:
                    slots[number] = [mean * count, count, worst]
                else:  # the bucket where the rolled-up rows end and the samples begin
                    slot[0] += mean * count
                    slot[1] += count
                    slot[2] = worst if slot[2] is None else slot[2] if worst is None else worse[index](slot[2], worst)
    result = []
    for index, metric in enumerate(wanted):
        for service_id, slots in found[index].items():
            keys = sorted(slots)
            result.append(Series(service_id, metric, tuple(float(k * width) for k in keys),
                                 tuple(slots[k][0] / slots[k][1] for k in keys),
                                 tuple(float(slots[k][2]) for k in keys)))
    return result
