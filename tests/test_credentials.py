"""Database passwords: the real OS keyring when there is one, this session only when there is not, never a file.

Tests marked by the `real_keyring` fixture talk to the machine's keyring (gnome-keyring on a private D-Bus
session in CI, see .ci/run). Without one they skip with the reason, unless REQUIRE_KEYRING=1, where they fail.
Every test here also checks that no log record mentions any of the passwords it used.
"""
from __future__ import annotations

import logging
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import keyring.backend
import keyring.errors
import pytest
from keyring.backends import fail
from sqlalchemy.engine import make_url

from console.credentials import (
    SERVICE,
    ConnectionRequest,
    KeyringStatus,
    PasswordStore,
    build_url,
    credential_key,
    describe,
    keyring_status,
)
from console.db import open_database
from console.errors import DatabaseUnavailable, InvalidInput

REQUIRE_KEYRING = os.environ.get("REQUIRE_KEYRING") == "1"
SECRET = "S3cret-pw"
ODD_SECRET = "p@ss:w/rd%?#&= ünï€ode"
SECRETS = (SECRET, ODD_SECRET)


@pytest.fixture(autouse=True)
def no_secret_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Capture every log record of the test and fail if any of them carries a password."""
    caplog.set_level(logging.DEBUG)
    yield
    leaked = [record.getMessage() for record in caplog.records
              if any(secret in record.getMessage() for secret in SECRETS)]
    assert leaked == []
    assert not any(secret in caplog.text for secret in SECRETS)


@pytest.fixture
def where() -> Iterator[dict[str, Any]]:
    """A connection nobody else uses, forgotten again afterwards (also from the real keyring)."""
    connection = {"user": f"icc-test-{uuid.uuid4().hex[:8]}", "host": "db.example.test", "port": 5432,
                  "database": "incidents"}
    yield connection
    PasswordStore().forget(**connection)


@pytest.fixture
def real_keyring() -> KeyringStatus:
    status = keyring_status()
    if not status.available:
        message = (f"needs a real OS keyring: {status.reason} (.ci/run provides gnome-keyring under "
                   f"dbus-run-session)")
        if REQUIRE_KEYRING:
            pytest.fail(message + " (REQUIRE_KEYRING=1)")
        pytest.skip(message)
    return status


def _use(backend: keyring.backend.KeyringBackend) -> Iterator[None]:
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    try:
        yield
    finally:
        keyring.set_keyring(previous)


@pytest.fixture
def no_keyring() -> Iterator[None]:
    """No backend at all, as on a headless Linux machine."""
    yield from _use(fail.Keyring())


class _InstancePriority:
    """A priority only an instance has: keyring itself must never pick a test backend as the default."""

    def __get__(self, obj: Any, cls: type) -> float:
        if obj is None:
            raise RuntimeError("test backend, only used through keyring.set_keyring")
        return obj.test_priority


class PlaintextKeyring(keyring.backend.KeyringBackend):
    """Like keyrings.alt's plaintext file: it works, and it must never be used."""

    priority = _InstancePriority()  # type: ignore[assignment]
    test_priority = 0.5

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def get_password(self, service: str, username: str) -> str | None:
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        self.path.write_text(f"{service} {username} {password}\n")

    def delete_password(self, service: str, username: str) -> None:
        raise keyring.errors.PasswordDeleteError("not stored")


class BrokenKeyring(keyring.backend.KeyringBackend):
    """A real-looking store that fails every call; its write error repeats the secret it was given."""

    priority = _InstancePriority()  # type: ignore[assignment]
    test_priority = 5.0

    def get_password(self, service: str, username: str) -> str | None:
        raise keyring.errors.KeyringLocked("collection is locked")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.PasswordSetError(f"could not store {password!r}")

    def delete_password(self, service: str, username: str) -> None:
        raise keyring.errors.KeyringError("D-Bus went away")


# --- pure functions -----------------------------------------------------------------------------------


