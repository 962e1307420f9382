"""Slack incoming webhooks: one message as Block Kit blocks, with a plain fallback line for notifications.

Slack answers 200 "ok". Errors are a short word in the body: invalid_payload (400), action_prohibited (403),
channel_not_found and no_service (404: the webhook was removed or disabled), channel_is_archived (410), and
rollup_error (500); posting faster than about one message a second gets 429 with Retry-After. The whole URL is
the credential, so only its host is ever named. Slack takes no idempotency key: a retry after a lost reply can
post the message twice.
"""
from __future__ import annotations

import json
from datetime import datetime

from console.comms.channels._net import require_https
from console.comms.channels.base import Endpoint, Outcome, Outgoing, guarded, post_json
from console.errors import InvalidInput
from models.enums import ChannelKind

HOSTS = ("hooks.slack.com", "hooks.slack-gov.com")  # GovSlack's webhooks live on their own host
HEADER_LIMIT = 150  # a header block's plain_text
SECTION_LIMIT = 3000  # a section block's text
MAX_SECTIONS = 45  # a message holds at most 50 blocks; the header and the context take two


def escape_mrkdwn(text: str) -> str:
    """Return text with &, < and > as the entities Slack expects, so they show as typed and never link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def split_sections(text: str, *, limit: int = SECTION_LIMIT) -> list[str]:
    """Split escaped mrkdwn into pieces of at most limit characters, at a line break when one is near."""
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit + 1)
        if cut < limit // 2:
            cut = limit
        amp = rest.rfind("&", 0, cut)
        if amp != -1 and rest.find(";", amp, cut) == -1 and cut - amp < 6:
            cut = amp  # never split an entity such as &amp; across two blocks
        pieces.append(rest[:cut])
        rest = rest[cut:].lstrip("\n")
    pieces.append(rest)
    return [piece for piece in pieces if piece.strip()]


def payload(outgoing: Outgoing) -> dict[str, object]:
    """Return the webhook JSON for one message: header, body sections, and a context line."""
    subject = " ".join(outgoing.subject.split()) or outgoing.incident_ref
    if len(subject) > HEADER_LIMIT:
        subject = subject[: HEADER_LIMIT - 1] + "…"
    sections = split_sections(escape_mrkdwn(outgoing.body))
    if len(sections) > MAX_SECTIONS:
        sections = sections[:MAX_SECTIONS]
        sections[-1] = sections[-1][: SECTION_LIMIT - 20] + "\n… (cut short)"
    context = (f"*{escape_mrkdwn(outgoing.incident_ref)}* · {escape_mrkdwn(outgoing.severity)} · "
               f"{escape_mrkdwn(outgoing.incident_status)} · audience: {escape_mrkdwn(outgoing.audience)}")
    return {
        "text": escape_mrkdwn(f"[{outgoing.severity}] {outgoing.incident_ref} {subject}"),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": subject, "emoji": True}},
            *({"type": "section", "text": {"type": "mrkdwn", "text": piece}} for piece in sections),
            {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
        ],
    }


class SlackAdapter:
    kind = ChannelKind.SLACK
    supports_idempotency = False

    def deliver(self, outgoing: Outgoing, endpoint: Endpoint, *, timeout: float, now: datetime) -> Outcome:
        """Post the message to the webhook once and say what Slack answered."""
        body = json.dumps(payload(outgoing), ensure_ascii=False).encode("utf-8")
        outcome = post_json(endpoint.url, body=body, timeout=timeout, now=now, provider="Slack")
        return guarded(outcome, endpoint=endpoint)

    def check(self, endpoint: Endpoint) -> None:
        """Raise InvalidInput unless the endpoint holds a Slack incoming-webhook URL."""
        parts = require_https(endpoint.url, what="the Slack webhook URL")
        if parts.scheme == "http":  # require_https let it through: a local test server
            return
        if parts.hostname not in HOSTS or not parts.path.startswith("/services/"):
            raise InvalidInput("the Slack webhook URL must start with https://hooks.slack.com/services/ "
                               "(an incoming webhook, not a Workflow Builder trigger)")
