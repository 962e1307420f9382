"""The sandbox that runs user-edited communication templates: Jinja2's immutable sandbox with a minimal surface (one
global, an allow-list of filters) and limits on what one render may cost.

Jinja2's sandbox stops attribute escapes (``__class__``, ``__globals__``, fields looked up by ``str.format``) and calls
of mutating methods on lists and dicts. It does nothing about cost: ``"x" * 10**9``, ``"x"|center(10**9)``,
``"%999999999s" % 1``, ``9 ** 99999999`` or three nested loops over a long text all run to the end. Here:

- every step that can make a value much larger than its inputs (``*``, ``**``, ``%``, ``+``, ``~``, the widening
  filters and text methods, macros and ``{% set %}`` blocks) is checked *before* it allocates: no one text or list may
  exceed ``Limits.max_chars``, no number may pass ``MAX_INT_BITS``;
- everything built along the way is counted against ``Limits.max_work`` (many values each under the limit add up);
- the wall time of a render is bounded by a trace function (``deadline_tracer``);
- the output is counted as it is produced (console/comms/render.py).

The checks are made before the allocation because a MemoryError (or the OOM killer) after the fact takes the whole
console with it.
"""
from __future__ import annotations

import functools
import re
import threading
import time
from collections import abc
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import BuiltinMethodType, FrameType, MethodType
from typing import Any

from jinja2 import StrictUndefined, Template, Undefined, pass_environment
from jinja2.filters import FILTERS as JINJA_FILTERS, make_attrgetter
from jinja2.runtime import Macro, markup_join, missing
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedEscapeFormatter, SandboxedFormatter
from markupsafe import Markup

from console.errors import InvalidInput

MAX_WIDTH = 500  # the widest center/indent/wordwrap/format width: a text line wider than this is never wanted
MAX_INT_BITS = 128  # about 38 digits: counts, minutes and percentages are far below; 9 ** 9 ** 9 is not
MAX_JSON_INDENT = 8
WORK_FACTOR = 64  # all a render builds along the way, in multiples of its output limit
CHECK_EVERY = 100  # trace events (any call, a line of template code) between two looks at the clock

_SEQUENCES = (str, list, tuple)
_CONTAINERS = (list, tuple, dict, set, frozenset, abc.KeysView, abc.ValuesView, abc.ItemsView)
_SCALARS = frozenset({str, int, float, bool, type(None)})  # exact types: tested before the (slower) ABCs above
TraceFunction = Callable[[FrameType, str, Any], Any]


@dataclass(frozen=True)
class Limits:
    seconds: float = 0.5  # wall time for one render
    max_chars: int = 65_536  # output size, and the largest text (or list) any one step may build
    max_range: int = 10_000  # range() length, and the largest batch() or slice() count

    def __post_init__(self) -> None:
        if not (self.seconds > 0 and self.max_chars > 0 and self.max_range >= 0):
            raise InvalidInput(f"template limits must be positive: {self}")

    @property
    def max_work(self) -> int:
        """The characters and list items one render may build in all, counting what it throws away."""
        return self.max_chars * WORK_FACTOR


class Refusal(Exception):
    """A step of a render would cost too much or is not allowed; render.py adds the template, part and line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RenderTimeout(BaseException):
    """The render ran past its deadline.

    A BaseException so that no ``except Exception`` between the template's frame and the caller (Jinja's filters
    catch a few) can swallow it.
    """


def size_label(chars: int) -> str:
    """Say a number of characters the way a person reads a limit: '64 KB', '4 MB', or '1,000 characters'."""
    for unit, size in (("MB", 1024 * 1024), ("KB", 1024)):
        if chars >= size and chars % size == 0:
            return f"{chars // size} {unit}"
    return f"{chars:,} characters"


# ---- the render in progress on this thread: its limits and what it has built so far -------------------------------

class _Run:
    __slots__ = ("limits", "work")

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.work = 0


_local = threading.local()
_DEFAULT = Limits()


def _limits() -> Limits:
    # Filters also run at compile time, when Jinja folds constant expressions: no render, so the default limits.
    run: _Run | None = getattr(_local, "run", None)
    return _DEFAULT if run is None else run.limits


@contextmanager
def limits_in_force(limits: Limits) -> Iterator[None]:
    """Apply these limits to every check made on this thread until the block ends."""
    outer = getattr(_local, "run", None)
    _local.run = _Run(limits)
    try:
        yield
    finally:
        _local.run = outer


def charge(value: Any) -> Any:
    """Count a text or list just built against the render's work limit; return it."""
    if isinstance(value, (str, list, tuple, dict)):
        run: _Run | None = getattr(_local, "run", None)
        if run is not None:
            run.work += len(value)
            if run.work > run.limits.max_work:
                raise Refusal(f"the template built more than {size_label(run.limits.max_work)} of text along the"
                              " way and was stopped")
    return value


