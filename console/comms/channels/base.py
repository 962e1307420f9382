"""The shapes every channel adapter shares, and how an HTTP reply or a failed request becomes an Outcome.

An adapter makes one attempt and says what happened: DELIVERED, RETRY (a later attempt may succeed) or FAILED
(it will not until someone changes the configuration). Retries, backoff and rate limits belong to the sender.

Secrets (webhook URLs: the path of a Slack or Teams URL is the credential; API tokens, passwords, HMAC secrets)
never reach an Outcome, an exception message, a log record or a repr. Destinations are named as
scheme://host[:port] only, requests' exception text (which quotes the URL) is never used, and `guarded` scrubs
whatever a provider wrote back, as a last line of defence.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from typing import Protocol
from urllib.parse import urlsplit

import requests

from console.comms.channels._net import destination, explain, retry_after_seconds, withhold_urllib3_paths
from console.comms.wire import (  # noqa: F401 (the adapters' shapes, re-exported where adapters look for them)
    Endpoint,
    MailSecurity,
    Outcome,
    OutcomeKind,
    Outgoing,
)
from models.enums import ChannelKind

log = logging.getLogger(__name__)
withhold_urllib3_paths()

USER_AGENT = "incident-console/0.1"
DETAIL_LIMIT = 200
MAX_REPLY_BYTES = 1024 * 1024  # a reply is read up to this much; ours are small JSON or a word
_RATE_LIMITED = (429, 420)  # Statuspage answered 420 for years before 429, and may still


class Adapter(Protocol):
    kind: ChannelKind
    supports_idempotency: bool  # a retry after a lost reply cannot deliver twice

    def deliver(self, outgoing: Outgoing, endpoint: Endpoint, *, timeout: float, now: datetime) -> Outcome:
        """Make one attempt to deliver the message and say what happened; never raise for a network problem."""
        ...

    def check(self, endpoint: Endpoint) -> None:
        """Raise InvalidInput saying what is wrong with the endpoint's settings, without echoing a secret."""
        ...


@dataclass(frozen=True)
class HttpReply:
    """An HTTP reply read in full (up to MAX_REPLY_BYTES); has the attributes of requests.Response it needs."""

    status_code: int
    headers: Mapping[str, str]  # case-insensitive
    content: bytes

    def json(self) -> object:
        """Return the body parsed as JSON; raise ValueError when it is not."""
        return json.loads(self.content)


def one_line(text: str, *, limit: int | None = DETAIL_LIMIT) -> str:
    """Return text with its whitespace runs collapsed to single spaces, cut to limit characters."""
    line = " ".join(text.split())
    if limit is not None and len(line) > limit:
        line = line[: limit - 1].rstrip() + "…"
    return line


def status_line(status: int) -> str:
    """Return "HTTP 429 Too Many Requests": our words for the status, never the server's reason phrase."""
    try:
        return f"HTTP {status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


def provider_text(response: HttpReply | requests.Response) -> str:
    """Return the short error a provider put in a reply body (a JSON error field, or the plain text)."""
    content_type = response.headers.get("Content-Type", "")
    if "html" in content_type.lower():  # a proxy's or load balancer's page: nothing short to quote
        return ""
    raw = response.content[:4096]
    try:
        data = json.loads(raw)
    except ValueError:
        return one_line(raw.decode("utf-8", errors="replace"))
    if isinstance(data, dict):
        for key in ("error", "message", "errors", "error_description"):
            value = data.get(key)
            if isinstance(value, dict):  # Azure's (Teams Workflows): {"error": {"code": ..., "message": ...}}
                value = value.get("message") or value.get("code") or json.dumps(value, ensure_ascii=False)
            if isinstance(value, list):
                value = "; ".join(str(item) for item in value)
            if value:
                return one_line(str(value))
    return one_line(json.dumps(data, ensure_ascii=False)) if data else ""


