"""Read a decoded JSON payload with the path of every value at hand, so each complaint says what and where.

Private to console/ingest. Getters record a problem and return None instead of raising, so one reply can list
everything wrong with a payload (`alerts[2].labels: expected an object, got an array`), not only the first thing.
"""
from __future__ import annotations

import difflib
import hashlib
import json
import math
import re
from collections.abc import Iterable
from datetime import datetime, timezone
from enum import StrEnum
from typing import Any, TypeVar

from console.ingest.events import InvalidPayload

E = TypeVar("E", bound=StrEnum)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
MAX_PROBLEMS = 20  # enough to fix a payload by; a flood of them would only bloat the reply


def read_json(*, body: bytes) -> Any:
    """Decode a request body as JSON, refusing what is not JSON (NaN, bad UTF-8, absurd nesting)."""
    if not body.strip():
        raise InvalidPayload(["body: is empty; expected a JSON object"])
    try:
        return json.loads(body, parse_constant=_refuse_constant)
    except json.JSONDecodeError as error:
        raise InvalidPayload([f"body: not valid JSON at line {error.lineno} column {error.colno}: {error.msg}"]) from None
    except UnicodeDecodeError:
        raise InvalidPayload(["body: is not UTF-8 text"]) from None
    except RecursionError:
        raise InvalidPayload(["body: JSON is nested too deeply"]) from None
    except ValueError as error:  # NaN/Infinity, or an integer too long to convert
        raise InvalidPayload([f"body: not valid JSON: {error}"]) from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def child(where: str, key: str | int) -> str:
    """Return the path of a member: `alerts[2]`, `labels.service`, `custom_details["ping time"]`."""
    if isinstance(key, int):
        return f"{where}[{key}]"
    if not _IDENTIFIER.match(key):
        return f"{where}[{json.dumps(key, ensure_ascii=False)}]"
    return f"{where}.{key}" if where else key


def kind_of(value: object) -> str:
    """Name a JSON value's type the way a sender would read it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def as_text(value: object) -> str:
    """Turn a JSON value into the text an attribute holds: strings as they are, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def stable_key(*, parts: object, length: int = 32) -> str:
    """Return a hash of canonical JSON: the same parts give the same key in every process and every release."""
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:length]


def parse_time(value: str) -> datetime | None:
    """Parse an ISO 8601 time with a UTC offset into aware UTC; None if it is not one."""
    try:
        # Go marshals nanoseconds; Python 3.11 keeps the microseconds and drops the rest.
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        return None
    return parsed.astimezone(timezone.utc)


class Problems:
    """What is wrong with one payload, each with its path."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.more = 0

    def add(self, where: str, problem: str) -> None:
        if len(self.items) < MAX_PROBLEMS:
            self.items.append(f"{where or 'body'}: {problem}")
        else:
            self.more += 1

    def check(self) -> None:
        """Raise InvalidPayload with everything recorded, if anything was."""
        if self.items:
            extra = [f"... and {self.more} more problems"] if self.more else []
            raise InvalidPayload(self.items + extra)


class Obj:
    """One JSON object and where it sits in the payload."""

    def __init__(self, data: dict[str, Any], where: str, problems: Problems) -> None:
        self.data, self.where, self.problems = data, where, problems

    @classmethod
    def of(cls, value: object, where: str, problems: Problems) -> Obj | None:
        """Wrap a value that must be an object, or record that it is not."""
        if not isinstance(value, dict):
            problems.add(where, f"expected an object, got {kind_of(value)}")
            return None
        return cls(value, where, problems)

    def path(self, key: str) -> str:
        return child(self.where, key)

    def problem(self, key: str, problem: str) -> None:
        self.problems.add(self.path(key), problem)

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def allow(self, keys: Iterable[str]) -> None:
        """Refuse fields this object does not take: a misspelt dedup_key must not pass as a new alert."""
        allowed = tuple(keys)
        for key in self.data:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                self.problem(key, "unknown field" + (f"; did you mean {close[0]!r}?" if close else ""))

    def _get(self, key: str, required: bool) -> Any:
        value = self.data.get(key)
        if value is None and required:
            self.problem(key, "is required")
        return value

    def text(self, key: str, *, required: bool = False, max_length: int | None = None,
             nonempty: bool = True) -> str | None:
        """Return a string member (None when absent or null)."""
        value = self._get(key, required)
        if value is None:
            return None
        if not isinstance(value, str):
            self.problem(key, f"expected a string, got {kind_of(value)}")
            return None
        if nonempty and not value.strip():
            self.problem(key, "must not be empty")
            return None
        if max_length is not None and len(value) > max_length:
            self.problem(key, f"is {len(value)} characters long; at most {max_length} are allowed")
            return None
        return value

    def choice(self, key: str, enum: type[E], *, required: bool = False, default: E | None = None) -> E | None:
        """Return a member that must be one of a closed set of strings."""
        value = self._get(key, required and default is None)
        if value is None:
            return default
        try:
            return enum(value)
        except ValueError:
            # Echo a short wrong word back; a long one may be a credential pasted into the wrong field.
            shown = json.dumps(value, ensure_ascii=False) if isinstance(value, str) and len(value) <= 24 \
                else f"a string of {len(value)} characters" if isinstance(value, str) else kind_of(value)
            self.problem(key, f"expected one of {', '.join(m.value for m in enum)}; got {shown}")
            return None

    def number(self, key: str, *, required: bool = False) -> float | None:
        """Return a finite number member (booleans are not numbers here)."""
        value = self._get(key, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.problem(key, f"expected a number, got {kind_of(value)}")
            return None
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            self.problem(key, "is out of range")
            return None
        return number

    def time(self, key: str, *, required: bool = False) -> datetime | None:
        """Return an ISO 8601 time member with a UTC offset, as aware UTC."""
        value = self.text(key, required=required)
        if value is None:
            return None
        parsed = parse_time(value)
        if parsed is None:
            self.problem(key, "expected an ISO 8601 time with a UTC offset, e.g. 2026-11-27T10:00:00Z")
        return parsed

    def obj(self, key: str, *, required: bool = False) -> Obj | None:
        """Return a member that must be an object."""
        value = self._get(key, required)
        return None if value is None else Obj.of(value, self.path(key), self.problems)

    def array(self, key: str, *, required: bool = False) -> list[Any] | None:
        """Return a member that must be an array."""
        value = self._get(key, required)
        if value is None:
            return None
        if not isinstance(value, list):
            self.problem(key, f"expected an array, got {kind_of(value)}")
            return None
        return value

    def string_map(self, key: str, *, required: bool = False) -> dict[str, str]:
        """Return an object member whose values must all be strings (labels, annotations)."""
        member = self.obj(key, required=required)
        if member is None:
            return {}
        found: dict[str, str] = {}
        for name, value in member.data.items():
            if isinstance(value, str):
                found[name] = value
            else:
                member.problem(name, f"expected a string, got {kind_of(value)}")
        return found

    def scalar_map(self, key: str) -> dict[str, str]:
        """Return an object member of strings, numbers, booleans or nulls, each as text."""
        member = self.obj(key)
        if member is None:
            return {}
        found: dict[str, str] = {}
        for name, value in member.data.items():
            if isinstance(value, (dict, list)):
                member.problem(name, f"expected a string, number, boolean or null, got {kind_of(value)}")
            else:
                found[name] = "" if value is None else as_text(value)
        return found
