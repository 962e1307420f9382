"""Channel endpoints (webhook URLs, API tokens, mail passwords): in the OS keyring, else this session only.

The database and the policy name a channel; only the keyring knows where it points and how to get in. A Slack
or Teams webhook URL is itself the credential, so the whole endpoint is one secret: a JSON blob stored under
"channel:<name>", kept the way every secret of the console is kept (console/credentials.SessionSecrets).
Nothing here logs or repeats a secret; messages name the channel, never its endpoint.
"""
from __future__ import annotations

import logging
import threading
from typing import Any

from console.comms.wire import Endpoint

log = logging.getLogger(__name__)


def keyring_key(channel: str) -> str:
    """Return the keyring user name a channel's endpoint is stored under."""
    return f"channel:{channel}"


class EndpointStore:
    """Endpoints by channel name: this session's memory first, then the OS keyring. Safe from any thread."""

    def __init__(self) -> None:
        self._secrets: Any = None
        self._lock = threading.Lock()

    def _store(self) -> Any:
        # keyring is imported when an endpoint is first needed, not at start-up (it costs tens of ms and D-Bus).
        with self._lock:
            if self._secrets is None:
                from console.credentials import SessionSecrets

                self._secrets = SessionSecrets(what="endpoint")
            return self._secrets

    def get(self, channel: str) -> Endpoint | None:
        """Return the endpoint of a channel, or None when none is set."""
        text = self._store().get(keyring_key(channel))
        if text is None:
            return None
        try:
            return Endpoint.from_json(text)
        except Exception:  # noqa: BLE001 - damaged: say which channel, never what it held
            log.warning("the keyring entry of channel %s is not a valid endpoint; set it again", channel)
            return None

    def put(self, channel: str, endpoint: Endpoint, *, remember: bool = True) -> bool:
        """Keep an endpoint for the session, and in the keyring when asked and possible; return whether it was."""
        return self._store().put(keyring_key(channel), endpoint.to_json(), remember=remember)

    def forget(self, channel: str) -> None:
        """Drop a channel's endpoint from the session and the keyring."""
        self._store().forget(keyring_key(channel))

    def __repr__(self) -> str:
        return f"EndpointStore({len(self._secrets) if self._secrets is not None else 0} in session)"
