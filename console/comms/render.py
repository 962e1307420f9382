"""Rendering communication templates (incident briefs, customer status updates, executive summaries) to plain text.

A template is compiled once (``compile_template``), checked at save time against a sample of the context
(``check_template``) and rendered often (``render``, or ``render_text`` which keeps compiled templates in a small
cache) in the sandbox of console/comms/sandbox.py, over plain data only: dicts, lists, tuples, str, int, float, bool,
None. Whatever goes wrong, a syntax error, a name or field the context lacks, a step the sandbox forbids, a render
too slow or too large, it is a TemplateRefused naming the template, the part, the line when there is one and the
reason, fit to show the person who wrote the template: never a raw traceback.
"""
from __future__ import annotations

import functools
import sys
import traceback
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from jinja2 import Template, TemplateAssertionError, TemplateError, TemplateSyntaxError, UndefinedError, nodes
from jinja2.exceptions import SecurityError

from console.comms import sandbox
from console.comms.sandbox import ENV, Limits
from console.errors import InvalidInput

__all__ = ["CompiledTemplate", "Limits", "TemplateRefused", "check_template", "compile_template", "render",
           "render_text"]

PARTS = ("subject", "body")
MAX_SOURCE = 65_536  # characters of template source: Jinja's parse and compile are not under the time limit
_CACHE_SIZE = 128
_LOADING_TAGS = {nodes.Extends: "extends", nodes.Include: "include", nodes.Import: "import",
                 nodes.FromImport: "from ... import"}
# Filters whose result holds the same kind of element as their input: a loop over `services|sort` sees services.
_SAME_ELEMENTS = {"sort", "reverse", "unique", "list", "select", "reject", "selectattr", "rejectattr"}
_PLAIN = (dict, list, tuple, str, int, float, bool, type(None))
_UNKNOWN = object()
_SLICE = object()


class TemplateRefused(InvalidInput):
    """A template cannot be used as written; the message names the template, the part, the line and the reason."""

    def __init__(self, *, template: str, part: str, line: int | None, reason: str) -> None:
        where = f"template {template} ({part})" + (f", line {line}" if line is not None else "")
        super().__init__(f"{where}: {reason}")
        self.template = template
        self.part = part
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class CompiledTemplate:
    """One part of a template, compiled once, to render as often as needed."""

    name: str
    part: str  # "subject" or "body"
    source: str
    filename: str = field(repr=False)  # the compiled code's co_filename: unique per template part
    jinja: Template = field(repr=False, compare=False)


def compile_template(*, name: str, part: str, source: str) -> CompiledTemplate:
    """Parse and compile one part of a template, or refuse it with the line of the first problem."""
    if part not in PARTS:
        raise InvalidInput(f"a template part is 'subject' or 'body', not {part!r}")
    filename = f"<template {name}:{part}>"

    def refused(line: int | None, reason: str) -> TemplateRefused:
        return TemplateRefused(template=name, part=part, line=line, reason=reason)

    if len(source) > MAX_SOURCE:
        raise refused(None, f"the template is {len(source):,} characters long, over the limit of {MAX_SOURCE:,}")
    try:
        tree = ENV.parse(source, name=name, filename=filename)
        problem = _forbidden(tree)
        if problem is not None:
            raise refused(*problem)
        code = ENV.compile(tree, name=name, filename=filename)
    except TemplateAssertionError as exc:  # an unknown filter or test, a misplaced tag
        raise refused(exc.lineno, _sentence(exc.message or str(exc))) from exc
    except TemplateSyntaxError as exc:
        raise refused(exc.lineno, f"syntax error: {_sentence(exc.message or str(exc))}") from exc
    except (SyntaxError, RecursionError, MemoryError) as exc:  # Python's own limits on the generated code
        raise refused(None, "the template nests blocks or brackets too deeply to compile") from exc
    template = sandbox.harden(ENV.template_class.from_code(ENV, code, ENV.make_globals(None)))
    return CompiledTemplate(name=name, part=part, source=source, filename=filename, jinja=template)


