"""What one render of a communication template may cost, and the counting that holds it to that: the Limits, the
render in progress on this thread (its limits and the work it has built so far), the size checks every guarded step
makes before it allocates, and the trace function that bounds a render's wall time.

The rest of the sandbox builds on this module: console/comms/sandbox_filters.py (the filters and text methods a
template may call) and console/comms/sandbox.py (the environment). It imports neither.
"""
from __future__ import annotations

import threading
import time
from collections import abc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any

from console.errors import InvalidInput

MAX_WIDTH = 500  # the widest center/indent/wordwrap/format width: a text line wider than this is never wanted
MAX_INT_BITS = 128  # about 38 digits: counts, minutes and percentages are far below; 9 ** 9 ** 9 is not
WORK_FACTOR = 64  # all a render builds along the way, in multiples of its output limit
CHECK_EVERY = 100  # trace events (any call, a line of template code) between two looks at the clock

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