def test_credential_key_names_user_host_port_and_database() -> None:
    assert credential_key(user="alice", host="db.internal", port=5433, database="war") == "alice@db.internal:5433/war"
    assert SERVICE == "incident-console"


def test_build_url_escapes_every_part_and_round_trips() -> None:
    url = make_url(build_url(host="db.internal", port=5433, database="war room", user="ops@corp", password=ODD_SECRET))
    assert url.drivername == "postgresql+psycopg"
    assert (url.host, url.port, url.database, url.username, url.password) == (
        "db.internal", 5433, "war room", "ops@corp", ODD_SECRET)
    assert make_url(build_url(host="h", port=5432, database="d", user="u")).password is None


@pytest.mark.parametrize("port", [0, 65536, -1, True])
def test_build_url_refuses_a_bad_port_without_echoing_the_password(port: int) -> None:
    with pytest.raises(InvalidInput, match="port") as raised:
        build_url(host="h", port=port, database="d", user="u", password=SECRET)
    assert SECRET not in str(raised.value)


def test_describe_never_shows_a_password() -> None:
    text = describe(host="db.internal", port=5432, database="incidents", user="alice")
    assert text == "postgresql://alice@db.internal:5432/incidents"
    assert "::1" in describe(host="::1", port=5432, database="d", user="u")


def test_a_connection_request_hides_its_password_from_repr() -> None:
    request = ConnectionRequest(host="h", port=5432, database="d", user="u", password=SECRET, remember=True)
    assert SECRET not in repr(request) and SECRET not in str(request)


def test_a_failed_connection_names_the_database_but_not_the_password(caplog: pytest.LogCaptureFixture) -> None:
    url = build_url(host="127.0.0.1", port=1, database="incidents", user="alice", password=SECRET)
    with pytest.raises(DatabaseUnavailable) as raised:
        open_database(url)
    message = str(raised.value)
    assert "cannot connect to postgresql+psycopg://alice:***@127.0.0.1:1/incidents" in message
    assert SECRET not in message
    # The autouse fixture checks the log records of the attempt as well.


# --- no keyring at all ----------------------------------------------------------------------------------


def test_without_a_keyring_the_status_says_so_and_why(no_keyring: None) -> None:
    status = keyring_status()
    assert status.available is False
    assert status.backend == "keyring.backends.fail.Keyring"
    assert "no system keyring found" in status.reason and "session only" in status.reason
    if sys.platform.startswith("linux"):
        assert "no Secret Service on D-Bus" in status.reason


def test_without_a_keyring_the_password_lives_for_the_session_and_is_written_nowhere(
        no_keyring: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        where: dict[str, Any]) -> None:
    for name in ("HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR"):
        folder = tmp_path / name.lower()
        folder.mkdir()
        monkeypatch.setenv(name, str(folder))
    store = PasswordStore()
    assert store.status().available is False
    assert store.put(**where, password=SECRET, remember=True) is False
    assert store.get(**where) == SECRET
    assert store.is_remembered(**where) is False
    assert PasswordStore().get(**where) is None  # a new session (a restart) does not know it
    assert "session only" in caplog.text
    written = [path for path in tmp_path.rglob("*") if path.is_file() and SECRET.encode() in path.read_bytes()]
    assert written == []
    store.forget(**where)
    assert store.get(**where) is None


def test_a_plaintext_backend_is_refused_and_never_written(tmp_path: Path, where: dict[str, Any]) -> None:
    plaintext = PlaintextKeyring(tmp_path / "keyring.txt")
    for _ in _use(plaintext):
        status = keyring_status()
        assert status.available is False
        assert "PlaintextKeyring" in status.reason and "not a secure system store" in status.reason
        assert "session only" in status.reason
        store = PasswordStore()
        assert store.put(**where, password=SECRET, remember=True) is False
        assert store.get(**where) == SECRET
    assert not plaintext.path.exists()


