"""Service telemetry: metric samples at full resolution for a recent window, and rolled-up minutes and quarter
hours beyond it.

One row holds every metric of a service at one moment (a source may give only some: the rest are NULL), so a
month of minutes for 14 services is ~600k narrow rows, not six times that; a month of quarter hours is 40k,
which is what a chart of a month reads. `t` is the time in whole seconds since the epoch, beside the datetime:
charts bucket by it with integer arithmetic, which SQLite does ten times faster than reading its time text.
"""
from datetime import datetime

from sqlalchemy import BigInteger, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime


class _Metrics:
    latency_p50: Mapped[float | None] = mapped_column(Float)
    latency_p95: Mapped[float | None] = mapped_column(Float)
    latency_p99: Mapped[float | None] = mapped_column(Float)
    error_rate: Mapped[float | None] = mapped_column(Float)
    availability: Mapped[float | None] = mapped_column(Float)
    throughput: Mapped[float | None] = mapped_column(Float)


class _Rolled(_Metrics):
    """A span's samples rolled up: the mean of each metric and its worst value (the highest latency and error
    rate, the lowest availability), so a breach inside the span is never averaged away."""

    t: Mapped[int] = mapped_column(BigInteger)
    samples: Mapped[int] = mapped_column(Integer)
    worst_p50: Mapped[float | None] = mapped_column(Float)
    worst_p95: Mapped[float | None] = mapped_column(Float)
    worst_p99: Mapped[float | None] = mapped_column(Float)
    worst_error_rate: Mapped[float | None] = mapped_column(Float)
    worst_availability: Mapped[float | None] = mapped_column(Float)


class MetricSample(_Metrics, Base):
    """What a source measured for a service at one moment: latency percentiles (ms), error rate and availability
    (fractions 0..1), throughput (requests per second)."""

    __tablename__ = "metric_samples"

    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    t: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(32), default="")


class MetricMinute(_Rolled, Base):
    __tablename__ = "metric_minutes"

    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"), primary_key=True)
    minute: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)


class MetricQuarter(_Rolled, Base):
    """Fifteen minutes of one service, rolled up from the same samples as its minutes."""

    __tablename__ = "metric_quarters"

    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"), primary_key=True)
    minute: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)  # the quarter's first minute
