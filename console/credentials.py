"""Secrets (database passwords, channel endpoints): the OS keyring when there is a real one, else this session's
memory; never a plaintext file.

A password is looked up by `credential_key` under the app's `SERVICE` name. Only a backend that is an actual
OS secret store counts (Secret Service, macOS Keychain, Windows Credential Locker, KWallet, ...): keyring's
fail and null backends and the plaintext or file-based ones of keyrings.alt are refused, so a password the
operator asked to remember is never written somewhere anyone who can read the disk can read it.

Nothing here puts a password into a log record, an exception message or a repr.
"""
from __future__ import annotations

import logging
import sys
import threading
from dataclasses import dataclass, field
from typing import Any

import keyring
import keyring.errors
from keyring.backends.chainer import ChainerBackend
from sqlalchemy.engine import URL

from console.errors import InvalidInput

log = logging.getLogger(__name__)

SERVICE = "incident-console"
DRIVER = "postgresql+psycopg"
SESSION_ONLY = "the password is kept for this session only"
# Backends that only pretend to store, or store where any reader of the disk can get the secret back.
_REFUSED_MODULES = ("keyring.backends.fail", "keyring.backends.null", "keyrings.alt")
_REFUSED_WORDS = ("plaintext", "insecure", "uncrypted", "encrypted", "cryptfile")
_CONSEQUENCE = {"read": "treated as not stored", "write": SESSION_ONLY, "delete": "it may still be stored there"}


@dataclass(frozen=True)
class KeyringStatus:
    """Whether passwords can be remembered, in which backend, and if not, why (fit to show the operator)."""

    available: bool
    backend: str
    reason: str


@dataclass(frozen=True)
class ConnectionRequest:
    """What the operator asked to connect to; `password` None means "use the one already stored"."""

    host: str
    port: int
    database: str
    user: str
    password: str | None = field(default=None, repr=False)
    remember: bool = False


def credential_key(*, user: str, host: str, port: int, database: str) -> str:
    """Return the keyring user name a database password is stored under."""
    return f"{user}@{host}:{port}/{database}"


def build_url(*, host: str, port: int, database: str, user: str, password: str | None = None) -> str:
    """Return the PostgreSQL URL for these settings, every part escaped."""
    _check(host=host, port=port, database=database, user=user)
    url = URL.create(DRIVER, username=user, password=password or None, host=host, port=port, database=database)
    return url.render_as_string(hide_password=False)


def describe(*, host: str, port: int, database: str, user: str) -> str:
    """Return the connection as it is shown to people: no password, ever."""
    return URL.create("postgresql", username=user, host=host, port=port, database=database).render_as_string(
        hide_password=True)


def keyring_status() -> KeyringStatus:
    """Report whether a real OS keyring is there to remember passwords in."""
    _, status = _secure_backend()
    return status


class SessionSecrets:
    """Secrets by key: this session's memory first, then the OS keyring if there is a real one. Thread-safe.

    The one way the console keeps a secret: database passwords (PasswordStore) and channel endpoints
    (console/comms/endpoints.py) both go through it. `what` names the kind of secret in log lines.
    """

    def __init__(self, *, what: str) -> None:
        self._what = what
        self._session: dict[str, str] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        """Return the secret under this key, or None if none is known."""
        with self._lock:
            if key in self._session:
                return self._session[key]
        backend, _ = _secure_backend()
        if backend is None:
            return None
        try:
            return backend.get_password(SERVICE, key)
        except Exception as error:  # noqa: BLE001 - a broken keyring means "not stored", never a crash
            _log_keyring_error("read", key, error)
            return None

    def is_remembered(self, key: str) -> bool:
        """Return whether the OS keyring holds a secret under this key."""
        backend, _ = _secure_backend()
        if backend is None:
            return False
        try:
            return backend.get_password(SERVICE, key) is not None
        except Exception as error:  # noqa: BLE001
            _log_keyring_error("read", key, error)
            return False

    def put(self, key: str, secret: str, *, remember: bool) -> bool:
        """Keep the secret for the session, and in the keyring if asked and possible; return whether it was."""
        with self._lock:
            self._session[key] = secret
        backend, status = _secure_backend()
        if backend is None:
            if remember:
                log.info("not remembering the %s for %s: %s", self._what, key, status.reason)
            return False
        if not remember:
            # The operator unticked "remember": a secret remembered earlier must not outlive that choice.
            _delete(backend, key)
            return False
        try:
            backend.set_password(SERVICE, key, secret)
        except Exception as error:  # noqa: BLE001
            _log_keyring_error("write", key, error, secret=secret)
            return False
        log.info("%s for %s remembered in %s", self._what, key, status.backend)
        return True

    def forget(self, key: str) -> None:
        """Drop the secret under this key from the session and from the keyring."""
        with self._lock:
            self._session.pop(key, None)
        backend, _ = _secure_backend()
        if backend is not None:
            _delete(backend, key)

    def __len__(self) -> int:
        with self._lock:
            return len(self._session)