def classify_response(response: HttpReply | requests.Response, *, now: datetime, provider: str = "") -> Outcome:
    """Say what an HTTP reply means for the message: delivered, worth retrying, or failed until fixed."""
    status = response.status_code
    line = status_line(status)
    if 200 <= status < 300:
        return Outcome(OutcomeKind.DELIVERED, f"delivered ({line})", status_code=status)
    if 300 <= status < 400:  # requests never follow redirects here: a moved webhook is a misconfiguration
        return Outcome(OutcomeKind.FAILED, "the endpoint redirected; check its URL", status_code=status)
    said = provider_text(response)
    if said:
        line += f"; {provider} said {said}" if provider else f": {said}"
    if status in _RATE_LIMITED or status == 503:
        wait = retry_after_seconds(response.headers.get("Retry-After"), now=now)
        if wait is not None:
            line += f"; retry after {math.ceil(wait)} s"
        return Outcome(OutcomeKind.RETRY, line, retry_after=wait, status_code=status)
    if status in (408, 425) or status >= 500:
        return Outcome(OutcomeKind.RETRY, line, status_code=status)
    return Outcome(OutcomeKind.FAILED, line, status_code=status)


_local = threading.local()


def _session() -> requests.Session:
    """Return this thread's session: requests' Session is not thread-safe, and the sender runs one thread per
    channel; keeping its connection alive halves the cost of each message to a busy destination."""
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
        session.trust_env = False  # no proxy settings or .netrc from the environment: the endpoint is the keyring's
    return session


def _forget_session() -> None:
    session = getattr(_local, "session", None)
    if session is not None:
        session.close()
        _local.session = None


def send_request(method: str, url: str, *, timeout: float, headers: Mapping[str, str] | None = None,
                 body: bytes | None = None) -> HttpReply | Outcome:
    """Make one HTTP request without following redirects; return its reply, or the Outcome of its failure."""
    where = destination(url)
    all_headers = {"User-Agent": USER_AGENT, **(headers or {})}
    try:
        with _session().request(
            method, url, data=body, headers=all_headers, timeout=timeout, allow_redirects=False, stream=True,
        ) as response:
            reply = HttpReply(response.status_code, response.headers, _read_capped(response))
    except requests.RequestException as exc:
        _forget_session()  # a broken connection must not be reused for the next attempt
        retry, detail = explain(exc, url=url, timeout=timeout)
        log.info("%s %s: %s", method, where, detail)
        return Outcome(OutcomeKind.RETRY if retry else OutcomeKind.FAILED, detail)
    except (ValueError, UnicodeError):  # http.client refusing a header or URL; its message may quote either
        log.info("%s %s: the request could not be built", method, where)
        return Outcome(OutcomeKind.FAILED, "the request could not be built: the URL or a header holds "
                                           "characters HTTP does not allow")
    log.debug("%s %s answered HTTP %d", method, where, reply.status_code)
    return reply


def _read_capped(response: requests.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(chunk_size=16 * 1024):
        chunks.append(chunk)
        size += len(chunk)
        if size >= MAX_REPLY_BYTES:
            break
    return b"".join(chunks)[:MAX_REPLY_BYTES]


def post_json(url: str, *, body: bytes, timeout: float, now: datetime, headers: Mapping[str, str] | None = None,
              provider: str = "") -> Outcome:
    """POST already-serialised JSON bytes once and classify the reply."""
    reply = send_request("POST", url, timeout=timeout, body=body,
                         headers={"Content-Type": "application/json", **(headers or {})})
    if isinstance(reply, Outcome):
        return reply
    return classify_response(reply, now=now, provider=provider)


def guarded(outcome: Outcome, *, endpoint: Endpoint) -> Outcome:
    """Return the outcome with any of the endpoint's secrets that a provider echoed replaced in its detail."""
    secrets = [endpoint.url, endpoint.token, endpoint.hmac_secret, endpoint.password]
    try:
        parts = urlsplit(endpoint.url)
        secrets += [parts.path, parts.query]
    except ValueError:  # a URL too broken to split was never sent, so cannot have been echoed in parts
        pass
    detail = outcome.detail
    for secret in sorted((s for s in secrets if len(s) >= 6), key=len, reverse=True):
        detail = detail.replace(secret, "[withheld]")
    return outcome if detail == outcome.detail else dataclasses.replace(outcome, detail=detail)

