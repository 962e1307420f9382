"""Generic JSON webhooks: our own documented format, with an Idempotency-Key and an optional HMAC signature.

POST, Content-Type application/json, body:
    {"idempotency_key": "...", "incident": {"ref", "title", "severity", "status"}, "audience", "subject",
     "body", "sent_at": "2026-11-27T10:00:00Z"}
Headers: `Idempotency-Key: <key>` (the same on every retry of a message, so a receiver can drop repeats), and
when the endpoint has an HMAC secret, `X-ICC-Timestamp: <unix seconds>` and
`X-ICC-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>." followed by the raw body bytes>`.
Any 2xx counts as delivered; 408, 425, 429 and 5xx are retried; other statuses fail.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timezone

from console.comms.channels._net import require_https
from console.comms.channels.base import Endpoint, Outcome, Outgoing, guarded, post_json
from models.enums import ChannelKind

SIGNATURE_PREFIX = "sha256="
MAX_AGE = 300.0  # seconds a receiver should accept a signed request for, against replays


def payload(outgoing: Outgoing) -> dict[str, object]:
    """Return the documented JSON object for one message."""
    sent_at = outgoing.sent_at.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    return {
        "idempotency_key": outgoing.idempotency_key,
        "incident": {"ref": outgoing.incident_ref, "title": outgoing.incident_title,
                     "severity": outgoing.severity, "status": outgoing.incident_status},
        "audience": outgoing.audience,
        "subject": outgoing.subject,
        "body": outgoing.body,
        "sent_at": sent_at,
    }


def sign(*, secret: str, timestamp: str, body: bytes) -> str:
    """Return the X-ICC-Signature value for these exact body bytes sent at timestamp."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return SIGNATURE_PREFIX + mac.hexdigest()


def verify_signature(*, secret: str, timestamp: str, body: bytes, signature: str, now: datetime | None = None,
                     max_age: float = MAX_AGE) -> bool:
    """Return whether signature is ours for timestamp and body; with now, also refuse a stale timestamp.

    For receivers: pass the raw request body as received, before any JSON parsing.
    """
    if not secret or not signature.startswith(SIGNATURE_PREFIX):
        return False
    try:
        expected = sign(secret=secret, timestamp=timestamp, body=body)
    except UnicodeEncodeError:  # a timestamp that is not even ASCII
        return False
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8", errors="replace")):
        return False
    if now is None:
        return True
    try:
        age = now.timestamp() - int(timestamp)
    except ValueError:
        return False
    return abs(age) <= max_age


class WebhookAdapter:
    kind = ChannelKind.WEBHOOK
    supports_idempotency = True

    def deliver(self, outgoing: Outgoing, endpoint: Endpoint, *, timeout: float, now: datetime) -> Outcome:
        """Post the message once, signed when the endpoint has a secret, and say what the receiver answered."""
        # Serialised once: the signature covers exactly the bytes that are sent.
        body = json.dumps(payload(outgoing), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = {"Idempotency-Key": outgoing.idempotency_key}
        if endpoint.hmac_secret:
            timestamp = str(int(now.timestamp()))
            headers["X-ICC-Timestamp"] = timestamp
            headers["X-ICC-Signature"] = sign(secret=endpoint.hmac_secret, timestamp=timestamp, body=body)
        outcome = post_json(endpoint.url, body=body, timeout=timeout, now=now, headers=headers,
                            provider="the receiver")
        return guarded(outcome, endpoint=endpoint)

    def check(self, endpoint: Endpoint) -> None:
        """Raise InvalidInput unless the endpoint holds an https URL."""
        require_https(endpoint.url, what="the webhook URL")
