"""The filters and methods a communication template may call, each bounded: the allow-lists of text and number
methods (and the checks on the few that can widen a text), the str.format the sandbox hands templates, and the
guarded Jinja filters plus the console's own (minutes, mmss, bullets) that make up FILTERS.

Every check here runs before the filter or method allocates, against the limits in console/comms/sandbox_limits.py;
console/comms/sandbox.py installs these in the environment.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from typing import Any

from jinja2 import pass_environment
from jinja2.filters import FILTERS as JINJA_FILTERS, make_attrgetter
from jinja2.sandbox import SandboxedEscapeFormatter, SandboxedFormatter

from console.comms.sandbox_limits import (
    _CONTAINERS, Refusal, _check_length, _check_width, _limits, charge, measure, to_text,
)

MAX_JSON_INDENT = 8

_DIGITS = re.compile(r"\d+")


# ---- methods called from a template ----------------------------------------------------------------------------------

# Text methods that return no more than they are given. Everything else on a text is refused (encode, translate:
# no use in a message, and bytes would bring their own widening methods), except the four checked in _check_method.
_TEXT_METHODS = frozenset({
    "capitalize", "casefold", "count", "endswith", "find", "index", "isalnum", "isalpha", "isascii", "isdecimal",
    "isdigit", "isidentifier", "islower", "isnumeric", "isprintable", "isspace", "istitle", "isupper", "lower",
    "lstrip", "partition", "removeprefix", "removesuffix", "rfind", "rindex", "rpartition", "rsplit", "rstrip",
    "split", "splitlines", "startswith", "strip", "swapcase", "title", "upper",
})
_WIDENING = frozenset({"center", "ljust", "rjust", "zfill"})
_NUMBER_METHODS = frozenset({"bit_length", "is_integer"})  # not to_bytes (10**9 bytes), nor from_bytes


def _replaced_size(text: str, old: str, new: str, count: Any) -> int:
    found = len(text) + 1 if old == "" else text.count(old)
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    return len(text) + found * (len(new) - len(old))


def _check_method(owner: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Refuse a text or number method that could widen its value past the limit; return the arguments to call with."""
    if isinstance(owner, str):
        if name in _TEXT_METHODS:
            return args
        if name in _WIDENING:
            if args and isinstance(args[0], int):
                _check_length(f"{name}()", args[0])
            return args
        if name == "expandtabs":
            tabsize = kwargs.get("tabsize", args[0] if args else 8)
            if isinstance(tabsize, int):
                _check_length("expandtabs()", len(owner) + owner.count("\t") * tabsize)
            return args
        if name == "replace":
            if len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
                _check_length("replace()", _replaced_size(owner, args[0], args[1], args[2] if len(args) > 2 else -1))
            return args
        if name == "join":
            items = list(args[0]) if args else []
            strings = [item for item in items if isinstance(item, str)]
            _check_length("join()", sum(map(len, strings)) + len(owner) * max(0, len(items) - 1))
            return (items, *args[1:])
        raise Refusal(f"not allowed in a template: calling {name!r} on a text")
    if isinstance(owner, (int, float)) and name not in _NUMBER_METHODS:
        raise Refusal(f"not allowed in a template: calling {name!r} on a number")
    return args


class _BoundedFormatting:
    """str.format for templates: the sandbox's field lookups, plus bounded widths and a bounded result."""

    _chars = 0  # written by the fields so far (one formatter per call)

    def format_field(self, value: Any, format_spec: str) -> Any:
        # Any number in a spec may be a width or a precision ("{:>999999999}", "{:.999999999f}"): bound them all.
        for number in _DIGITS.findall(format_spec):
            _check_width("format", int(number))
        if isinstance(value, _CONTAINERS):
            to_text(value)
        text = super().format_field(value, format_spec)  # type: ignore[misc]
        self._chars += len(text)
        _check_length("format()", self._chars)
        return text

    def get_value(self, key: int | str, args: Any, kwargs: Any) -> Any:
        try:
            return super().get_value(key, args, kwargs)  # type: ignore[misc]
        except (KeyError, IndexError):
            raise Refusal(f"format() has no value for the field {{{key}}}") from None

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        if isinstance(value, _CONTAINERS):
            to_text(value)  # !r and !s write the value out before format_field sees it
        return super().convert_field(value, conversion)  # type: ignore[misc]


class _Formatter(_BoundedFormatting, SandboxedFormatter):
    pass


class _EscapeFormatter(_BoundedFormatting, SandboxedEscapeFormatter):
    pass


# ---- filters ----------------------------------------------------------------------------------------------------------

def _guarded(name: str, *, check: Callable[..., None] | None = None, text: bool = False) -> Callable[..., Any]:
    """Wrap a Jinja filter: optionally turn its value into bounded text and check its arguments; bound and count
    its result."""
    function = JINJA_FILTERS[name]
    # Jinja passes the environment, eval context or context first to filters marked for it (the mark is copied).
    first = 1 if hasattr(function, "jinja_pass_arg") else 0

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if text and len(args) > first:
            args = (*args[:first], to_text(args[first]), *args[first + 1:])
        if check is not None:
            check(*args[first:], **kwargs)
        result = function(*args, **kwargs)
        # A filter handing back a value it was given (default, a trim with nothing to trim) built nothing new.
        if any(result is arg for arg in args) or any(result is arg for arg in kwargs.values()):
            return result
        if isinstance(result, str):
            _check_length(name, len(result))  # after the fact, for what cannot be told before (tojson's escapes)
        return charge(result)

    return wrapper


def _check_center(value: str, width: int = 80) -> None:
    _check_width("center", width)