def check_template(*, name: str, part: str, source: str, sample: Mapping[str, Any]) -> None:
    """Refuse a template that names what the sample context lacks, then render it against the sample."""
    compiled = compile_template(name=name, part=part, source=source)
    _check_plain(sample)
    problem = _static_problem(ENV.parse(source, name=name, filename=compiled.filename), sample)
    if problem is not None:
        raise TemplateRefused(template=name, part=part, line=problem[0], reason=problem[1])
    render(template=compiled, context=sample)


def render(*, template: CompiledTemplate, context: Mapping[str, Any], limits: Limits = Limits()) -> str:
    """Render a compiled template over plain data within the limits, or refuse it with the line and the reason."""
    _check_plain(context)

    def refused(line: int | None, reason: str) -> TemplateRefused:
        return TemplateRefused(template=template.name, part=template.part, line=line, reason=reason)

    chunks: list[str] = []
    size = 0
    with sandbox.limits_in_force(limits):
        stream = template.jinja.generate(context)  # lazy: nothing runs before the trace function is set
        previous = sys.gettrace()
        sys.settrace(sandbox.deadline_tracer(filename=template.filename, seconds=limits.seconds, previous=previous))
        try:
            try:
                # Counted as it arrives: a loop writing past the limit is stopped there, not at the end.
                for chunk in stream:
                    size += len(chunk)
                    if size > limits.max_chars:
                        raise refused(None, f"the text grew past {sandbox.size_label(limits.max_chars)} and was"
                                            " stopped")
                    chunks.append(chunk)
            finally:
                # At once, and with a C call: the handlers below run no Python code the deadline could interrupt.
                sys.settrace(previous)
        except sandbox.RenderTimeout:
            raise refused(None, f"the render ran longer than {limits.seconds:g} s and was stopped") from None
        except TemplateRefused:
            raise
        except Exception as exc:
            raise refused(_template_line(exc, template.filename), _reason(exc)) from exc
        finally:
            stream.close()
    return "".join(chunks)


def render_text(*, name: str, part: str, source: str, context: Mapping[str, Any], limits: Limits = Limits()) -> str:
    """Compile (or reuse) one part of a template and render it."""
    return render(template=_compiled(name, part, source), context=context, limits=limits)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _compiled(name: str, part: str, source: str) -> CompiledTemplate:
    # Rendering happens on every draft and send; templates change rarely. A refusal is not cached (it raises).
    return compile_template(name=name, part=part, source=source)


# ---- what a refusal says ----------------------------------------------------------------------------------------------

def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    text = text if len(text) <= 200 else text[:199] + "…"
    return text or type(exc).__name__


def _sentence(message: str) -> str:
    """Fit a message after a colon: one line, no final full stop, 'Unexpected' as 'unexpected' (not 'API')."""
    text = " ".join(message.split()).rstrip(".")
    return text[0].lower() + text[1:] if text[:2].istitle() and text[:2].isalpha() else text


def _reason(exc: Exception) -> str:
    if isinstance(exc, sandbox.Refusal):
        return exc.reason
    if isinstance(exc, SecurityError):
        return f"not allowed in a template: {_sentence(str(exc)).removesuffix(' is unsafe')}"
    if isinstance(exc, UndefinedError):
        return _sentence(str(exc))
    if isinstance(exc, RecursionError):
        return "a macro calls itself too deeply and was stopped"
    if isinstance(exc, MemoryError):
        return "the render ran out of memory and was stopped"
    if isinstance(exc, KeyError):
        return f"there is no key {exc.args[0]!r}" if exc.args else "there is no such key"
    if isinstance(exc, OverflowError):
        return "a number is too large for a template"
    if isinstance(exc, TemplateError):
        return _sentence(exc.message or str(exc))
    return _short(exc)  # TypeError, ZeroDivisionError, ...: Python's words are short and say what is wrong


