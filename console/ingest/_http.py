"""The little HTTP/1.1 the ingest server speaks: read a request head, write a JSON response.

Private to console/ingest. Deliberately small and strict: bodies must come with Content-Length (no chunked
encoding, so a body's size is known before a byte of it is read), heads are capped, and anything odd is refused
with a status and a sentence rather than interpreted.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import urlsplit

MAX_HEAD = 16 * 1024  # request line and headers together; real senders use well under 2 KB
MAX_HEADERS = 100


class HttpError(Exception):
    """A request refused before it reaches a parser; the connection is closed after the reply."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class RequestHead:
    method: str
    path: str
    headers: Mapping[str, str]  # lower-case names
    keep_alive: bool
    content_length: int | None
    chunked: bool

    @property
    def has_body(self) -> bool:
        return self.chunked or bool(self.content_length)


@dataclass(frozen=True)
class Response:
    status: int
    body: Mapping[str, object]
    headers: tuple[tuple[str, str], ...] = ()
    reason: str = field(default="", compare=False)  # for the log only; never sent


_WORDS = {400: "invalid", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed", 408: "timeout",
          411: "length_required", 413: "too_large", 415: "unsupported_media_type", 429: "overloaded",
          431: "headers_too_large", 500: "error", 503: "unavailable"}


def error_response(status: int, message: str, *, errors: tuple[str, ...] | None = None,
                   headers: tuple[tuple[str, str], ...] = (), word: str | None = None) -> Response:
    """Build the JSON error reply every refusal uses: status word, one sentence, and the list of problems."""
    body = {"status": word or _WORDS.get(status, "error"), "message": message, "errors": list(errors or (message,))}
    return Response(status, body, headers, reason=message)


def parse_head(data: bytes) -> RequestHead:
    """Parse a request line and headers (ending in a blank line), or raise HttpError(400)."""
    lines = data.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[0].isalpha() or not parts[2].startswith("HTTP/1."):
        raise HttpError(400, "malformed request line; expected e.g. 'POST /v1/events HTTP/1.1'")
    method, target, version = parts
    headers: dict[str, str] = {}
    lengths: set[str] = set()
    fields = [line for line in lines[1:] if line]
    if len(fields) > MAX_HEADERS:
        raise HttpError(431, f"more than {MAX_HEADERS} header fields")
    for line in fields:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip() or line[0] in " \t":
            raise HttpError(400, "malformed header field")
        name, value = name.lower(), value.strip(" \t")
        if name == "content-length":
            lengths.add(value)
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    content_length = None
    if lengths:
        # Two different lengths would let a proxy and this server disagree on where the body ends.
        if len(lengths) != 1 or not next(iter(lengths)).isdigit() or len(next(iter(lengths))) > 12:
            raise HttpError(400, "Content-Length must be one non-negative integer")
        content_length = int(next(iter(lengths)))
    tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
    keep_alive = "close" not in tokens if version == "HTTP/1.1" else "keep-alive" in tokens
    path = urlsplit(target).path or "/"
    if len(path) > 1:
        path = path.rstrip("/")
    return RequestHead(method=method, path=path, headers=headers, keep_alive=keep_alive,
                       content_length=content_length, chunked="transfer-encoding" in headers)


def encode_response(response: Response, *, keep_alive: bool, date: str) -> bytes:
    """Serialise a response with its JSON body."""
    body = json.dumps(response.body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    phrase = HTTPStatus(response.status).phrase
    lines = [f"HTTP/1.1 {response.status} {phrase}", f"Date: {date}", "Server: incident-console-ingest",
             "Content-Type: application/json", f"Content-Length: {len(body)}",
             f"Connection: {'keep-alive' if keep_alive else 'close'}"]
    lines += [f"{name}: {value}" for name, value in response.headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def is_json(content_type: str | None) -> bool:
    """Tell whether a Content-Type header names JSON in UTF-8 (the only charset JSON has)."""
    if not content_type:
        return False
    media, *params = (p.strip().lower() for p in content_type.split(";"))
    if media != "application/json":
        return False
    charset = next((p.split("=", 1)[1].strip('"') for p in params if p.startswith("charset=")), "utf-8")
    return charset in ("utf-8", "utf8")
