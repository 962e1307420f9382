"""Typed reading of a parsed policy file, where every complaint names the file, the line, the key and the reason.

Private to console/routing. A message reads `impact.toml:57: rules[3].threshold: expected a number, got "high"`.
"""
from __future__ import annotations

import difflib
import json
import math
import re
import tomllib
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path as Path_
from typing import Any, NoReturn, TypeVar

from console.errors import InvalidInput
from console.routing._lines import Path, key_lines, line_of
from console.routing.vocabulary import parse_duration

E = TypeVar("E", bound=StrEnum)
MISSING: Any = object()


def read_toml(*, path: Path_ | None, text: str | None, what: str, unnamed: str) -> tuple[str, str, dict[str, Any]]:
    """Read a policy file (or take its text) and parse its TOML: (name for messages, text, parsed tables).

    A file that cannot be read, is not UTF-8 or is not TOML is refused with the file, the line and the reason.
    """
    if text is None:
        assert path is not None
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise InvalidInput(f"{path}: cannot read the {what}: {error.strerror or error}") from None
        except UnicodeDecodeError as error:
            raise InvalidInput(f"{path}:1: not UTF-8 text (byte {error.start})") from None
    name = str(path) if path is not None else unnamed
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        found = re.search(r"\(at line (\d+), column \d+\)", str(error))
        line = found.group(1) if found else str(text.count("\n") + 1)  # "at end of document"
        raise InvalidInput(f"{name}:{line}: not valid TOML: {error}") from None
    return name, text, raw


class Source:
    """One policy text and the line of each of its keys."""

    def __init__(self, *, name: str, text: str) -> None:
        self.name = name
        self._lines = key_lines(text=text)

    def fail(self, *, path: Path, problem: str) -> NoReturn:
        """Raise InvalidInput naming the file, the line and the key path."""
        line = line_of(lines=self._lines, path=path)
        raise InvalidInput(f"{self.name}:{line}: {render(path=path) or 'top level'}: {problem}")


def render(*, path: Path) -> str:
    """Write a key path as a reader types it: rules[3].threshold."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else part
    return text


def show(value: object) -> str:
    """Quote a bad value for a message: text in double quotes, everything else by its kind."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value if len(value) <= 60 else value[:57] + "...", ensure_ascii=False)
    if isinstance(value, int | float):
        return repr(value)
    return {list: "a list", dict: "a table"}.get(type(value), type(value).__name__)