def test_keyring_errors_mean_not_stored_and_are_logged_without_the_secret(
        caplog: pytest.LogCaptureFixture, where: dict[str, Any]) -> None:
    for _ in _use(BrokenKeyring()):
        store = PasswordStore()
        assert store.status().available is True
        assert store.get(**where) is None
        assert store.put(**where, password=SECRET, remember=True) is False
        assert store.get(**where) == SECRET  # kept for the session all the same
        assert PasswordStore().get(**where) is None
        store.forget(**where)
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("keyring write failed" in m and "PasswordSetError" in m and "***" in m for m in messages)
    assert any("keyring read failed" in m and "KeyringLocked" in m for m in messages)
    assert any("keyring delete failed" in m for m in messages)


# --- the real OS keyring ----------------------------------------------------------------------------------


def test_the_real_keyring_is_a_secure_os_store(real_keyring: KeyringStatus) -> None:
    assert real_keyring.reason == ""
    assert not real_keyring.backend.startswith(("keyring.backends.fail", "keyring.backends.null", "keyrings.alt"))
    if REQUIRE_KEYRING and sys.platform.startswith("linux"):
        assert real_keyring.backend == "keyring.backends.SecretService.Keyring"


def test_a_remembered_password_outlives_the_session_and_can_be_forgotten(
        real_keyring: KeyringStatus, where: dict[str, Any]) -> None:
    store = PasswordStore()
    assert store.put(**where, password=ODD_SECRET, remember=True) is True
    assert keyring.get_password(SERVICE, credential_key(**where)) == ODD_SECRET
    later = PasswordStore()  # a restart: nothing in the session cache
    assert later.get(**where) == ODD_SECRET
    assert later.is_remembered(**where) is True
    later.forget(**where)
    assert keyring.get_password(SERVICE, credential_key(**where)) is None
    assert PasswordStore().get(**where) is None


def test_a_password_not_remembered_stays_out_of_the_keyring(real_keyring: KeyringStatus,
                                                            where: dict[str, Any]) -> None:
    store = PasswordStore()
    assert store.put(**where, password=SECRET, remember=False) is False
    assert store.get(**where) == SECRET
    assert keyring.get_password(SERVICE, credential_key(**where)) is None
    assert PasswordStore().get(**where) is None


def test_unticking_remember_removes_the_password_remembered_before(real_keyring: KeyringStatus,
                                                                  where: dict[str, Any]) -> None:
    assert PasswordStore().put(**where, password=SECRET, remember=True) is True
    assert PasswordStore().put(**where, password=SECRET, remember=False) is False
    assert keyring.get_password(SERVICE, credential_key(**where)) is None
    # Forgetting what is not there is not an error.
    PasswordStore().forget(**where)


def test_the_session_copy_wins_over_the_keyring(real_keyring: KeyringStatus, where: dict[str, Any]) -> None:
    assert PasswordStore().put(**where, password=SECRET, remember=True) is True
    store = PasswordStore()
    store.put(**where, password=ODD_SECRET, remember=False)
    assert store.get(**where) == ODD_SECRET


def test_a_password_with_spaces_never_reaches_the_log_through_the_change_watcher(caplog) -> None:  # type: ignore[no-untyped-def]
    """psycopg echoes an unparseable URL in its error; the watcher must never hand it a URL with a password."""
    import logging
    import threading

    from console.sync.watch import PgNotifyWatcher

    caplog.set_level(logging.DEBUG)
    secret = "my secret pw"
    states: list[str] = []
    failed = threading.Event()
    watcher = PgNotifyWatcher(params={"host": "127.0.0.1", "port": 1, "user": "u", "password": secret, "dbname": "d"},
                              on_wake=lambda: None, on_state=lambda m: (states.append(m), failed.set()))
    watcher.start()
    assert failed.wait(timeout=10)
    watcher.stop()
    assert states and all(secret not in m for m in states)
    assert secret not in caplog.text


def test_an_unparseable_url_does_not_show_its_password() -> None:
    from console.db import parse_url
    from console.errors import DatabaseUnavailable

    with pytest.raises(DatabaseUnavailable) as error:
        parse_url("postgresql//u:my secret pw@h/db")
    assert "my secret pw" not in str(error.value) and "***" in str(error.value)