def _too_long(what: str, size: int, of: str = "text") -> Refusal:
    unit = "characters" if of == "text" else "items"
    return Refusal(f"{what} would make a {of} of {size:,} {unit} (the limit is {_limits().max_chars:,})")


def _check_length(what: str, size: int, of: str = "text") -> None:
    if size > _limits().max_chars:
        raise _too_long(what, size, of)


def _check_width(what: str, width: Any) -> None:
    if isinstance(width, int) and width > MAX_WIDTH:
        raise Refusal(f"{what} width {width:,} is over the limit of {MAX_WIDTH}")


def measure(value: Any, limit: int, indent: int = 0) -> int:
    """Estimate how long str(value) (or its JSON) is, stopping as soon as it passes the limit."""
    total = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack and total <= limit:
        item, depth = stack.pop()
        if isinstance(item, str):
            total += len(item) + 2
        elif isinstance(item, bool) or item is None:
            total += 5
        elif isinstance(item, int):
            total += item.bit_length() * 10 // 33 + 2
        elif isinstance(item, float):
            total += 24
        elif isinstance(item, _CONTAINERS):
            # Each element costs its separator and, when indented, a new line at its depth.
            total += 2 + len(item) * (2 + (indent * (depth + 1) + 1 if indent else 0))
            if total <= limit:
                members = item.items() if isinstance(item, dict) else item
                stack.extend((member, depth + 1) for member in members)
        else:
            total += 100  # macros, generators, ranges: a short repr
    return total


def to_text(value: Any) -> str:
    """Turn a value into text as Jinja would, refusing a list or dict too large to write out."""
    if isinstance(value, str):
        return value
    if type(value) not in _SCALARS and isinstance(value, _CONTAINERS):
        limit = _limits().max_chars
        if measure(value, limit) > limit:
            raise Refusal(f"a {type(value).__name__} too large to write out as text (over {limit:,} characters)")
        return charge(str(value))
    return str(value)


def _finalize(value: Any) -> Any:
    # {{ a_list }}: Jinja calls str() on what this returns; measure containers first.
    return value if type(value) in _SCALARS or not isinstance(value, _CONTAINERS) else to_text(value)


