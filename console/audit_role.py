"""The PostgreSQL role consoles connect as in a deployment: every right the console needs, except rewriting the
audit trail or a signed decision (no UPDATE, DELETE or TRUNCATE there) or the schema version.

The append-only triggers of migration 0006 stop anyone who keeps to the rules; this stops a console's own
credentials from being enough to go around them. Only the tables' owner or a superuser can disable a trigger,
so that role must never be the one consoles connect as.
"""
from __future__ import annotations

import re

from console.errors import InvalidInput

APPEND_ONLY = ("audit_entries", "mitigation_decisions")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def role_sql(*, role: str, schema: str = "public") -> str:
    """Return the SQL that grants a role the console's rights on a schema, append-only where it matters."""
    for kind, name in (("role", role), ("schema", schema)):
        if not _NAME.fullmatch(name):
            raise InvalidInput(f"--{kind} {name!r}: use letters, digits and underscores (at most 63), not starting "
                               "with a digit")
    r, s = f'"{role}"', f'"{schema}"'
    guarded = ", ".join(f"{s}.{table}" for table in APPEND_ONLY)
    return f"""-- The role consoles connect as: it may add to the audit trail and read it, never rewrite it.
-- Run as the owner of the console's tables (whoever ran `python main.py db upgrade`), and again after
-- every upgrade: it is idempotent, and new tables get no rights until it runs.
-- Create the role first if it does not exist, e.g.:  CREATE ROLE {r} LOGIN PASSWORD '...';
-- It must not own the tables and must not be a superuser: either could disable the append-only triggers.
GRANT USAGE ON SCHEMA {s} TO {r};
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {s} TO {r};
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {s} TO {r};
REVOKE UPDATE, DELETE, TRUNCATE, TRIGGER, REFERENCES ON {guarded} FROM {r};
-- Upgrading the schema is the owner's job, not a console's.
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {s}.alembic_version FROM {r};
"""
