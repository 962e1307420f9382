"""service telemetry: metric samples at full resolution, rolled-up minutes and quarter hours

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

Samples and minutes are written many times a second by sources and concern no row a console shows as a
change: no change-log triggers (charts poll what they show).
"""
import sqlalchemy as sa
from alembic import op

import models.base

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_UTC = models.base.UTCDateTime(timezone=True)
_METRICS = ("latency_p50", "latency_p95", "latency_p99", "error_rate", "availability", "throughput")
_WORST = ("worst_p50", "worst_p95", "worst_p99", "worst_error_rate", "worst_availability")


def upgrade() -> None:
    op.create_table(
        "metric_samples",
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("at", _UTC, nullable=False),
        sa.Column("t", sa.BigInteger(), nullable=False),
        *(sa.Column(name, sa.Float(), nullable=True) for name in _METRICS),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"], name=op.f("fk_metric_samples_service_id_services"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("service_id", "at", name=op.f("pk_metric_samples")),
    )
    for table in ("metric_minutes", "metric_quarters"):
        op.create_table(
            table,
            sa.Column("service_id", sa.Integer(), nullable=False),
            sa.Column("minute", _UTC, nullable=False),
            sa.Column("t", sa.BigInteger(), nullable=False),
            sa.Column("samples", sa.Integer(), nullable=False),
            *(sa.Column(name, sa.Float(), nullable=True) for name in _METRICS + _WORST),
            sa.ForeignKeyConstraint(["service_id"], ["services.id"], name=op.f(f"fk_{table}_service_id_services"),
                                    ondelete="CASCADE"),
            sa.PrimaryKeyConstraint("service_id", "minute", name=op.f(f"pk_{table}")),
        )


def downgrade() -> None:
    for table in ("metric_quarters", "metric_minutes", "metric_samples"):
        op.drop_table(table)
