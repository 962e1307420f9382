"""All mapped tables in one metadata, and the migration head this code expects."""
from models import audit, incident, org, policy  # noqa: F401  (registers every table on Base.metadata)
from models.base import Base

metadata = Base.metadata

# One advisory lock key on PostgreSQL serialises audit appends and change-log writes, so that change-log
# sequence order is commit order (a reader never skips a row that commits late).
PG_WRITE_LOCK = 0x1CA0D17

# The newest Alembic revision this code knows. tests/test_migrations.py checks it equals the script head.
SCHEMA_HEAD = "0002"
