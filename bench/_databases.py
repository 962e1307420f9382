"""Throwaway databases for the benchmarks: a SQLite file in a folder, or a schema of its own on PostgreSQL."""
from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

from console.db import Database, open_database

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@contextlib.contextmanager
def sqlite_database(folder: str, name: str) -> Iterator[Database]:
    db = open_database(f"sqlite:///{folder}/{name}.db")
    try:
        yield db
    finally:
        db.dispose()


@contextlib.contextmanager
def pg_database(url: str) -> Iterator[Database]:
    """A fresh schema of its own on the PostgreSQL server, dropped afterwards."""
    import psycopg

    schema = f"icc_bench_{uuid.uuid4().hex[:8]}"
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True, connect_timeout=3) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            db = open_database(f"{url}?options=-csearch_path%3D{schema}")
            try:
                yield db
            finally:
                db.dispose()
        finally:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


def pg_version(url: str) -> str | None:
    try:
        import psycopg

        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), connect_timeout=3) as conn:
            return str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
    except Exception as error:  # noqa: BLE001 - reported, and the PostgreSQL figures are skipped
        print(f"# PostgreSQL not reachable at {url}: {str(error).splitlines()[0]}")
        return None


def filesystem(path: str) -> str:
    """The type of the file system holding `path` (tmpfs would make SQLite's fsyncs free)."""
    best, kind = "", "?"
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            _, mount, fstype, *_ = line.split()
            if path.startswith(mount) and len(mount) > len(best):
                best, kind = mount, fstype
    except OSError:
        pass
    return kind
