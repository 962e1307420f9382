"""Read TOML tables with their key path at hand, so every complaint names the file and the key.

Private to console/demo: the organisation loader uses it to say e.g. `services[3].team: unknown team 'paymnts'`.
"""
from __future__ import annotations

import difflib
from collections.abc import Iterable
from enum import StrEnum
from typing import Any, NoReturn, TypeVar

from console.errors import InvalidInput

E = TypeVar("E", bound=StrEnum)
_MISSING: Any = object()


def fail(*, file: str, where: str, problem: str) -> NoReturn:
    """Raise InvalidInput naming the file and the key path."""
    raise InvalidInput(f"{file}: {where}: {problem}")


def check_unique(*, top: Table, key: str, values: list[str], field: str) -> set[str]:
    """Refuse a repeated name in an array of tables; return the names."""
    seen: dict[str, int] = {}
    for index, value in enumerate(values):
        if value in seen:
            fail(file=top.file, where=f"{key}[{index}].{field}",
                 problem=f"{value!r} is already used by {key}[{seen[value]}]")
        seen[value] = index
    return set(seen)


def find_cycle(*, graph: dict[str, tuple[str, ...]]) -> list[str] | None:
    """Return one dependency cycle as a path that ends where it starts, or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [node, nxt] if nxt in path else [node, nxt]
            if nxt not in state and (found := visit(nxt, path + [node])):
                return found
        state[node] = 2
        return None

    for start in graph:
        if start not in state and (found := visit(start, [])):
            return found
    return None


class Table:
    """One TOML table and where it sits in the file."""

    def __init__(self, file: str, where: str, data: object) -> None:
        if not isinstance(data, dict):
            fail(file=file, where=where or "top level", problem=f"expected a table, got {_kind(data)}")
        self.file, self.where, self.data = file, where, data

    def path(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def fail(self, key: str, problem: str) -> NoReturn:
        fail(file=self.file, where=self.path(key), problem=problem)

    def allow(self, keys: Iterable[str]) -> None:
        """Refuse keys this table does not take: a typo must not be silently ignored."""
        allowed = tuple(keys)
        for key in self.data:
            if key not in allowed:
                self.fail(key, f"unknown key{_did_you_mean(key, allowed)}")

    def _get(self, key: str, default: Any, types: tuple[type, ...], expected: str) -> Any:
        if key not in self.data:
            if default is _MISSING:
                self.fail(key, "is required")
            return default
        value = self.data[key]
        if isinstance(value, bool) and bool not in types or not isinstance(value, types):
            self.fail(key, f"expected {expected}, got {_kind(value)}")
        return value

    def text(self, key: str, *, default: Any = _MISSING, limit: int = 10_000) -> str:
        value = self._get(key, default, (str,), "text")
        if default is _MISSING and not value.strip():
            self.fail(key, "must not be empty")
        if len(value) > limit:
            self.fail(key, f"is {len(value)} characters long; the limit is {limit}")
        return value.strip()

    def number(self, key: str, *, minimum: float | None = None, maximum: float | None = None,
               default: Any = _MISSING) -> float:
        value = self._get(key, default, (int, float), "a number")
        if minimum is not None and value < minimum:
            self.fail(key, f"{value} is below the minimum of {minimum}")
        if maximum is not None and value > maximum:
            self.fail(key, f"{value} is above the maximum of {maximum}")
        return value  # type: ignore[no-any-return]

    def integer(self, key: str, *, minimum: int | None = None, maximum: int | None = None,
                default: Any = _MISSING) -> int:
        if key in self.data and not isinstance(self.data[key], int):
            self.fail(key, f"expected a whole number, got {_kind(self.data[key])}")
        return int(self.number(key, minimum=minimum, maximum=maximum, default=default))

    def optional_integer(self, key: str, *, minimum: int | None = None) -> int | None:
        return self.integer(key, minimum=minimum) if key in self.data else None

    def optional_number(self, key: str) -> float | None:
        return float(self.number(key)) if key in self.data else None

    def boolean(self, key: str, *, default: Any = _MISSING) -> bool:
        return bool(self._get(key, default, (bool,), "true or false"))

    def enum(self, key: str, enum_cls: type[E]) -> E:
        return self._enum_value(key, enum_cls, self.text(key))

    def _enum_value(self, key: str, enum_cls: type[E], value: str) -> E:
        try:
            return enum_cls(value)
        except ValueError:
            allowed = ", ".join(m.value for m in enum_cls)
            self.fail(key, f"{value!r} is not one of {allowed}")

    def texts(self, key: str, *, limit: int = 10_000) -> tuple[str, ...]:
        values = self._get(key, [], (list,), "a list of text")
        for index, value in enumerate(values):
            if not isinstance(value, str) or not value.strip():
                self.fail(f"{key}[{index}]", f"expected non-empty text, got {_kind(value)}")
            if len(value) > limit:
                self.fail(f"{key}[{index}]", f"is {len(value)} characters long; the limit is {limit}")
        return tuple(v.strip() for v in values)

    def enum_list(self, key: str, enum_cls: type[E]) -> tuple[E, ...]:
        return tuple(self._enum_value(f"{key}[{i}]", enum_cls, v) for i, v in enumerate(self.texts(key)))

    def ref(self, key: str, known: set[str], what: str) -> str:
        value = self.text(key)
        if value not in known:
            self.fail(key, f"unknown {what} {value!r}{_did_you_mean(value, known)}")
        return value

    def refs(self, key: str, known: set[str], what: str) -> tuple[str, ...]:
        values = self.texts(key)
        for index, value in enumerate(values):
            if value not in known:
                self.fail(f"{key}[{index}]", f"unknown {what} {value!r}{_did_you_mean(value, known)}")
            if value in values[:index]:
                self.fail(f"{key}[{index}]", f"{value!r} is listed twice")
        return values

    def table(self, key: str) -> Table:
        return Table(self.file, self.path(key), self._get(key, _MISSING, (dict,), "a table"))

    def tables(self, key: str) -> list[Table]:
        items = self._get(key, [], (list,), "an array of tables")
        return [Table(self.file, f"{self.path(key)}[{i}]", item) for i, item in enumerate(items)]


def _kind(value: object) -> str:
    names = {bool: "true/false", int: "a whole number", float: "a decimal number", str: "text", list: "a list",
             dict: "a table"}
    return names.get(type(value), type(value).__name__)


def _did_you_mean(value: str, known: Iterable[str]) -> str:
    by_lower = {k.lower(): k for k in known}
    close = difflib.get_close_matches(value.lower(), list(by_lower), n=1)
    return f" (did you mean {by_lower[close[0]]!r}?)" if close else ""
