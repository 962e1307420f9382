"""Telemetry storage on SQLite and PostgreSQL: samples recorded and checked, rolled up into minutes beyond the
full-resolution window without averaging a breach away, read back over ranges that span both."""
from __future__ import annotations

from datetime import timedelta

import pytest

from console.errors import InvalidInput
from console.telemetry.store import Metric, Retention, Sample, read_series, record_samples, roll_up, sample_count
from tests.conftest import T0


def _write(db, samples) -> None:  # type: ignore[no-untyped-def]
    with db.writer() as s:
        record_samples(s, samples=samples)
        s.commit()


def test_samples_read_back_in_order_per_service_and_metric(db, org) -> None:  # type: ignore[no-untyped-def]
    _write(db, [Sample(org.identity, T0 + timedelta(seconds=10 * i),
                       {Metric.LATENCY_P99: 100.0 + i, Metric.ERROR_RATE: 0.01}) for i in range(30)]
           + [Sample(org.checkout, T0, {Metric.LATENCY_P99: 900.0})])
    with db.reader() as s:
        series = read_series(s, service_ids=[org.identity, org.checkout], metrics=[Metric.LATENCY_P99],
                             start=T0 + timedelta(seconds=50), end=T0 + timedelta(minutes=10))
    identity = next(x for x in series if x.service_id == org.identity)
    assert identity.values[:3] == (105.0, 106.0, 107.0) and len(identity.values) == 25
    assert identity.times == tuple(sorted(identity.times))
    assert next(x for x in series if x.service_id == org.checkout).values == ()  # T0 is before the range


def test_a_repeated_moment_replaces_the_earlier_sample(db, org) -> None:  # type: ignore[no-untyped-def]
    _write(db, [Sample(org.identity, T0, {Metric.AVAILABILITY: 0.99})])
    _write(db, [Sample(org.identity, T0, {Metric.AVAILABILITY: 0.98})])
    with db.reader() as s:
        assert sample_count(s) == (1, 0)
        [series] = read_series(s, service_ids=[org.identity], metrics=[Metric.AVAILABILITY], start=T0,
                               end=T0 + timedelta(minutes=1))
    assert series.values == (0.98,)


@pytest.mark.parametrize(("values", "words"), [
    ({Metric.ERROR_RATE: 1.5}, "error_rate: 1.5 is above 1"),
    ({Metric.LATENCY_P99: float("nan")}, "latency_p99: nan is not a finite number"),
    ({Metric.THROUGHPUT: -3}, "throughput: -3 is negative"),
    ({}, "the sample has no metric"),
])
def test_a_sample_that_cannot_be_a_measurement_is_refused_and_nothing_is_written(db, org, values, words) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput, match=words):
        _write(db, [Sample(org.identity, T0, {Metric.LATENCY_P50: 10.0}), Sample(org.identity, T0, values)])
    with db.reader() as s:
        assert sample_count(s) == (0, 0)


def test_old_samples_become_minutes_that_keep_the_worst_and_ranges_span_both(db, org) -> None:  # type: ignore[no-untyped-def]
    old = T0 - timedelta(days=3)
    # One minute three days ago: p99 mostly 100 ms with one 2-second spike, availability dipping once to 0.5.
    _write(db, [Sample(org.identity, old + timedelta(seconds=5 * i),
                       {Metric.LATENCY_P99: 2000.0 if i == 7 else 100.0, Metric.AVAILABILITY: 0.5 if i == 3 else 1.0})
                for i in range(12)]
           + [Sample(org.identity, T0 - timedelta(minutes=5), {Metric.LATENCY_P99: 120.0})])
    with db.writer() as s:
        assert roll_up(s, now=T0) == 1
        s.commit()
    with db.writer() as s:
        assert roll_up(s, now=T0) == 0  # idempotent: nothing older is left to fold
        s.commit()
    with db.reader() as s:
        assert sample_count(s) == (1, 1)
        p99, availability = read_series(s, service_ids=[org.identity],
                                        metrics=[Metric.LATENCY_P99, Metric.AVAILABILITY],
                                        start=old - timedelta(hours=1), end=T0)
    assert p99.values == (pytest.approx((11 * 100 + 2000) / 12), 120.0)
    assert p99.worst == (2000.0, 120.0)  # the spike survives the roll-up
    assert availability.worst == (0.5,) and availability.values == (pytest.approx(11.5 / 12),)