def bounded_range(*args: int) -> range:
    """range() for templates: at most Limits.max_range numbers."""
    for arg in args:
        if isinstance(arg, Undefined):
            arg._fail_with_undefined_error()  # say which name is undefined, not that it is no integer
    numbers = range(*args)
    limit = _limits().max_range
    count = max(0, -(-(numbers.stop - numbers.start) // numbers.step))  # len() overflows past sys.maxsize
    if count > limit:
        raise Refusal(f"range() of {count:,} numbers is over the limit of {limit:,}")
    return numbers


def bounded_concat(parts: Iterable[str]) -> str:
    """Join what a macro, a {% set %} block or a {% filter %} block wrote, if it fits."""
    if not isinstance(parts, list):
        parts = list(parts)
    _check_length("a macro or block", sum(map(len, parts)))
    return charge("".join(parts))


def bounded_str_join(values: Iterable[Any]) -> str:
    """The ~ operator: join the values as text, if it fits."""
    parts = [to_text(value) for value in values]
    _check_length("'~'", sum(map(len, parts)))
    return charge("".join(parts))


def bounded_markup_join(values: Iterable[Any]) -> str:
    """The ~ operator inside {% autoescape %}: as bounded_str_join, escaping as Jinja does."""
    parts = [value if isinstance(value, str) else to_text(value) for value in values]
    _check_length("'~'", sum(map(len, parts)))
    return charge(markup_join(parts))


def harden(template: Template) -> Template:
    """Make a compiled template's ~ operator bounded; return the template."""
    # The generated module imports str_join and markup_join from jinja2.runtime, with no environment hook; its
    # functions look them up in the module's namespace at call time, which is root_render_func's globals.
    namespace = template.root_render_func.__globals__
    namespace["str_join"] = bounded_str_join
    namespace["markup_join"] = bounded_markup_join
    return template


# ---- operators ------------------------------------------------------------------------------------------------------

_DIGITS = re.compile(r"\d+")
_PRINTF_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?(.)", re.DOTALL)


def _check_printf(fmt: str, args: Any) -> None:
    for width, precision, _ in _PRINTF_SPEC.findall(fmt):
        for number in (width, precision):
            if number == "*":
                raise Refusal("'%' formatting with a '*' width is not allowed in a template")
            if number:
                _check_width("'%' format", int(number))
    values = args.values() if isinstance(args, dict) else args if isinstance(args, tuple) else (args,)
    limit = _limits().max_chars
    _check_length("'%'", len(fmt) + sum(measure(value, limit) for value in values))


def _check_number(what: str, number: Any) -> None:
    if isinstance(number, int) and number.bit_length() > MAX_INT_BITS:
        raise Refusal(f"{what} would make a number over {MAX_INT_BITS} bits, too large for a template")


def check_binop(operator: str, left: Any, right: Any) -> None:
    """Refuse a *, **, % or + whose result would be too large, before it is computed."""
    if operator == "*":
        if isinstance(left, _SEQUENCES) and isinstance(right, int):
            _check_length("'*'", len(left) * right, "text" if isinstance(left, str) else "list")
        elif isinstance(right, _SEQUENCES) and isinstance(left, int):
            _check_length("'*'", len(right) * left, "text" if isinstance(right, str) else "list")
        elif isinstance(left, int) and isinstance(right, int) and left.bit_length() + right.bit_length() > \
                MAX_INT_BITS + 1:
            raise Refusal(f"'*' would make a number over {MAX_INT_BITS} bits, too large for a template")
    elif operator == "**":
        # Lower bound of the result's bits: refuse 9 ** 99999999 without computing it.
        if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1 and \
                right * (abs(left).bit_length() - 1) > MAX_INT_BITS:
            raise Refusal(f"'**' would make a number over {MAX_INT_BITS} bits, too large for a template")
    elif operator == "%":
        if isinstance(left, str):
            _check_printf(left, right)
    elif operator == "+":
        if isinstance(left, str) and isinstance(right, str):
            _check_length("'+'", len(left) + len(right))
        elif isinstance(left, (list, tuple)) and isinstance(right, (list, tuple)):
            _check_length("'+'", len(left) + len(right), "list")


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


# ---- the environment --------------------------------------------------------------------------------------------------

def describe(value: Any) -> str:
    """Say what kind of value this is in a template writer's words: 'a text', 'a number'."""
    if isinstance(value, bool):
        return "a yes/no value"
    if isinstance(value, str):
        return "a text"
    if isinstance(value, (int, float)):
        return "a number"
    if value is None:
        return "None"
    return f"a {type(value).__name__}"


class PlainUndefined(StrictUndefined):
    """StrictUndefined that says what is missing in a template writer's words."""

    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        hint, owner, name = self._undefined_hint, self._undefined_obj, self._undefined_name
        if hint:
            return hint
        if owner is missing:
            return f"{name!r} is not defined"
        if isinstance(owner, dict):
            fields = sorted(map(str, owner))
            shown = ", ".join(fields[:12]) + (", …" if len(fields) > 12 else "")
            return f"there is no field {name!r} (the fields are: {shown})" if fields else f"there is no field {name!r}"
        if isinstance(owner, (list, tuple)) and isinstance(name, int):
            return f"there is no item {name} (the list has {len(owner)})"
        return f"{describe(owner)} has no field {name!r}"


class TemplateSandbox(ImmutableSandboxedEnvironment):
    """The one environment every communication template is compiled in."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})
    # Unary + and - give a number of the same size: nothing to intercept.
    intercepted_unops = frozenset()

    def __init__(self) -> None:
        # No loader: {% include %}, {% import %} and {% extends %} have nothing to load (render.py refuses them first).
        super().__init__(undefined=PlainUndefined, autoescape=False, keep_trailing_newline=True, trim_blocks=True,
                         lstrip_blocks=True, finalize=_finalize, loader=None, cache_size=0, auto_reload=False)
        self.concat = bounded_concat  # what generated code joins macro and block output with
        # One global. Gone: namespace (re-assigning its attributes in a loop is the one way a template accumulates,
        # without bound), cycler, joiner, lipsum (their __init__ and __globals__ were classic escape routes),
        # dict (harmless, but {"a": 1} does the same and the surface stays minimal).
        self.globals.clear()
        self.globals["range"] = bounded_range
        self.filters = dict(FILTERS)

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        """Allow what the immutable sandbox allows; on an undefined name, say that the name is undefined."""
        if isinstance(obj, Undefined):
            obj._fail_with_undefined_error()  # not "access to '__init__' of an Undefined object" for cycler.__init__
        return super().is_safe_attribute(obj, attr, value)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        """Apply *, **, % or + unless the result would be too large."""
        check_binop(operator, left, right)
        try:
            result = self.binop_table[operator](left, right)
        except OverflowError:
            raise Refusal(f"{operator!r} made a number too large for a template") from None
        if operator in ("*", "**"):
            _check_number(repr(operator), result)
        if isinstance(result, str):
            _check_length(repr(operator), len(result))
        return charge(result)

    def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        """Call a macro or method from a template, refusing text and number methods that could widen too far."""
        owner = getattr(obj, "__self__", None)
        if isinstance(obj, (BuiltinMethodType, MethodType)) and isinstance(owner, (str, int, float)):
            args = _check_method(owner, obj.__name__, args, kwargs)
        result = super().call(context, obj, *args, **kwargs)
        # A macro's text was counted when its output was joined (bounded_concat).
        return result if isinstance(obj, Macro) else charge(result)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """Give templates a str.format (and format_map) with the sandbox's field lookups and bounded widths."""
        if not isinstance(value, (MethodType, BuiltinMethodType)) or value.__name__ not in ("format", "format_map"):
            return None
        owner = value.__self__
        if not isinstance(owner, str):
            return None
        is_map = value.__name__ == "format_map"
        environment = self

        def wrapper(*args: Any, **kwargs: Any) -> str:
            if is_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one argument")
                args, kwargs = (), args[0]
            formatter = (_EscapeFormatter(environment, escape=owner.escape) if isinstance(owner, Markup)
                         else _Formatter(environment))
            return charge(type(owner)(formatter.vformat(owner, args, kwargs)))

        return functools.update_wrapper(wrapper, value)


# ---- time ---------------------------------------------------------------------------------------------------------------

def deadline_tracer(*, filename: str, seconds: float, previous: TraceFunction | None) -> TraceFunction:
    """Return a trace function that stops the template compiled under filename once seconds have passed.

    The caller installs it with sys.settrace for the render only, and puts previous back with sys.settrace in a
    finally: a C call, so no Python frame (which this could interrupt) runs between the render and the restore.
    """
    # Jinja compiles {% for %} to plain Python loops that call no hook, so the only way to stop three nested loops
    # over a long text is a trace function. Line events are asked for only in the frames of the template's own code
    # (its co_filename); every other call costs one comparison and a countdown, which also catches a filter's own
    # Python loops (groupby, wordwrap, str.format's fields) running long between two lines of the template.
    deadline = time.monotonic() + seconds
    countdown = CHECK_EVERY

    def tick() -> None:
        nonlocal countdown
        countdown = CHECK_EVERY
        if time.monotonic() > deadline:
            # CPython unsets a trace function that raises: nothing fires twice while the frames unwind.
            raise RenderTimeout

    def check(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal countdown
        countdown -= 1
        if countdown <= 0 and event == "line":
            tick()
        return check

    def on_call(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal countdown
        countdown -= 1
        if countdown <= 0:
            tick()
        return check if frame.f_code.co_filename == filename else None

    if previous is None:
        return on_call

    def on_call_chained(frame: FrameType, event: str, arg: Any) -> Any:
        # A trace function set before ours (coverage, a debugger) keeps seeing every frame.
        inner = previous(frame, event, arg)
        ours = on_call(frame, event, arg)
        if ours is None or inner is None:
            return inner if ours is None else ours

        def both(frame: FrameType, event: str, arg: Any) -> Any:
            nonlocal inner
            check(frame, event, arg)
            if inner is not None:
                inner = inner(frame, event, arg)
            return both

        return both

    return on_call_chained


ENV = TemplateSandbox()
