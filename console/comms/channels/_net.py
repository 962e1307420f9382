"""Network details the HTTP adapters share that carry no domain types: how to name a destination without its
secret parts, how to read Retry-After, what a requests exception means, and keeping URL paths out of urllib3's log.

Private to console/comms/channels (base.py builds Outcomes from what these return).
"""
from __future__ import annotations

import http.client
import logging
import re
import socket
import ssl
from collections.abc import Iterator
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import SplitResult, urlsplit

import requests
from urllib3.exceptions import NameResolutionError, NewConnectionError, ProtocolError

from console.errors import InvalidInput

MAX_RETRY_AFTER = 3600.0  # a provider asking for more than an hour is treated as asking for an hour
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_DELTA_SECONDS = re.compile(r"\d+(\.\d+)?", re.ASCII)


def destination(url: str) -> str:
    """Return scheme://host[:port] of a URL: the most of it that may be shown or logged."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return "the endpoint"
    if not parts.scheme or not host:
        return "the endpoint"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


def require_https(url: str, *, what: str) -> SplitResult:
    """Return the parts of url, or raise InvalidInput unless it is https:// (or http:// to this machine)."""
    if not url or any(ch.isspace() for ch in url):
        raise InvalidInput(f"{what} is missing or has spaces in it")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError on a port that is not a number)
    except ValueError:
        raise InvalidInput(f"{what} is not a valid URL") from None
    if parts.scheme == "https" and parts.hostname:
        return parts
    # Plain http only to this machine: the tests' local servers or a local relay, never across a network,
    # where the URL (itself a credential for Slack and Teams) and the incident text would travel in clear.
    if parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS:
        return parts
    raise InvalidInput(f"{what} must start with https://")


def retry_after_seconds(value: str | None, *, now: datetime) -> float | None:
    """Return the wait a Retry-After header asks for (delta-seconds or an HTTP-date), capped at an hour."""
    if not value:
        return None
    value = value.strip()
    if _DELTA_SECONDS.fullmatch(value):
        seconds = float(value)
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # "-0000" parses as naive; HTTP-dates are GMT
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - now).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def explain(exc: requests.RequestException, *, url: str, timeout: float) -> tuple[bool, str]:
    """Return whether a failed request is worth retrying, and one line saying what went wrong.

    The line is built from the exception's type and causes only: requests' own message quotes the whole URL.
    """
    where = destination(url)
    errors = requests.exceptions
    if isinstance(exc, (errors.MissingSchema, errors.InvalidSchema, errors.InvalidURL, errors.URLRequired)):
        return False, "the endpoint URL is not valid; check it"
    if isinstance(exc, errors.InvalidHeader):
        return False, "a request header holds characters HTTP does not allow; check the API key"
    if isinstance(exc, errors.ConnectTimeout):
        return True, f"timed out after {timeout:g} s connecting to {where}"
    if isinstance(exc, errors.Timeout):
        return True, f"timed out after {timeout:g} s waiting for {where} to reply"
    if isinstance(exc, errors.ProxyError):
        return True, f"could not reach {where} through the proxy"
    if isinstance(exc, errors.SSLError):
        return True, f"the TLS handshake with {where} failed (certificate or protocol)"
    if isinstance(exc, errors.ChunkedEncodingError):
        return True, f"the reply from {where} was cut off"
    if isinstance(exc, errors.ContentDecodingError):
        return True, f"the reply from {where} could not be decoded"
    if isinstance(exc, errors.ConnectionError):
        return True, _connection_failure(exc, where=where)
    return True, f"the request to {where} failed ({type(exc).__name__})"


def _connection_failure(exc: BaseException, *, where: str) -> str:
    causes = list(_causes(exc))

    def any_of(*kinds: type[BaseException]) -> bool:
        return any(isinstance(cause, kinds) for cause in causes)

    if any_of(ConnectionRefusedError):
        return f"could not connect to {where}: connection refused"
    if any_of(NameResolutionError, socket.gaierror):
        return f"could not resolve the host of {where}"
    if any_of(ssl.SSLError):
        return f"the TLS handshake with {where} failed (certificate or protocol)"
    if any_of(NewConnectionError):
        return f"could not connect to {where}"
    if any_of(ConnectionResetError):
        return f"the connection to {where} dropped before a reply (reset)"
    if any_of(http.client.RemoteDisconnected, ProtocolError, ConnectionAbortedError, BrokenPipeError):
        return f"the connection to {where} dropped before a reply"
    return f"the connection to {where} failed"


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """Yield exc and everything it wraps: requests nests urllib3's errors in args, reason and __cause__."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack.extend(arg for arg in current.args if isinstance(arg, BaseException))
        for name in ("reason", "__cause__", "__context__"):
            inner = getattr(current, name, None)
            if isinstance(inner, BaseException):
                stack.append(inner)


class _WithholdPaths(logging.Filter):
    """urllib3 logs each request's path at DEBUG (and on retries); the path of a webhook URL is its secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_withheld(arg) for arg in record.args)
        return True


def _withheld(arg: object) -> object:
    if isinstance(arg, str) and (arg.startswith("/") or "://" in arg):
        return "[path withheld]"
    return arg


def withhold_urllib3_paths() -> None:
    """Install the filter on urllib3's loggers that log request targets; calling it again changes nothing."""
    # A logger's filters see only records logged on that very logger, so each one is named.
    for name in ("urllib3.connectionpool", "urllib3.util.retry", "urllib3.connection", "urllib3.response"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _WithholdPaths) for f in logger.filters):
            logger.addFilter(_WithholdPaths())
