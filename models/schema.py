"""All mapped tables in one metadata, and the migration head this code expects."""
from models import audit, comms, incident, mitigation, org, policy, routing, telemetry  # noqa: F401  (registers every table on Base.metadata)
from models.base import Base

metadata = Base.metadata

# The advisory lock key on PostgreSQL that keeps the audit chain linear across consoles.
PG_WRITE_LOCK = 0x1CA0D17

# The newest Alembic revision this code knows. tests/test_migrations.py checks it equals the script head.
SCHEMA_HEAD = "0007"
