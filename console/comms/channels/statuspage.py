"""Atlassian Statuspage (REST API v1): open an incident on the public page, then update that same incident.

The endpoint URL is the page's API base, https://api.statuspage.io/v1/pages/<page_id>, and the token its API key,
sent as `Authorization: OAuth <key>`. A message with a provider_ref PATCHes .../incidents/<id>; one without first
looks through GET .../incidents/unresolved for an incident whose metadata carries our incident ref
({"icc": {"incident": "INC-12"}}) and PATCHes that, so a create whose reply was lost to a crash or a timeout is
not opened twice; only when there is none does it POST .../incidents. Names are cut to 255 characters and bodies
to 25,000, the API's limits. Rate limiting answers 429 (420 before 2021) with Retry-After.
"""
from __future__ import annotations

import json
import re
from datetime import datetime
from urllib.parse import quote

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
    status_line,
)
from console.errors import InvalidInput
from models.enums import ChannelKind

NAME_LIMIT = 255
BODY_LIMIT = 25_000
METADATA_KEY = "icc"  # every top-level metadata value must itself be an object
STATUS_FOR = {"triggered": "investigating", "acknowledged": "investigating", "mitigating": "identified",
              "monitoring": "monitoring", "resolved": "resolved"}
COMPONENT_STATUSES = frozenset({"operational", "degraded_performance", "partial_outage", "major_outage",
                                "under_maintenance"})
_PAGE_PATH = re.compile(r"/v1/pages/[A-Za-z0-9]+/?")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def incident_fields(outgoing: Outgoing) -> dict[str, object]:
    """Return the "incident" object of a create or update; raise InvalidInput on a status Statuspage lacks."""
    status = STATUS_FOR.get(outgoing.incident_status)
    if status is None:
        raise InvalidInput(f"no Statuspage status for incident status {outgoing.incident_status!r}")
    unknown = sorted(s for s in outgoing.components.values() if s not in COMPONENT_STATUSES)
    if unknown:
        raise InvalidInput(f"Statuspage has no component status {unknown[0]!r}")
    fields: dict[str, object] = {
        "name": _cut(" ".join(outgoing.subject.split()) or outgoing.incident_ref, NAME_LIMIT),
        "status": status,
        "body": _cut(outgoing.body, BODY_LIMIT),
        "metadata": {METADATA_KEY: {"incident": outgoing.incident_ref}},
    }
    if outgoing.components:
        fields["components"] = dict(outgoing.components)
        fields["component_ids"] = list(outgoing.components)
    return fields


def _ours(incidents: object, *, incident_ref: str) -> str | None:
    if not isinstance(incidents, list):
        raise ValueError("not a list")
    for incident in incidents:
        meta = incident.get("metadata") if isinstance(incident, dict) else None
        mark = meta.get(METADATA_KEY) if isinstance(meta, dict) else None
        if isinstance(mark, dict) and mark.get("incident") == incident_ref and isinstance(incident.get("id"), str):
            return incident["id"]
    return None


def _incident_id(reply: HttpReply) -> str | None:
    try:
        data = reply.json()
    except ValueError:
        return None
    value = data.get("id") if isinstance(data, dict) else None
    return value if isinstance(value, str) and value else None


class StatuspageAdapter:
    kind = ChannelKind.STATUSPAGE
    supports_idempotency = True

    def deliver(self, outgoing: Outgoing, endpoint: Endpoint, *, timeout: float, now: datetime) -> Outcome:
        """Create or update the page's incident for this message once, and say which incident it was."""
        return guarded(self._deliver(outgoing, endpoint, timeout=timeout, now=now), endpoint=endpoint)

    def _deliver(self, outgoing: Outgoing, endpoint: Endpoint, *, timeout: float, now: datetime) -> Outcome:
        base = endpoint.url.rstrip("/")
        headers = {"Authorization": f"OAuth {endpoint.token}", "Accept": "application/json"}
        try:
            body = json.dumps({"incident": incident_fields(outgoing)}, ensure_ascii=False).encode("utf-8")
        except InvalidInput as exc:
            return Outcome(OutcomeKind.FAILED, str(exc))
        target = outgoing.provider_ref
        if target is None:
            found = send_request("GET", f"{base}/incidents/unresolved?per_page=100", timeout=timeout,
                                 headers=headers)
            if isinstance(found, Outcome):
                return found
            listed = classify_response(found, now=now, provider="Statuspage")
            if listed.kind is not OutcomeKind.DELIVERED:
                return listed
            try:
                target = _ours(found.json(), incident_ref=outgoing.incident_ref)
            except ValueError:
                return Outcome(OutcomeKind.RETRY, "the status page's list of unresolved incidents was not "
                                                  "understood", status_code=found.status_code)
        headers["Content-Type"] = "application/json"
        if target is None:
            reply = send_request("POST", f"{base}/incidents", timeout=timeout, headers=headers, body=body)
        else:
            reply = send_request("PATCH", f"{base}/incidents/{quote(target, safe='')}", timeout=timeout,
                                 headers=headers, body=body)
        if isinstance(reply, Outcome):
            return reply
        shown = one_line(target or "", limit=40)
        if reply.status_code == 404 and target is not None:
            if outgoing.provider_ref is not None:
                return Outcome(OutcomeKind.FAILED, f"the status page no longer has incident {shown}",
                               status_code=404)
            # Found a moment ago and gone now: the next attempt looks again and creates one.
            return Outcome(OutcomeKind.RETRY, f"incident {shown} went away while it was being updated",
                           status_code=404)
        outcome = classify_response(reply, now=now, provider="Statuspage")
        if outcome.kind is not OutcomeKind.DELIVERED:
            return outcome
        incident_id = _incident_id(reply)
        if incident_id is None:  # safe to retry: the next attempt finds the incident by its metadata
            return Outcome(OutcomeKind.RETRY, "the status page answered without an incident id",
                           status_code=reply.status_code)
        verb = "created" if target is None else "updated"
        return Outcome(OutcomeKind.DELIVERED, f"{verb} incident {one_line(incident_id, limit=40)} "
                                              f"({status_line(reply.status_code)})",
                       provider_ref=incident_id, status_code=reply.status_code)

    def check(self, endpoint: Endpoint) -> None:
        """Raise InvalidInput unless the endpoint holds a page's API base URL and an API key."""
        parts = require_https(endpoint.url, what="the Statuspage API URL")
        if parts.query or parts.fragment or not _PAGE_PATH.fullmatch(parts.path):
            raise InvalidInput("the Statuspage API URL must look like https://api.statuspage.io/v1/pages/<page id>")
        if not endpoint.token:
            raise InvalidInput("the Statuspage API key is missing")
        if any(ch.isspace() for ch in endpoint.token):
            raise InvalidInput("the Statuspage API key has spaces or line breaks in it")

