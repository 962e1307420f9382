"""Local servers for the communication tests: real sockets on 127.0.0.1, ephemeral ports, nothing mocked.

`HttpStub` records every request and answers from a script (status and body, a 429, a slow reply, a dropped
connection) or from route handlers; `StatuspageFake` uses those routes to keep incidents like the Statuspage
REST API v1 does; `SmtpStub` is an aiosmtpd server that records envelopes and can refuse the next RCPT or DATA.
Each is a context manager and stops cleanly: nothing is left waiting or listening after `close()`.
"""
from __future__ import annotations

import contextlib
import itertools
import json
import socket
import socketserver
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from requests.structures import CaseInsensitiveDict


@dataclass(frozen=True)
class Request:
    """One request as the stub received it."""

    method: str
    target: str  # path with its query string
    headers: Mapping[str, str]  # case-insensitive
    body: bytes

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    def json(self) -> Any:
        return json.loads(self.body)


Answer = tuple[int, Mapping[str, str], bytes]
Handler = Callable[[Request], Answer]


@dataclass(frozen=True)
class _Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes
    delay: float = 0.0


class _Drop:
    pass


class _StubServer(ThreadingHTTPServer):
    daemon_threads = False  # so server_close() joins every handler thread: nothing outlives the stub
    stub: HttpStub

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # HTTPServer's also looks up a name for the host: slow, unneeded
        self.server_name, self.server_port = "127.0.0.1", self.server_address[1]

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up on a slow or dropped reply is what those tests are about


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 5  # a read from a silent client cannot hold a thread for ever
    server: _StubServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request(self.command, self.path, CaseInsensitiveDict(self.headers.items()), body)
        action = self.server.stub._answer(request)
        if isinstance(action, _Drop):
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        if action.delay and self.server.stub._released.wait(action.delay):
            self.close_connection = True  # the stub is closing: the client gave up long ago
            return
        self.send_response(action.status)
        for name, value in action.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(action.body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(action.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve


class HttpStub:
    """An HTTP server on 127.0.0.1 that records requests and answers from a script, routes, or a default."""

    def __init__(self, *, status: int = 200, body: bytes = b"ok", headers: Mapping[str, str] | None = None) -> None:
        self._default = _Reply(status, dict(headers or {"Content-Type": "text/plain"}), body)
        self._script: deque[_Reply | _Drop] = deque()
        self._routes: list[tuple[str, str, Handler]] = []
        self._requests: list[Request] = []
        self._changed = threading.Condition()
        self._released = threading.Event()
        self.errors: list[BaseException] = []  # raised by route handlers; a test can assert there are none
        self._server = _StubServer(("127.0.0.1", 0), _Handler)
        self._server.stub = self
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name=f"http-stub-{self.port}", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> HttpStub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release held replies, stop serving and join every thread."""
        self._released.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    # --- the script: each entry answers one request, in order, before routes and the default ---
    def reply(self, *, status: int = 200, body: bytes = b"ok", headers: Mapping[str, str] | None = None) -> None:
        self._script.append(_Reply(status, dict(headers or {}), body))

    def reply_json(self, data: Any, *, status: int = 200, headers: Mapping[str, str] | None = None) -> None:
        self.reply(status=status, body=json.dumps(data).encode(),
                   headers={"Content-Type": "application/json", **(headers or {})})

    def reply_429(self, *, retry_after: str | None = "7", body: bytes = b"rate_limited") -> None:
        self.reply(status=429, body=body, headers={"Retry-After": retry_after} if retry_after is not None else {})

    def reply_500(self, *, body: bytes = b"rollup_error") -> None:
        self.reply(status=500, body=body)

    def slow(self, seconds: float, *, status: int = 200, body: bytes = b"ok") -> None:
        """Hold the next reply for seconds, or until the stub closes, whichever comes first."""
        self._script.append(_Reply(status, {}, body, delay=seconds))

    def drop(self) -> None:
        """Read the next request, then close the connection without a byte of reply."""
        self._script.append(_Drop())

    def route(self, method: str, path_prefix: str, handler: Handler) -> None:
        """Answer requests whose method matches and whose path starts with path_prefix; the first match wins."""
        self._routes.append((method.upper(), path_prefix, handler))

    # --- what was received ---
    @property
    def requests(self) -> list[Request]:
        with self._changed:
            return list(self._requests)

    def wait_for_requests(self, n: int, timeout: float = 5.0) -> list[Request]:
        """Return the requests once at least n have arrived; fail the test if they do not within timeout."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._requests) >= n, timeout):
                raise AssertionError(f"expected {n} requests, the stub got {len(self._requests)}")
            return list(self._requests)

    def _answer(self, request: Request) -> _Reply | _Drop:
        with self._changed:
            self._requests.append(request)
            self._changed.notify_all()
            if self._script:
                return self._script.popleft()
            routes = list(self._routes)
        for method, prefix, handler in routes:
            if request.method == method and request.path.startswith(prefix):
                try:
                    status, headers, body = handler(request)
                except Exception as exc:  # a bug in a test's handler: answer, and keep it for the test to see
                    self.errors.append(exc)
                    return _Reply(500, {}, f"stub handler raised {type(exc).__name__}".encode())
                return _Reply(status, dict(headers), body)
        return self._default


def json_answer(status: int, data: Any) -> Answer:
    """Return a route handler's answer carrying data as JSON."""
    return status, {"Content-Type": "application/json"}, json.dumps(data).encode()


UNRESOLVED = ("investigating", "identified", "monitoring")
INCIDENT_STATUSES = (*UNRESOLVED, "resolved")
COMPONENT_STATUSES = ("operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance")


@dataclass
class StatuspageFake:
    """Statuspage's incident endpoints for one page (list unresolved, create, update) in the documented shapes."""

    stub: HttpStub
    page_id: str = "pg1test"
    api_key: str = "sp-key-0123456789"
    incidents: dict[str, dict[str, Any]] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        prefix = f"/v1/pages/{self.page_id}/incidents"
        self.stub.route("GET", f"{prefix}/unresolved", self._authorised(self._unresolved))
        self.stub.route("POST", prefix, self._authorised(self._create))
        self.stub.route("PATCH", f"{prefix}/", self._authorised(self._update))

    @property
    def url(self) -> str:
        """The page's API base, as an Endpoint's url."""
        return f"{self.stub.url}/v1/pages/{self.page_id}"

    def add_incident(self, *, name: str, status: str = "investigating", metadata: Mapping[str, Any] | None = None,
                     body: str = "") -> str:
        """Put an incident on the page as if someone had created it earlier; return its id."""
        return self._new({"name": name, "status": status, "metadata": dict(metadata or {}), "body": body})["id"]

    def _authorised(self, handler: Handler) -> Handler:
        def checked(request: Request) -> Answer:
            if request.headers.get("Authorization") != f"OAuth {self.api_key}":
                return json_answer(401, {"error": "Could not authenticate"})
            return handler(request)
        return checked

    def _unresolved(self, request: Request) -> Answer:  # the real API pages; a test page never holds that many
        return json_answer(200, [i for i in self.incidents.values() if i["status"] in UNRESOLVED])

    def _create(self, request: Request) -> Answer:
        fields = request.json().get("incident") or {}
        problem = self._problem(fields, creating=True)
        return json_answer(422, {"error": [problem]}) if problem else json_answer(201, self._new(fields))

    def _update(self, request: Request) -> Answer:
        incident = self.incidents.get(request.path.rsplit("/", 1)[1])
        if incident is None:
            return json_answer(404, {"error": "Not found"})
        fields = request.json().get("incident") or {}
        problem = self._problem(fields, creating=False)
        if problem:
            return json_answer(422, {"error": [problem]})
        self._apply(incident, fields)
        return json_answer(200, incident)

    def _problem(self, fields: Mapping[str, Any], *, creating: bool) -> str | None:
        if creating and not fields.get("name"):
            return "Name can't be blank"
        if "status" in fields and fields["status"] not in INCIDENT_STATUSES:
            return "Status is not included in the list"
        if any(status not in COMPONENT_STATUSES for status in (fields.get("components") or {}).values()):
            return "Components status is invalid"
        if any(not isinstance(value, dict) for value in (fields.get("metadata") or {}).values()):
            return "Metadata top-level values must be objects"
        return None

    def _new(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        now = _stamp()
        incident_id = f"inc{next(self._ids):09d}"
        incident: dict[str, Any] = {
            "id": incident_id, "page_id": self.page_id, "name": "", "status": "investigating", "impact": "none",
            "created_at": now, "updated_at": now, "resolved_at": None, "shortlink": f"https://stspg.io/{incident_id}",
            "metadata": {}, "components": [], "incident_updates": [],
        }
        self.incidents[incident_id] = incident
        self._apply(incident, fields)
        return incident

    def _apply(self, incident: dict[str, Any], fields: Mapping[str, Any]) -> None:
        now = _stamp()
        for key in ("name", "status"):
            if key in fields:
                incident[key] = fields[key]
        if "metadata" in fields:
            incident["metadata"] = {**incident["metadata"], **fields["metadata"]}
        for component_id, status in (fields.get("components") or {}).items():
            incident["components"] = [c for c in incident["components"] if c["id"] != component_id]
            incident["components"].append({"id": component_id, "name": component_id, "status": status})
        if incident["status"] == "resolved" and incident["resolved_at"] is None:
            incident["resolved_at"] = now
        incident["updated_at"] = now
        incident["incident_updates"].insert(0, {
            "id": f"upd{len(incident['incident_updates']) + 1}", "incident_id": incident["id"],
            "status": incident["status"], "body": fields.get("body", ""), "created_at": now})


def _stamp() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Envelope:
    """One message the SMTP stub accepted."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    content: bytes  # exactly as received after DATA


class _Recorder:
    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.envelopes: list[Envelope] = []
        self.scripts: dict[str, deque[str]] = {"MAIL": deque(), "RCPT": deque(), "DATA": deque()}

    def _scripted(self, command: str) -> str | None:
        with self.changed:
            return self.scripts[command].popleft() if self.scripts[command] else None

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, mail_options: list) -> str:
        if (reply := self._scripted("MAIL")) is not None:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list) -> str:
        if (reply := self._scripted("RCPT")) is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if (reply := self._scripted("DATA")) is not None:
            return reply
        content = envelope.original_content or envelope.content
        with self.changed:
            self.envelopes.append(Envelope(envelope.mail_from, tuple(envelope.rcpt_tos), bytes(content)))
            self.changed.notify_all()
        return "250 Message accepted for delivery"


class _EphemeralController(Controller):
    """aiosmtpd's Controller, bound to port 0: the port is read back before the controller connects to itself."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class SmtpStub:
    """An SMTP server on 127.0.0.1 that records what it accepts; `auth` turns on AUTH (without TLS)."""

    def __init__(self, *, auth: Mapping[str, str] | None = None) -> None:
        self._recorder = _Recorder()
        options: dict[str, Any] = {}
        if auth is not None:
            logins = {user.encode(): password.encode() for user, password in auth.items()}

            def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
                ok = getattr(data, "login", None) in logins and logins[data.login] == data.password
                return AuthResult(success=ok, handled=False)

            options = {"authenticator": authenticator, "auth_require_tls": False}
        self._controller = _EphemeralController(self._recorder, hostname="127.0.0.1", port=0,
                                                server_hostname="smtp-stub.test", **options)
        self._controller.start()
        self.host = "127.0.0.1"
        self.port: int = self._controller.port

    def __enter__(self) -> SmtpStub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._controller.stop()

    def refuse_next(self, command: str, reply: str) -> None:
        """Answer the next MAIL, RCPT or DATA command with reply, e.g. "451 4.3.0 try later"."""
        with self._recorder.changed:
            self._recorder.scripts[command.upper()].append(reply)

    @property
    def envelopes(self) -> list[Envelope]:
        with self._recorder.changed:
            return list(self._recorder.envelopes)

    def wait_for_messages(self, n: int, timeout: float = 5.0) -> list[Envelope]:
        """Return the envelopes once at least n have been accepted; fail the test if not within timeout."""
        with self._recorder.changed:
            if not self._recorder.changed.wait_for(lambda: len(self._recorder.envelopes) >= n, timeout):
                raise AssertionError(f"expected {n} messages, the SMTP stub got {len(self._recorder.envelopes)}")
            return list(self._recorder.envelopes)