def _check_indent(s: str, width: int | str = 4, first: bool = False, blank: bool = False) -> None:
    size = len(width) if isinstance(width, str) else width
    _check_width("indent", size)
    if isinstance(size, int):
        _check_length("indent", len(s) + (s.count("\n") + 1) * size)


def _check_wordwrap(s: str, width: int = 79, break_long_words: bool = True, wrapstring: str | None = None,
                    break_on_hyphens: bool = True) -> None:
    _check_width("wordwrap", width)
    wrapstring = "\n" if wrapstring is None else wrapstring
    if isinstance(wrapstring, str) and isinstance(width, int) and width > 0:
        _check_width("wordwrap wrapstring", len(wrapstring))
        # Greedy wrapping: two lines in a row hold at least width characters between them, so a paragraph wraps to at
        # most 2 * len / width + 1 lines.
        lines = s.count("\n") + 1 + 2 * len(s) // width
        _check_length("wordwrap", len(s) + lines * len(wrapstring))


def _check_replace(s: str, old: Any, new: Any, count: int | None = None) -> None:
    _check_length("replace", _replaced_size(s, to_text(old), to_text(new), count))


def _check_truncate(s: str, length: int = 255, killwords: bool = False, end: str = "...",
                    leeway: int | None = None) -> None:
    # A truncated text is never longer than the text plus its ending: nothing to bound but the ending.
    if isinstance(end, str):
        _check_length("truncate", min(len(s), length if isinstance(length, int) else len(s)) + len(end))


def _check_count(what: str, count: Any) -> None:
    limit = _limits().max_range
    if isinstance(count, int) and count > limit:
        raise Refusal(f"{what} count {count:,} is over the limit of {limit:,}")


def _check_batch(value: Any, linecount: int, fill_with: Any = None) -> None:
    _check_count("batch", linecount)


def _check_slice(value: Any, slices: int, fill_with: Any = None) -> None:
    _check_count("slice", slices)


def _check_sum(iterable: Any, attribute: Any = None, start: Any = 0) -> None:
    # sum(start=[]) would concatenate lists, quadratically, in C: sum adds numbers only.
    if not isinstance(start, (int, float)):
        raise Refusal("sum adds numbers only")


def _check_tojson(value: Any, indent: int | None = None) -> None:
    if indent is not None and (not isinstance(indent, int) or indent > MAX_JSON_INDENT):
        raise Refusal(f"tojson indent {indent!r} is over the limit of {MAX_JSON_INDENT}")
    limit = _limits().max_chars
    if measure(value, limit, indent or 0) > limit:
        raise Refusal(f"tojson would make a text of over {limit:,} characters")


@pass_environment
def _join(environment: Any, value: Iterable[Any], d: str = "", attribute: str | int | None = None) -> str:
    """Join the items as text with d between them, if the result fits."""
    if attribute is not None:
        value = map(make_attrgetter(environment, attribute), value)
    separator = to_text(d)
    limit = _limits().max_chars
    parts: list[str] = []
    size = -len(separator)
    for item in value:
        part = to_text(item)
        size += len(part) + len(separator)
        if size > limit:
            raise Refusal(f"join would make a text of over {limit:,} characters")
        parts.append(part)
    return charge(separator.join(parts))


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Refusal(f"{what} needs a number, not {to_text(value)[:40]!r}")
    return value


def minutes(value: int) -> str:
    """Say a number of minutes as '1 h 05 min' (or '45 min')."""
    total = round(_number(value, "minutes"))
    sign, total = ("-" if total < 0 else ""), abs(total)
    hours, rest = divmod(total, 60)
    return f"{sign}{hours} h {rest:02d} min" if hours else f"{sign}{rest} min"


def mmss(value: int) -> str:
    """Say a number of seconds as minutes and seconds: '12:05', '-3:10'."""
    total = round(_number(value, "mmss"))
    sign, total = ("-" if total < 0 else ""), abs(total)
    return f"{sign}{total // 60}:{total % 60:02d}"


def bullets(value: Iterable[Any]) -> str:
    """Write a list of texts as one bullet a line: '• a\\n• b'."""
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise Refusal(f"bullets needs a list, not {to_text(value)[:40]!r}")
    return _join(None, (f"• {to_text(item)}" for item in value), "\n")


_TEXT_FILTERS = ("upper", "lower", "title", "capitalize", "trim", "striptags", "string", "wordcount")
_PLAIN_FILTERS = ("default", "d", "length", "count", "first", "last", "list", "sort", "unique", "reverse", "round",
                  "int", "float", "abs", "min", "max", "map", "select", "reject", "selectattr", "rejectattr",
                  "groupby", "dictsort", "items")
_CHECKED_FILTERS: dict[str, tuple[Callable[..., None], bool]] = {
    "center": (_check_center, True), "indent": (_check_indent, True), "wordwrap": (_check_wordwrap, True),
    "truncate": (_check_truncate, True), "replace": (_check_replace, True), "batch": (_check_batch, False),
    "slice": (_check_slice, False), "sum": (_check_sum, False), "tojson": (_check_tojson, False),
}

# Left out: format (printf with any width, and a second path to str.format), pprint, xmlattr, urlize, urlencode,
# filesizeformat, attr, random, safe/escape/forceescape (the output is plain text): nothing a message needs.
FILTERS: dict[str, Callable[..., Any]] = {
    **{name: _guarded(name, text=True) for name in _TEXT_FILTERS},
    **{name: _guarded(name) for name in _PLAIN_FILTERS},
    **{name: _guarded(name, check=check, text=text) for name, (check, text) in _CHECKED_FILTERS.items()},
    "join": _join, "minutes": minutes, "mmss": mmss, "bullets": bullets,
}
