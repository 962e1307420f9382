"""Microsoft Teams: one message as an Adaptive Card, posted to an incoming webhook or a Workflows trigger URL.

The body is {"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
"content": <card>}]} for both. Workflows (Power Automate) answers 202 Accepted; the legacy Office 365 connector
answers 200 even when it failed, with text such as "Webhook message delivery failed with error: Microsoft Teams
endpoint returned HTTP error 429 with ContextId ...", so a 200 is read before it counts as delivered. Teams
refuses messages over 28 KB, so a long body is cut to fit. The URL is the credential; no idempotency key.
"""
from __future__ import annotations

import json
import re
from datetime import datetime

from console.comms.channels._net import require_https
from console.comms.channels.base import (
    Endpoint,
    HttpReply,
    Outcome,
    OutcomeKind,
    Outgoing,
    classify_response,
    guarded,
    one_line,
    send_request,
)
from models.enums import ChannelKind

CARD_VERSION = "1.4"
BODY_BYTES = 20 * 1024  # of the body text, leaving room for the rest of the card under Teams' 28 KB
_LEGACY_CODE = re.compile(r"returned HTTP error (\d{3})")
_FAILURE_WORDS = ("error", "failed")


def _fit(text: str, *, limit: int = BODY_BYTES) -> str:
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text
    kept = raw[:limit].decode("utf-8", errors="ignore")
    return f"{kept}\n\n… (cut short: {len(text) - len(kept)} more characters)"


def card(outgoing: Outgoing) -> dict[str, object]:
    """Return the Adaptive Card for one message: the subject, the body, and the incident's facts."""
    body: list[dict[str, object]] = [
        {"type": "TextBlock", "text": outgoing.subject or outgoing.incident_ref, "weight": "Bolder",
         "size": "Medium", "wrap": True},
    ]
    if outgoing.body.strip():
        body.append({"type": "TextBlock", "text": _fit(outgoing.body), "wrap": True})
    body.append({"type": "FactSet", "facts": [
        {"title": "Incident", "value": f"{outgoing.incident_ref} {outgoing.incident_title}".strip()},
        {"title": "Severity", "value": outgoing.severity},
        {"title": "Status", "value": outgoing.incident_status},
        {"title": "Audience", "value": outgoing.audience},
    ]})
    return {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
            "version": CARD_VERSION, "body": body}


def payload(outgoing: Outgoing) -> dict[str, object]:
    """Return the webhook JSON: a message carrying the card as its one attachment."""
    return {"type": "message", "attachments": [
        {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card(outgoing)},
    ]}


def legacy_failure(reply: HttpReply) -> Outcome | None:
    """Return the Outcome a 200 reply's error text stands for, or None when the text reports no failure."""
    text = reply.content[:4096].decode("utf-8", errors="replace")
    if not any(word in text.lower() for word in _FAILURE_WORDS):
        return None
    said = one_line(text.split(" with ContextId")[0])
    detail = f"Teams answered HTTP {reply.status_code} but said: {said}"
    match = _LEGACY_CODE.search(text)
    code = int(match.group(1)) if match else None
    if code is not None and (code in (408, 429) or code >= 500):
        return Outcome(OutcomeKind.RETRY, detail, status_code=reply.status_code)
    return Outcome(OutcomeKind.FAILED, detail, status_code=reply.status_code)


class TeamsAdapter:
    kind = ChannelKind.TEAMS
    supports_idempotency = False

    def deliver(self, outgoing: Outgoing, endpoint: Endpoint, *, timeout: float, now: datetime) -> Outcome:
        """Post the card once and say what Teams answered, reading a 200's text for a hidden failure."""
        body = json.dumps(payload(outgoing), ensure_ascii=False).encode("utf-8")
        reply = send_request("POST", endpoint.url, timeout=timeout, body=body,
                             headers={"Content-Type": "application/json"})
        if isinstance(reply, Outcome):
            return guarded(reply, endpoint=endpoint)
        outcome = classify_response(reply, now=now, provider="Teams")
        if outcome.kind is OutcomeKind.DELIVERED:
            outcome = legacy_failure(reply) or outcome
        return guarded(outcome, endpoint=endpoint)

    def check(self, endpoint: Endpoint) -> None:
        """Raise InvalidInput unless the endpoint holds an https URL."""
        # The host is not pinned: connectors, Workflows and the government clouds each post from other hosts.
        require_https(endpoint.url, what="the Teams webhook URL")
