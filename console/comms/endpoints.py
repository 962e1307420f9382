"""Channel endpoints (webhook URLs, API tokens, mail passwords): in the OS keyring, else this session only.

The database and the policy name a channel; only the keyring knows where it points and how to get in. A Slack
or Teams webhook URL is itself the credential, so the whole endpoint is one secret: a JSON blob stored under
"channel:<name>". Nothing here logs or repeats a secret; messages name the channel, never its endpoint.
"""
from __future__ import annotations

import logging
import threading

from console.comms.wire import Endpoint

log = logging.getLogger(__name__)


def _backend():  # type: ignore[no-untyped-def]
    # keyring is imported when an endpoint is first needed, not at start-up (it costs tens of ms and D-Bus).
    from console.credentials import secure_backend

    return secure_backend()


def _service() -> str:
    from console.credentials import SERVICE

    return SERVICE


def keyring_key(channel: str) -> str:
    """Return the keyring user name a channel's endpoint is stored under."""
    return f"channel:{channel}"


class EndpointStore:
    """Endpoints by channel name: this session's memory first, then the OS keyring. Safe from any thread."""

    def __init__(self) -> None:
        self._session: dict[str, Endpoint] = {}
        self._lock = threading.Lock()

    def get(self, channel: str) -> Endpoint | None:
        """Return the endpoint of a channel, or None when none is set."""
        with self._lock:
            if channel in self._session:
                return self._session[channel]
        backend, _ = _backend()
        if backend is None:
            return None
        try:
            text = backend.get_password(_service(), keyring_key(channel))
        except Exception as error:  # noqa: BLE001 - a broken keyring means "not set", never a crash
            log.warning("keyring read failed for channel %s (%s)", channel, type(error).__name__)
            return None
        if text is None:
            return None
        try:
            return Endpoint.from_json(text)
        except Exception:  # noqa: BLE001 - damaged: say which channel, never what it held
            log.warning("the keyring entry of channel %s is not a valid endpoint; set it again", channel)
            return None

    def put(self, channel: str, endpoint: Endpoint, *, remember: bool = True) -> bool:
        """Keep an endpoint for the session, and in the keyring when asked and possible; return whether it was."""
        with self._lock:
            self._session[channel] = endpoint
        backend, status = _backend()
        if backend is None or not remember:
            if remember:
                log.info("endpoint of channel %s kept for this session only: %s", channel, status.reason)
            return False
        try:
            backend.set_password(_service(), keyring_key(channel), endpoint.to_json())
        except Exception as error:  # noqa: BLE001
            log.warning("keyring write failed for channel %s (%s); kept for this session only", channel,
                        type(error).__name__)
            return False
        return True

    def forget(self, channel: str) -> None:
        """Drop a channel's endpoint from the session and the keyring."""
        with self._lock:
            self._session.pop(channel, None)
        backend, _ = _backend()
        if backend is None:
            return
        try:
            backend.delete_password(_service(), keyring_key(channel))
        except Exception:  # noqa: BLE001 - nothing stored is what forgetting wants
            pass

    def __repr__(self) -> str:
        return f"EndpointStore({len(self._session)} in session)"
