"""Schema versions: read the database's Alembic revision, upgrade it, refuse one newer than this code."""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from sqlalchemy import inspect, text

from console.db import Database
from console.errors import SchemaMismatch
from models.schema import SCHEMA_HEAD

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "models" / "migrations"


class SchemaState(StrEnum):
    EMPTY = "empty"
    FOREIGN = "foreign"  # has tables, but none of them is ours to migrate
    CURRENT = "current"
    BEHIND = "behind"
    AHEAD = "ahead"


@dataclass(frozen=True)
class SchemaStatus:
    state: SchemaState
    revision: str | None
    head: str


def _alembic_config():  # type: ignore[no-untyped-def]
    # Alembic costs ~0.2 s to import; only migrations and unknown revisions need it.
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def known_revisions() -> set[str]:
    """Return every revision id in this code's migration scripts."""
    from alembic.script import ScriptDirectory

    return {script.revision for script in ScriptDirectory.from_config(_alembic_config()).walk_revisions()}


def schema_status(db: Database) -> SchemaStatus:
    """Say whether the database is empty, current, behind or ahead of this code."""
    with db.engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
        has_version_table = "alembic_version" in tables
        revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar() if has_version_table else None
    if revision is None:
        # Someone else's tables: never migrate into a database that is not (yet) a console database.
        state = SchemaState.FOREIGN if tables - {"alembic_version"} else SchemaState.EMPTY
        return SchemaStatus(state, None, SCHEMA_HEAD)
    if revision == SCHEMA_HEAD:
        return SchemaStatus(SchemaState.CURRENT, revision, SCHEMA_HEAD)
    state = SchemaState.BEHIND if revision in known_revisions() else SchemaState.AHEAD
    return SchemaStatus(state, revision, SCHEMA_HEAD)


def upgrade(db: Database) -> SchemaStatus:
    """Apply every pending migration in one transaction and return the new status."""
    status = schema_status(db)
    if status.state is SchemaState.AHEAD:
        raise _newer_error(db, status)
    if status.state is SchemaState.FOREIGN:
        raise _foreign_error(db)
    if status.state is not SchemaState.CURRENT:
        from alembic import command

        config = _alembic_config()
        with db.engine.connect() as conn:
            if db.backend == "sqlite":
                # Batch mode rebuilds a table by copying it and dropping the original; with foreign keys on, that
                # drop deletes every row that refers to it with ON DELETE CASCADE (timelines, layers, overrides).
                # The pragma cannot change inside a transaction, so it is set before and checked at the end.
                conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
            try:
                with conn.begin():
                    if db.backend == "postgresql":
                        conn.exec_driver_sql("SET LOCAL statement_timeout = 0")  # a migration may rightly take long
                    config.attributes["connection"] = conn
                    command.upgrade(config, "head")
                    if db.backend == "sqlite" and (broken := conn.exec_driver_sql("PRAGMA foreign_key_check").first()):
                        raise SchemaMismatch(f"{db.display_url}: the upgrade would leave a row of {broken[0]} "
                                             f"pointing at a missing row of {broken[2]}; nothing was changed")
            finally:
                if db.backend == "sqlite":
                    conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]
    return schema_status(db)


def ensure_usable(db: Database, *, auto_upgrade: bool) -> SchemaStatus:
    """Make sure this code can work on the database: upgrade it if allowed, otherwise say what to run."""
    status = schema_status(db)
    if status.state is SchemaState.CURRENT:
        return status
    if status.state is SchemaState.AHEAD:
        raise _newer_error(db, status)
    if status.state is SchemaState.FOREIGN:
        raise _foreign_error(db)
    if auto_upgrade:
        return upgrade(db)
    what = "has no console schema" if status.state is SchemaState.EMPTY else f"is at schema {status.revision}"
    raise SchemaMismatch(
        f"database {db.display_url} {what}, this console needs {status.head}: "
        f"run `python main.py db upgrade --db URL` first"
    )


def _foreign_error(db: Database) -> SchemaMismatch:
    return SchemaMismatch(
        f"database {db.display_url} already has tables but is not a console database; refusing to change it "
        f"(use an empty database or a new file)"
    )


def _newer_error(db: Database, status: SchemaStatus) -> SchemaMismatch:
    return SchemaMismatch(
        f"database {db.display_url} has schema {status.revision}, newer than this console ({status.head}): "
        f"upgrade the console instead of using an older one"
    )
