"""The command line, run as a user runs it (a subprocess): every error is one line on stderr and status 2."""
from __future__ import annotations

import os
import sqlite3
import struct
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from models.schema import SCHEMA_HEAD
from tests.conftest import PG_URL, REQUIRE_POSTGRES

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def run(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Run main.py with its own data, config and log folders."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_DATA_HOME=str(tmp_path / "data"),
               XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_STATE_HOME=str(tmp_path / "state"),
               XDG_CACHE_HOME=str(tmp_path / "cache"))

    def call(*args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, env={**env, **(extra_env or {})},
                              capture_output=True, text=True, timeout=120)

    return call


def _one_clear_line(result: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


def test_version(run) -> None:  # type: ignore[no-untyped-def]
    result = run("--version")
    assert result.returncode == 0 and "Incident Command Console 0.1.0" in result.stdout


@pytest.mark.parametrize("url,fragment", [
    ("mysql://root@localhost/test", "unknown database URL scheme 'mysql'"),
    ("not a url", "cannot parse database URL"),
    ("postgresql+psycopg://postgres@127.0.0.1:1/test", "cannot connect to postgresql+psycopg://postgres@127.0.0.1:1"),
    ("sqlite:////no/such/folder/x.db", "folder /no/such/folder does not exist"),
])
def test_bad_database_urls_are_one_line_errors(run, url: str, fragment: str) -> None:  # type: ignore[no-untyped-def]
    _one_clear_line(run("db", "upgrade", "--db", url), fragment)


def test_upgrade_seed_and_screenshot_a_sqlite_file(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'war-room.db'}"
    upgraded = run("db", "upgrade", "--db", url)
    assert upgraded.returncode == 0 and f"schema {SCHEMA_HEAD} (current)" in upgraded.stdout
    seeded = run("seed-demo", "--db", url)
    assert seeded.returncode == 0 and "demo organisation seeded" in seeded.stdout
    _one_clear_line(run("seed-demo", "--db", url), "already")
    out = tmp_path / "window.png"
    shot = run("screenshot", "--db", url, "--out", str(out), "--size", "1280x800")
    assert shot.returncode == 0, shot.stderr
    assert _png_size(out) == (1280, 800)


def test_console_refuses_an_unknown_user_and_an_empty_database(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    assert run("db", "upgrade", "--db", url).returncode == 0
    _one_clear_line(run("--db", url), "has no organisation yet")
    run("seed-demo", "--db", url)
    _one_clear_line(run("--db", url, "--user", "nobody"), "--user 'nobody'")


def test_a_mistyped_path_is_not_created_and_someone_elses_database_is_not_touched(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    missing = tmp_path / "war-rom.db"
    _one_clear_line(run("--db", f"sqlite:///{missing}"), f"no database file {missing}")
    assert not missing.exists()
    foreign = tmp_path / "crm.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT)")
    for args in (("--db", f"sqlite:///{foreign}"), ("db", "upgrade", "--db", f"sqlite:///{foreign}"),
                 ("seed-demo", "--db", f"sqlite:///{foreign}")):
        _one_clear_line(run(*args), "is not a console database")
    with sqlite3.connect(foreign) as conn:
        assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")] == ["people"]


def test_verbose_logs_to_stderr_as_well_as_the_file(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'v.db'}"
    result = run("db", "upgrade", "--db", url, "--verbose")
    assert result.returncode == 0 and "Running upgrade" in result.stderr
    assert "Running upgrade" in (tmp_path / "state" / "incident-console" / "log" / "console.log").read_text()


def test_a_database_newer_than_the_console_is_refused(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "future.db"
    run("seed-demo", "--db", f"sqlite:///{path}")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'f00dface'")
    _one_clear_line(run("--db", f"sqlite:///{path}"), "newer than this console")


def test_first_start_creates_seeds_and_opens_the_embedded_database(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = run("--no-demo-feed", extra_env={"ICC_EXIT_AFTER_FIRST_PAINT": "1"})
    assert result.returncode == 0, result.stderr
    assert "first-paint" in result.stdout
    database = tmp_path / "data" / "incident-console" / "console.db"
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT value FROM console_meta WHERE key = 'demo'").fetchone() is not None
        assert conn.execute("SELECT count(*) FROM incidents").fetchone()[0] > 0
    log_file = tmp_path / "state" / "incident-console" / "log" / "console.log"
    assert "seeding the demo organisation" in log_file.read_text()


@pytest.mark.postgres
def test_shared_postgresql_database_is_upgraded_deliberately(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import psycopg

    try:
        admin = psycopg.connect(PG_URL.replace("postgresql+psycopg://", "postgresql://"), autocommit=True,
                                connect_timeout=3)
    except psycopg.OperationalError as error:
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL not reachable: {error}")
        pytest.skip(f"PostgreSQL not reachable: {error}")
    schema = f"icc_cli_{uuid.uuid4().hex[:8]}"
    admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        url = f"{PG_URL}?options=-csearch_path%3D{schema}"
        _one_clear_line(run("--db", url), "run `python main.py db upgrade")
        assert run("db", "upgrade", "--db", url).returncode == 0
        assert run("seed-demo", "--db", url).returncode == 0
        shot = run("screenshot", "--db", url, "--out", str(tmp_path / "pg.png"))
        assert shot.returncode == 0, shot.stderr
        assert _png_size(tmp_path / "pg.png") == (1600, 1000)
    finally:
        admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()