class PasswordStore:
    """Passwords by connection: this session's memory first, then the OS keyring if there is a real one."""

    def __init__(self) -> None:
        self._secrets = SessionSecrets(what="password")

    def status(self) -> KeyringStatus:
        """Report whether this store can remember passwords beyond the session."""
        return keyring_status()

    def get(self, *, user: str, host: str, port: int, database: str) -> str | None:
        """Return the password for this connection, or None if none is known."""
        return self._secrets.get(credential_key(user=user, host=host, port=port, database=database))

    def is_remembered(self, *, user: str, host: str, port: int, database: str) -> bool:
        """Return whether the OS keyring holds a password for this connection."""
        return self._secrets.is_remembered(credential_key(user=user, host=host, port=port, database=database))

    def put(self, *, user: str, host: str, port: int, database: str, password: str, remember: bool) -> bool:
        """Keep the password for the session, and in the keyring if asked and possible; return whether it was."""
        key = credential_key(user=user, host=host, port=port, database=database)
        return self._secrets.put(key, password, remember=remember)

    def forget(self, *, user: str, host: str, port: int, database: str) -> None:
        """Drop the password for this connection from the session and from the keyring."""
        self._secrets.forget(credential_key(user=user, host=host, port=port, database=database))

    def __repr__(self) -> str:
        return f"PasswordStore({len(self._secrets)} in session)"


def _check(*, host: str, port: int, database: str, user: str) -> None:
    if not host.strip() or not database.strip() or not user.strip():
        raise InvalidInput("host, database and user are all required to connect to PostgreSQL")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise InvalidInput(f"port {port!r}: expected a number from 1 to 65535")


def _name(backend: Any) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def _is_secure(backend: Any) -> bool:
    name = _name(backend)
    if name.startswith(_REFUSED_MODULES) or any(word in name.lower() for word in _REFUSED_WORDS):
        return False
    try:
        # keyring gives its recommended OS stores priority >= 1; keyrings.alt's files sit below, fail/null at <= 0.
        return float(backend.priority) >= 1
    except Exception:  # noqa: BLE001 - a backend that cannot say it is viable is not used
        return False


def _secure_backend() -> tuple[Any | None, KeyringStatus]:
    try:
        chosen = keyring.get_keyring()
    except Exception as error:  # noqa: BLE001 - a misconfigured PYTHON_KEYRING_BACKEND must not stop the console
        reason = f"the keyring could not be set up ({type(error).__name__}); {SESSION_ONLY}"
        return None, KeyringStatus(False, "", reason)
    # A chainer writes to the first backend that accepts; take the best secure one ourselves so that an
    # insecure backend later in the chain is never written to.
    candidates = list(chosen.backends) if isinstance(chosen, ChainerBackend) else [chosen]
    for backend in candidates:
        if _is_secure(backend):
            return backend, KeyringStatus(True, _name(backend), "")
    name = _name(chosen)
    refused = [b for b in candidates if not _name(b).startswith(("keyring.backends.fail", "keyring.backends.null"))]
    if refused:
        reason = (f"the keyring backend {_name(refused[0])} is not a secure system store "
                  f"(plaintext or file-based), so it is not used; {SESSION_ONLY}")
    elif sys.platform.startswith("linux"):
        reason = f"no system keyring found (no Secret Service on D-Bus); {SESSION_ONLY}"
    else:
        reason = f"no system keyring found; {SESSION_ONLY}"
    return None, KeyringStatus(False, name, reason)


def _delete(backend: Any, key: str) -> None:
    try:
        backend.delete_password(SERVICE, key)
    except keyring.errors.PasswordDeleteError:
        pass  # nothing was stored: that is what forgetting wants
    except Exception as error:  # noqa: BLE001
        _log_keyring_error("delete", key, error)


def _log_keyring_error(action: str, key: str, error: BaseException, *, secret: str | None = None) -> None:
    message = str(error)
    if secret:
        # A backend could echo what it was given; the secret must not reach the log through its message.
        message = message.replace(secret, "***")
    log.warning("keyring %s failed for %s (%s: %s); %s", action, key, type(error).__name__, message,
                _CONSEQUENCE[action])