def _template_line(exc: BaseException, filename: str) -> int | None:
    # Jinja rewrites the traceback so that frames of the template's code carry template line numbers; the last one
    # is where the template was when it failed (inside a macro, the macro's line).
    line = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename == filename:
            line = lineno
    return line


# ---- compile-time refusals ----------------------------------------------------------------------------------------------

def _forbidden(tree: nodes.Template) -> tuple[int, str] | None:
    """Find the first tag or name no template may use, and say why."""
    found: list[tuple[int, str]] = []
    for node in _walk(tree):
        tag = _LOADING_TAGS.get(type(node))
        if tag is not None:
            found.append((node.lineno, f"not allowed in a template: {{% {tag} %}} (a template cannot load another)"))
        elif isinstance(node, nodes.Name) and node.name == "self" and node.ctx == "load":
            found.append((node.lineno, "not allowed in a template: 'self'"))
        elif isinstance(node, nodes.Filter) and node.name not in ENV.filters:
            # Jinja only checks filters under an {% if %} when they run: say it at once.
            found.append((node.lineno, f"there is no filter {node.name!r}"))
        elif isinstance(node, nodes.Test) and node.name not in ENV.tests:
            found.append((node.lineno, f"there is no test {node.name!r}"))
    return min(found, default=None)


