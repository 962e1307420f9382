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

This module holds the environment (``TemplateSandbox``, ``ENV``), its guarded operators and the bounded joins
compiled templates use. The limits, the work count and the deadline are in console/comms/sandbox_limits.py; the
filters and the text and number methods a template may call are in console/comms/sandbox_filters.py. The names
callers use are re-exported here (``__all__``).
"""
from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from types import BuiltinMethodType, MethodType
from typing import Any

from jinja2 import StrictUndefined, Template, Undefined
from jinja2.runtime import Macro, markup_join, missing
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

from console.comms.sandbox_filters import (
    FILTERS, MAX_JSON_INDENT, _check_method, _EscapeFormatter, _Formatter, bullets, minutes, mmss,
)
from console.comms.sandbox_limits import (
    _CONTAINERS, _SCALARS, CHECK_EVERY, MAX_INT_BITS, MAX_WIDTH, WORK_FACTOR, Limits, Refusal, RenderTimeout,
    TraceFunction, _check_length, _check_width, _limits, charge, deadline_tracer, limits_in_force, measure,
    size_label, to_text,
)

__all__ = [
    "CHECK_EVERY", "ENV", "FILTERS", "MAX_INT_BITS", "MAX_JSON_INDENT", "MAX_WIDTH", "WORK_FACTOR", "Limits",
    "PlainUndefined", "Refusal", "RenderTimeout", "TemplateSandbox", "TraceFunction", "bounded_concat",
    "bounded_markup_join", "bounded_range", "bounded_str_join", "bullets", "charge", "check_binop", "deadline_tracer",
    "describe", "harden", "limits_in_force", "measure", "minutes", "mmss", "size_label", "to_text",
]

_SEQUENCES = (str, list, tuple)


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


ENV = TemplateSandbox()