class Node:
    """One table of the file and where it sits."""

    def __init__(self, *, source: Source, path: Path, data: object) -> None:
        if not isinstance(data, dict):
            source.fail(path=path, problem=f"expected a table, got {show(data)}")
        self.source, self.path, self.data = source, path, data

    def fail(self, key: str | int | Path, problem: str) -> NoReturn:
        """Complain about a key of this table (or a deeper path under it)."""
        extra = key if isinstance(key, tuple) else (key,)
        self.source.fail(path=self.path + extra, problem=problem)

    def has(self, key: str) -> bool:
        """Tell whether the key is written."""
        return key in self.data

    def allow(self, keys: Iterable[str], *, elsewhere: dict[str, str] | None = None) -> None:
        """Refuse keys this table does not take; `elsewhere` explains keys that belong to another kind."""
        allowed = tuple(keys)
        for key in self.data:
            if key in allowed:
                continue
            if elsewhere and key in elsewhere:
                self.fail(key, elsewhere[key])
            self.fail(key, f"unknown key{did_you_mean(key, allowed)}")

    def get(self, key: str, default: Any, types: tuple[type, ...], expected: str) -> Any:
        """Return a value of one of the types, the default when absent, or fail."""
        if key not in self.data:
            if default is MISSING:
                self.fail(key, "is required")
            return default
        value = self.data[key]
        if isinstance(value, bool) and bool not in types or not isinstance(value, types):
            self.fail(key, f"expected {expected}, got {show(value)}")
        return value

    def text(self, key: str, *, default: Any = MISSING, limit: int = 500) -> str:
        """Return non-empty text of at most `limit` characters."""
        if key not in self.data and default is not MISSING:
            return default  # type: ignore[no-any-return]
        value = self.get(key, default, (str,), "text")
        if not value.strip():
            self.fail(key, "must not be empty")
        if len(value) > limit:
            self.fail(key, f"is {len(value)} characters long; the limit is {limit}")
        return value.strip()  # type: ignore[no-any-return]

    def number(self, key: str, *, minimum: float | None = None, maximum: float | None = None,
               above: float | None = None, below: float | None = None, default: Any = MISSING) -> float:
        """Return a number within the bounds (minimum/maximum inclusive, above/below exclusive)."""
        if key not in self.data and default is not MISSING:
            return default  # type: ignore[no-any-return]
        value = self.get(key, default, (int, float), "a number")
        if not math.isfinite(value):
            self.fail(key, f"expected a finite number, got {value}")
        for bound, broken, words in ((minimum, lambda b: value < b, "at least"),
                                     (maximum, lambda b: value > b, "at most"),
                                     (above, lambda b: value <= b, "above"), (below, lambda b: value >= b, "below")):
            if bound is not None and broken(bound):
                self.fail(key, f"{show(value)} is out of range: it must be {words} {show(bound)}")
        return float(value)

    def integer(self, key: str, *, minimum: int, maximum: int, default: Any = MISSING) -> int:
        """Return a whole number within the bounds."""
        if key not in self.data and default is not MISSING:
            return default  # type: ignore[no-any-return]
        self.get(key, default, (int,), "a whole number")
        return int(self.number(key, minimum=minimum, maximum=maximum))

    def duration(self, key: str, *, minimum: int, maximum: int, default: Any = MISSING) -> int:
        """Return the seconds of a duration written like "5m", "1h" or "3d"."""
        if key not in self.data and default is not MISSING:
            return default  # type: ignore[no-any-return]
        value = self.get(key, default, (str,), 'a duration such as "5m", "1h" or "3d"')
        return self.duration_value(key, value, minimum=minimum, maximum=maximum)

    def duration_value(self, key: str | Path, value: str, *, minimum: int, maximum: int) -> int:
        """Check one duration text found under the key."""
        seconds = parse_duration(text=value)
        if seconds is None:
            self.fail(key, f'expected a duration such as "5m", "1h" or "3d", got {show(value)}')
        if not minimum <= seconds <= maximum:
            self.fail(key, f"{show(value)} is out of range: it must be between {minimum} s and {maximum} s")
        return seconds

    def choice(self, key: str, enum: type[E]) -> E:
        """Return a member of a closed set, refusing anything else with the allowed values."""
        return self.member(key, enum, self.get(key, MISSING, (str,), f"one of {allowed(enum)}"))

    def member(self, key: str | Path, enum: type[E], value: str) -> E:
        """Check that one value belongs to the closed set."""
        try:
            return enum(value)
        except ValueError:
            self.fail(key, f"{show(value)} is not one of {allowed(enum)}{did_you_mean(value, list(enum))}")

    def texts(self, key: str, *, default: Any = MISSING) -> tuple[str, ...]:
        """Return a list of distinct non-empty texts."""
        if key not in self.data and default is not MISSING:
            return default  # type: ignore[no-any-return]
        values = self.get(key, default, (list,), "a list of text")
        for index, value in enumerate(values):
            if not isinstance(value, str) or not value.strip():
                self.fail((key, index), f"expected non-empty text, got {show(value)}")
            if value in values[:index]:
                self.fail((key, index), f"{show(value)} is listed twice")
        return tuple(v.strip() for v in values)

    def choices(self, key: str, enum: type[E]) -> tuple[E, ...]:
        """Return a list of distinct members of a closed set."""
        return tuple(self.member((key, i), enum, v) for i, v in enumerate(self.texts(key)))

    def table(self, key: str, *, default: Any = MISSING) -> Node:
        """Return a sub-table."""
        value = self.get(key, default, (dict,), "a table")
        return Node(source=self.source, path=self.path + (key,), data=value)

    def tables(self, key: str) -> list[Node]:
        """Return the items of an array of tables (`[[key]]`)."""
        items = self.get(key, [], (list,), f"an array of tables, written [[{key}]]")
        return [Node(source=self.source, path=self.path + (key, i), data=item) for i, item in enumerate(items)]


def allowed(enum: type[StrEnum]) -> str:
    """List a closed set's values for a message."""
    return ", ".join(m.value for m in enum)


def did_you_mean(value: str, known: Iterable[str]) -> str:
    """Suggest the closest known spelling, if one is close."""
    close = difflib.get_close_matches(value, [str(k) for k in known], n=1)
    return f" (did you mean {show(close[0])}?)" if close else ""