def _walk(tree: nodes.Node) -> Iterator[nodes.Node]:
    """Yield every node of a template in document order, parents before children."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(list(node.iter_child_nodes())))


# ---- the save-time check against a sample ---------------------------------------------------------------------------------

def _static_problem(tree: nodes.Template, sample: Mapping[str, Any]) -> tuple[int, str] | None:
    """Find the first name or constant field path the sample lacks, with its line."""
    bound = Counter(node.name for node in tree.find_all(nodes.Name) if node.ctx in ("store", "param"))
    defined = set(bound) | {macro.name for macro in tree.find_all(nodes.Macro)} | set(ENV.globals)
    if any(True for _ in tree.find_all(nodes.For)):
        defined.add("loop")
    if any(True for _ in tree.find_all((nodes.Macro, nodes.CallBlock))):
        defined |= {"caller", "varargs", "kwargs"}
    # The shape of each name: the sample's, unless the template binds the name itself (then unknown), or binds it
    # exactly once from something whose shape is known ({% for s in services %}, {% set owner = incident.owner %}).
    shapes: dict[str, Any] = {key: value for key, value in sample.items() if key not in bound}
    for node in _walk(tree):
        if isinstance(node, nodes.For) and isinstance(node.target, nodes.Name) and bound[node.target.name] == 1 \
                and node.target.name not in sample:
            items = _shape(node.iter, shapes)
            if isinstance(items, (list, tuple)) and items:
                shapes[node.target.name] = items[0]
        elif isinstance(node, nodes.Assign) and isinstance(node.target, nodes.Name) \
                and bound[node.target.name] == 1 and node.target.name not in sample:
            value = _shape(node.node, shapes)
            if value is not _UNKNOWN:
                shapes[node.target.name] = value
        elif isinstance(node, nodes.Name) and node.ctx == "load" and node.name not in sample \
                and node.name not in defined:
            return node.lineno, f"{node.name!r} is not defined"
        elif isinstance(node, (nodes.Getattr, nodes.Getitem)):
            problem = _path_problem(node, shapes)
            if problem is not None:
                return node.lineno, problem
    return None


def _shape(node: nodes.Node, shapes: Mapping[str, Any]) -> Any:
    """Return the sample value an expression stands for, or _UNKNOWN."""
    if isinstance(node, nodes.Name):
        return shapes.get(node.name, _UNKNOWN)
    if isinstance(node, nodes.Const):
        return node.value
    if isinstance(node, nodes.Getattr):
        return _step(_shape(node.node, shapes), node.attr)
    if isinstance(node, nodes.Getitem):
        return _step(_shape(node.node, shapes), _key(node.arg))
    if isinstance(node, nodes.Filter) and node.node is not None:
        value = _shape(node.node, shapes)
        if node.name in _SAME_ELEMENTS:
            return value
        if node.name in ("first", "last") and isinstance(value, (list, tuple)) and value:
            return value[0] if node.name == "first" else value[-1]
    return _UNKNOWN


def _key(arg: nodes.Node) -> Any:
    if isinstance(arg, nodes.Const):
        return arg.value
    return _SLICE if isinstance(arg, nodes.Slice) else _UNKNOWN


def _step(value: Any, key: Any) -> Any:
    if key is _SLICE:
        return value if isinstance(value, (list, tuple, str)) else _UNKNOWN  # timeline[-5:] is still a timeline
    if isinstance(value, dict) and isinstance(key, str) and key in value and not hasattr(dict, key):
        return value[key]
    if isinstance(value, (list, tuple)) and value and (key is _UNKNOWN or isinstance(key, int)):
        # The sample's list stands for any list: an index past its end looks at its first element.
        return value[key] if isinstance(key, int) and -len(value) <= key < len(value) else value[0]
    return _UNKNOWN


def _path_problem(node: nodes.Getattr | nodes.Getitem, shapes: Mapping[str, Any]) -> str | None:
    """Say what is wrong with a chain like incident.owner.name or services[0].name, if the sample shows it."""
    steps: list[tuple[bool, Any]] = []  # (is an attribute, the name or constant key)
    root: nodes.Node = node
    while isinstance(root, (nodes.Getattr, nodes.Getitem)):
        if isinstance(root, nodes.Getattr):
            steps.append((True, root.attr))
        else:
            steps.append((False, _key(root.arg)))
        root = root.node
    value = _shape(root, shapes)
    path = root.name if isinstance(root, nodes.Name) else "the value"
    for is_attr, key in reversed(steps):
        if is_attr and key.startswith("__"):
            of = "" if value is _UNKNOWN else f" of {type(value).__name__!r} object"
            return f"not allowed in a template: access to attribute {key!r}{of}"
        if key is _SLICE:
            continue
        if value is _UNKNOWN or value is None or key is _UNKNOWN and not isinstance(value, (list, tuple)):
            return None  # nothing known to check against (None: the sample does not show the shape)
        if isinstance(value, dict):
            if key in value:
                value, path = value[key], f"{path}.{key}" if is_attr else f"{path}[{key!r}]"
                continue
            if is_attr and hasattr(dict, key) and not key.startswith("_"):
                return None  # a method: items(), get()
            return f"{path!r} has no field {key!r}"
        if isinstance(value, (list, tuple)):
            if isinstance(key, int) or key is _UNKNOWN:
                if not value:
                    return None
                value = _step(value, key)
                path = f"{path}[{key if isinstance(key, int) else '…'}]"
                continue
            if is_attr and hasattr(value, key) and not key.startswith("_"):
                return None
            return f"{path!r} is a list; it has no field {key!r}"
        if is_attr and not hasattr(value, key):
            return f"{path!r} is {sandbox.describe(value)}; it has no field {key!r}"
        return None  # a method of a text or number, or an index into a text
    return None


def _check_plain(context: Mapping[str, Any]) -> None:
    """Refuse (as a programming error) a context holding anything but plain data."""
    if type(context) is not dict and not isinstance(context, Mapping):
        raise TypeError(f"a template context is a mapping, not {type(context).__name__}")
    if not all(type(key) is str for key in context):
        raise TypeError("the names in a template context are texts")
    # Exact types: a dict subclass (defaultdict) or a str subclass could bring methods of its own into the sandbox.
    stack: list[Any] = list(context.values())
    while stack:
        value = stack.pop()
        if type(value) not in _PLAIN:
            raise TypeError(f"a template context holds only plain data, not {type(value).__name__}: {value!r:.80}")
        if type(value) is dict:
            stack.extend(value.keys())
            stack.extend(value.values())
        elif type(value) in (list, tuple):
            stack.extend(value)