def test_minutes_past_keeping_are_dropped(db, org) -> None:  # type: ignore[no-untyped-def]
    _write(db, [Sample(org.identity, T0 - timedelta(days=40), {Metric.THROUGHPUT: 10.0}),
                Sample(org.identity, T0 - timedelta(days=20), {Metric.THROUGHPUT: 20.0})])
    with db.writer() as s:
        roll_up(s, now=T0, retention=Retention(full=timedelta(days=2), keep=timedelta(days=35)))
        s.commit()
    with db.reader() as s:
        assert sample_count(s) == (0, 1)


def test_a_long_range_comes_back_in_few_buckets_with_the_worst_kept(db, org) -> None:  # type: ignore[no-untyped-def]
    from console.telemetry.ranges import read_bucketed

    # Two hours of samples every 10 s (720), one 3-second spike in the second hour; asked for 13 points: 10-minute
    # buckets aligned to the epoch (the range may touch one more than it spans).
    start = T0.replace(minute=0)
    _write(db, [Sample(org.identity, start + timedelta(seconds=10 * i),
                       {Metric.LATENCY_P99: 3000.0 if i == 500 else 100.0, Metric.AVAILABILITY: 1.0})
                for i in range(720)])
    with db.reader() as s:
        p99, availability = read_bucketed(s, service_ids=[org.identity],
                                          metrics=[Metric.LATENCY_P99, Metric.AVAILABILITY], start=start,
                                          end=start + timedelta(hours=2), points=13)
    assert len(p99.times) == 12 and p99.times[0] == start.timestamp() and p99.times[1] - p99.times[0] == 600
    spike = next(i for i, w in enumerate(p99.worst) if w == 3000.0)
    assert p99.times[spike] == (start + timedelta(seconds=4800)).timestamp()
    assert p99.values[spike] == pytest.approx((59 * 100 + 3000) / 60) and p99.values[0] == pytest.approx(100.0)
    assert set(availability.values) == {1.0}


def test_buckets_reach_across_rolled_up_minutes_and_recent_samples(db, org) -> None:  # type: ignore[no-untyped-def]
    from console.telemetry.ranges import read_bucketed

    _write(db, [Sample(org.identity, T0 - timedelta(days=3) + timedelta(minutes=i), {Metric.ERROR_RATE: 0.02})
                for i in range(60)] + [Sample(org.identity, T0 - timedelta(minutes=1), {Metric.ERROR_RATE: 0.5})])
    with db.writer() as s:
        roll_up(s, now=T0)
        s.commit()
    with db.reader() as s:
        [errors] = read_bucketed(s, service_ids=[org.identity], metrics=[Metric.ERROR_RATE],
                                 start=T0 - timedelta(days=4), end=T0, points=97)
    assert errors.values[0] == pytest.approx(0.02) and errors.worst[-1] == 0.5
    assert len(errors.times) == 2  # an hour of old minutes in one hour-wide bucket, the recent sample in another


def test_a_day_of_old_data_reads_from_minutes_and_a_month_from_quarter_hours(db, org) -> None:  # type: ignore[no-untyped-def]
    from console.telemetry.ranges import read_bucketed

    old = T0 - timedelta(days=3)
    # 30 minutes of samples; minute 7 has one 900 ms spike. Minutes keep it at 5-minute buckets, quarters at hours.
    _write(db, [Sample(org.identity, old + timedelta(seconds=30 * i),
                       {Metric.LATENCY_P95: 900.0 if i == 14 else 50.0}) for i in range(60)])
    with db.writer() as s:
        roll_up(s, now=T0)
        s.commit()
    with db.reader() as s:
        [five] = read_bucketed(s, service_ids=[org.identity], metrics=[Metric.LATENCY_P95], start=old,
                               end=old + timedelta(hours=2), points=25)
        [hours] = read_bucketed(s, service_ids=[org.identity], metrics=[Metric.LATENCY_P95], start=old,
                                end=old + timedelta(days=2), points=49)
    assert five.times[1] - five.times[0] == 300 and len(five.times) == 6 and five.worst[1] == 900.0
    assert len(hours.times) == 1 and hours.worst == (900.0,) and hours.values[0] == pytest.approx((59 * 50 + 900) / 60)
