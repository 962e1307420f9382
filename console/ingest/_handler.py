"""What each ingest request gets, apart from the sockets: routes, the token check, parsing, and the one sink call.

Private to console/ingest; the server calls `answer_from_head` on its event loop and `process` on a worker thread.
"""
from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass

from console.clock import Clock
from console.errors import DatabaseUnavailable, InvalidInput
from console.ingest._fields import read_json
from console.ingest._http import RequestHead, Response, error_response, is_json
from console.ingest.events import (
    IngestOutcome,
    IngestResult,
    InvalidPayload,
    SignalEvent,
    SignalSource,
)
from console.ingest.formats import PARSERS

log = logging.getLogger(__name__)

Sink = Callable[[tuple[SignalEvent, ...]], IngestResult]
MIN_TOKEN = 16
UNAVAILABLE_RETRY = 5  # seconds, in Retry-After when the database cannot be reached
HEALTH = "/healthz"


@dataclass(frozen=True)
class Route:
    source: SignalSource
    body_key: bool  # PagerDuty senders authenticate with routing_key in the body, not a header
    busy_status: int  # what "try again later" must be for this sender to actually try again


ROUTES = {
    # Alertmanager retries only 5xx; a 429 would drop the notification for good.
    "/v1/alertmanager": Route(SignalSource.ALERTMANAGER, body_key=False, busy_status=503),
    "/v2/enqueue": Route(SignalSource.PAGERDUTY, body_key=True, busy_status=429),
    "/v1/events": Route(SignalSource.GENERIC, body_key=False, busy_status=429),
}


def busy_response(route: Route, *, message: str = "the console is busy; retry shortly",
                  retry_after: int = 1) -> Response:
    """Build the "retry later" reply this route's senders act on."""
    return error_response(route.busy_status, message, headers=(("Retry-After", str(max(1, retry_after))),),
                          word="overloaded")


class RequestHandler:
    """Decide the reply to each request; holds the token, which nothing else sees."""

    def __init__(self, *, sink: Sink, token: str, clock: Clock, max_body: int) -> None:
        if len(token) < MIN_TOKEN:
            raise InvalidInput(f"the ingest token must be at least {MIN_TOKEN} characters long")
        self._sink, self._clock, self.max_body = sink, clock, max_body
        self._token = token.encode("utf-8")

    def __repr__(self) -> str:
        return "RequestHandler(token=[redacted])"

    def answer_from_head(self, head: RequestHead) -> Response | None:
        """Return the reply when the head alone decides it (health, refusals), so no body is parsed for it."""
        if head.path == HEALTH:
            if head.method != "GET":
                return error_response(405, "use GET", headers=(("Allow", "GET"),))
            return Response(200, {"status": "ok"})
        route = ROUTES.get(head.path)
        if route is None:
            return error_response(404, f"no such endpoint; use POST {', '.join(ROUTES)}")
        if head.method != "POST":
            return error_response(405, "use POST", headers=(("Allow", "POST"),))
        if not route.body_key and not self.bearer_ok(head.headers.get("authorization")):
            return _unauthorised("missing or wrong bearer token")
        if head.chunked or head.content_length is None:
            return error_response(411, "send the body with a Content-Length header (chunked bodies are refused)")
        if head.content_length > self.max_body:
            return error_response(413, f"body of {head.content_length} bytes is over the limit of "
                                       f"{self.max_body} bytes")
        if not is_json(head.headers.get("content-type")):
            return error_response(415, "expected Content-Type: application/json")
        return None

    def bearer_ok(self, header: str | None) -> bool:
        """Tell whether an Authorization header carries the token (compared in constant time)."""
        if not header:
            return False
        scheme, _, credentials = header.strip().partition(" ")
        if scheme.lower() != "bearer":
            return False
        # Heads are decoded as Latin-1, so this gives back the bytes the client sent.
        return hmac.compare_digest(credentials.strip().encode("latin-1", "replace"), self._token)

    def _key_ok(self, document: object) -> bool:
        key = document.get("routing_key") if isinstance(document, dict) else None
        return isinstance(key, str) and hmac.compare_digest(key.encode("utf-8"), self._token)

    def process(self, route: Route, body: bytes, *, authorised: bool) -> Response:
        """Parse a whole body and hand every event in it to the sink in one call (runs on a worker thread)."""
        received_at = self._clock.now()
        try:
            document = read_json(body=body)
        except InvalidPayload as error:
            # Say nothing about a body's contents to a sender that has not proved who it is.
            return self._invalid(error) if authorised else _unauthorised("missing or wrong bearer token")
        if not authorised and not (route.body_key and self._key_ok(document)):
            return _unauthorised("missing or wrong bearer token or routing_key")
        try:
            events = PARSERS[route.source](document=document, received_at=received_at)
        except InvalidPayload as error:
            return self._invalid(error)
        return self._deliver(route, events)

    def _deliver(self, route: Route, events: tuple[SignalEvent, ...]) -> Response:
        try:
            result = self._sink(events)
        except DatabaseUnavailable as error:
            log.warning("ingest: %d %s events not stored, database unavailable: %s", len(events), route.source, error)
            return error_response(503, f"the console database is unavailable: {error}",
                                  headers=(("Retry-After", str(UNAVAILABLE_RETRY)),))
        except InvalidInput as error:
            return error_response(400, self._redact(str(error)))
        except Exception:
            log.exception("ingest: the sink failed on %d %s events", len(events), route.source)
            return error_response(500, "the console could not store these events; see its log")
        if not isinstance(result, IngestResult):
            log.error("ingest: the sink returned %s, not an IngestResult", type(result).__name__)
            return error_response(500, "the console could not store these events; see its log")
        if result.outcome is IngestOutcome.OVERLOADED:
            return busy_response(route, message=result.message or "the console is busy; retry later",
                                 retry_after=result.retry_after_seconds)
        return Response(202, _accepted_body(route, events, result))

    def _redact(self, text: str) -> str:
        # A sender that pasted its token into a field that gets echoed must not find it in a reply (or its log).
        return text.replace(self._token.decode("utf-8"), "[redacted]")

    def _invalid(self, error: InvalidPayload) -> Response:
        return error_response(400, "the payload is invalid", errors=tuple(self._redact(e) for e in error.errors))


def _accepted_body(route: Route, events: tuple[SignalEvent, ...], result: IngestResult) -> dict[str, object]:
    if route.source is SignalSource.PAGERDUTY:
        # The reply a PagerDuty client expects, with the key to acknowledge or resolve this alert by later.
        return {"status": "success", "message": "Event processed", "dedup_key": events[0].dedup_key}
    body: dict[str, object] = {"status": "accepted", "events": len(events),
                               "dedup_keys": [e.dedup_key for e in events]}
    if result.message:
        body["message"] = result.message
    return body


def _unauthorised(message: str) -> Response:
    return error_response(401, message, headers=(("WWW-Authenticate", 'Bearer realm="ingest"'),))
