"""User-edited communication templates in the sandbox: known escapes and costly constructs are refused naming the
template, the line and the reason; save-time checks catch misspelt names and fields; normal templates render to
plain text; the time limit stops runaway loops and leaves the thread's trace function as it was."""
from __future__ import annotations

import sys
import time
import uuid
from collections import defaultdict
from datetime import datetime, timezone
from typing import Any

import pytest

from console.comms import render as render_module
from console.comms.render import (
    CompiledTemplate, Limits, TemplateRefused, check_template, compile_template, render, render_text,
)
from console.errors import InvalidInput

LONG = "a" * 5000
SAMPLE: dict[str, Any] = {
    "incident": {
        "ref": "INC-42", "title": "Checkout down", "severity": "SEV2", "status": "mitigating",
        "owner": {"name": "Ann Lee", "team": "Payments"},
        "services": [{"name": "checkout-api", "minutes": 65}, {"name": "payments", "minutes": 5}],
        "elapsed_seconds": 725, "notes": ["DB failover done", "Cache warmed"], "resolved_at": None,
    },
    "next_update": {"customers": "14:30 UTC", "executives": ""},
    "x": 1,
    "f": "abc",
    "s": LONG,
    "items": ["a", "b"],
}
HEADER = "Update on {{ incident.title }}\n"  # every escape below sits on line 2


def refusal(source: str, *, context: dict[str, Any] | None = None, limits: Limits = Limits(),
            name: str = "x") -> TemplateRefused:
    with pytest.raises(TemplateRefused) as caught:
        render_text(name=name, part="body", source=source, context=SAMPLE if context is None else context,
                    limits=limits)
    return caught.value


def _assert_leaks_nothing(message: str) -> None:
    for leak in ("<class", "<function", "<module", " at 0x", "Traceback", 'File "', "os.system", "subprocess"):
        assert leak not in message


ATTRIBUTE = "not allowed in a template: access to attribute"
ESCAPES = [
    ("{{ ''.__class__.__mro__[1].__subclasses__() }}", f"{ATTRIBUTE} '__class__' of 'str' object"),
    ("{{ ''.__class__ }}", f"{ATTRIBUTE} '__class__' of 'str' object"),
    ("{{ x.__init__.__globals__ }}", f"{ATTRIBUTE} '__init__' of 'int' object"),
    ("{{ cycler.__init__.__globals__.os }}", "'cycler' is not defined"),
    ("{{ joiner() }}", "'joiner' is not defined"),
    ("{{ lipsum.__globals__ }}", "'lipsum' is not defined"),
    ("{{ namespace }}", "'namespace' is not defined"),
    ("{% set ns = namespace(n=0) %}", "'namespace' is not defined"),
    ("{{ dict(a=1) }}", "'dict' is not defined"),
    ("{{ self.__dict__ }}", "not allowed in a template: 'self'"),
    ("{{ self._TemplateReference__context }}", "not allowed in a template: 'self'"),
    ("{{ ().__class__.__base__.__subclasses__() }}", f"{ATTRIBUTE} '__class__' of 'tuple' object"),
    ('{{ "{0.__class__}".format(1) }}', f"{ATTRIBUTE} '__class__' of 'int' object"),
    ('{{ "{0.__init__.__globals__}".format(f) }}', f"{ATTRIBUTE} '__init__' of 'str' object"),
    ('{{ "{.__globals__}".format(f) }}', "format() has no value for the field {}"),
    ('{{ "{title.__class__}".format_map(incident) }}', f"{ATTRIBUTE} '__class__' of 'str' object"),
    ("{% set y = incident.services.append(1) %}", f"{ATTRIBUTE} 'append' of 'list' object"),
    ("{{ incident.update({}) }}", f"{ATTRIBUTE} 'update' of 'dict' object"),
    ('{% include "/etc/passwd" %}', "not allowed in a template: {% include %} (a template cannot load another)"),
    ('{% import "os" as os %}', "not allowed in a template: {% import %} (a template cannot load another)"),
    ('{% from "os" import system %}',
     "not allowed in a template: {% from ... import %} (a template cannot load another)"),
    ('{% extends "base" %}', "not allowed in a template: {% extends %} (a template cannot load another)"),
    ("{{ config }}", "'config' is not defined"),
    ("{{ request }}", "'request' is not defined"),
    ("{{ range(10**9)|list }}", "range() of 1,000,000,000 numbers is over the limit of 10,000"),
    ('{{ "x" * 10**9 }}', "'*' would make a text of 1,000,000,000 characters (the limit is 65,536)"),
    ("{{ [1] * 10**9 }}", "'*' would make a list of 1,000,000,000 items (the limit is 65,536)"),
    ("{{ s * 13 + s }}", "'+' would make a text of 70,000 characters (the limit is 65,536)"),
    ("{% set big = s * 13 %}{{ big ~ big }}", "'~' would make a text of 130,000 characters (the limit is 65,536)"),
    ('{{ "x"|center(10**9) }}', "center width 1,000,000,000 is over the limit of 500"),
    ('{{ "x"|indent(10**9) }}', "indent width 1,000,000,000 is over the limit of 500"),
    ('{{ "x"|wordwrap(10**9) }}', "wordwrap width 1,000,000,000 is over the limit of 500"),
    ('{{ "ab"|replace("", "x"*60000) }}', "replace would make a text of 180,002 characters (the limit is 65,536)"),
    ("{{ 9**9**9 }}", "'**' would make a number over 128 bits, too large for a template"),
    ("{{ 9 ** (9 ** 9) }}", "'**' would make a number over 128 bits, too large for a template"),
    ("{{ 2.0 ** 100000 }}", "'**' made a number too large for a template"),
    ('{{ "%999999999s"|format(1) }}', "there is no filter 'format'"),
    ('{{ "%999999999s" % 1 }}', "'%' format width 999,999,999 is over the limit of 500"),
    ('{{ "%.999999999f" % 1 }}', "'%' format width 999,999,999 is over the limit of 500"),
    ('{{ "%*s" % (999999999, 1) }}', "'%' formatting with a '*' width is not allowed in a template"),
    ('{{ "{:999999999}".format(1) }}', "format width 999,999,999 is over the limit of 500"),
    ('{{ "{0:{1}}".format(1, 999999999) }}', "format width 999,999,999 is over the limit of 500"),
    ('{{ "x".ljust(10**9) }}', "ljust() would make a text of 1,000,000,000 characters (the limit is 65,536)"),
    ('{{ "x".zfill(10**9) }}', "zfill() would make a text of 1,000,000,000 characters (the limit is 65,536)"),
    ('{{ s.replace("a", s) }}', "replace() would make a text of 25,000,000 characters (the limit is 65,536)"),
    ('{{ ",".join([s] * 20) }}', "join() would make a text of 100,019 characters (the limit is 65,536)"),
    ("{{ ([s] * 20)|join }}", "join would make a text of over 65,536 characters"),
    ('{{ (1).to_bytes(10**9, "big") }}', "not allowed in a template: calling 'to_bytes' on a number"),
    ('{{ "ab".encode() }}', "not allowed in a template: calling 'encode' on a text"),
    ('{{ items|batch(10**9, "x")|list }}', "batch count 1,000,000,000 is over the limit of 10,000"),
    ("{{ items|slice(10**9)|list }}", "slice count 1,000,000,000 is over the limit of 10,000"),
    ("{{ items|sum(start=[]) }}", "sum adds numbers only"),
    ("{{ s|tojson(indent=100) }}", "tojson indent 100 is over the limit of 8"),
    ('{{ (" " * 2000)|list|map("trim")|map("default", s, true)|list }}',  # 2,000 times the same long text
     "a list too large to write out as text (over 65,536 characters)"),
]


@pytest.mark.parametrize(("attack", "reason"), ESCAPES, ids=[attack for attack, _ in ESCAPES])
def test_known_escapes_and_costly_constructs_are_refused_with_the_line_and_the_reason(attack: str,
                                                                                        reason: str) -> None:
    refused = refusal(HEADER + attack + "\n")
    assert str(refused) == f"template x (body), line 2: {reason}"
    assert (refused.template, refused.part, refused.line, refused.reason) == ("x", "body", 2, reason)
    _assert_leaks_nothing(str(refused))


def test_a_refusal_is_invalid_input_shown_to_the_user() -> None:
    refused = refusal("{{ 1 / 0 }}")
    assert isinstance(refused, InvalidInput)
    assert str(refused) == "template x (body), line 1: division by zero"


def test_nested_loops_over_a_long_text_are_stopped_by_the_time_limit() -> None:
    source = "{% for a in s %}{% for b in s %}{% for c in s %}{% endfor %}{% endfor %}{% endfor %}"
    start = time.monotonic()
    refused = refusal(source, name="loops")
    elapsed = time.monotonic() - start
    assert str(refused) == "template loops (body): the render ran longer than 0.5 s and was stopped"
    assert refused.line is None
    assert 0.5 <= elapsed < 3 * 0.5  # stopped soon after the limit (a loaded CI machine gets some slack)


def test_a_macro_fanning_out_is_stopped_by_the_time_limit_too() -> None:
    # Macro frames are the template's own code: traced like the root.
    source = "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}"
    start = time.monotonic()
    refused = refusal(source, limits=Limits(seconds=0.2))
    assert time.monotonic() - start < 2 * 0.2
    assert str(refused) == "template x (body): the render ran longer than 0.2 s and was stopped"


def test_a_filter_running_long_between_two_lines_of_the_template_is_stopped_too() -> None:
    # groupby sorts and groups in Jinja's own Python code, outside the template's frames: 60,000 items take seconds.
    start = time.monotonic()
    refused = refusal("{{ ((range(10000)|list) * 6)|groupby('real')|length }}", limits=Limits(seconds=0.1))
    assert time.monotonic() - start < 2 * 0.1
    assert str(refused) == "template x (body): the render ran longer than 0.1 s and was stopped"


def test_a_loop_writing_past_the_output_limit_is_stopped() -> None:
    refused = refusal('{% for i in range(10000) %}{{ "0123456789" }}{% endfor %}')
    assert str(refused) == "template x (body): the text grew past 64 KB and was stopped"
    small = refusal("{% for i in range(200) %}0123456789{% endfor %}", limits=Limits(max_chars=1000))
    assert str(small) == "template x (body): the text grew past 1,000 characters and was stopped"


def test_a_macro_or_set_block_building_past_the_limit_is_stopped_before_it_is_joined() -> None:
    macro = refusal("{% macro m() %}\n{% for i in range(10000) %}0123456789{% endfor %}\n{% endmacro %}\n{{ m() }}")
    # The line is the macro's own, where its text grew: where the writer has to look.
    assert str(macro) == ("template x (body), line 2: a macro or block would make a text of 100,000 characters"
                          " (the limit is 65,536)")
    block = refusal("{% set b %}{% for i in range(10000) %}0123456789{% endfor %}{% endset %}")
    assert str(block) == ("template x (body), line 1: a macro or block would make a text of 100,000 characters"
                          " (the limit is 65,536)")


@pytest.mark.parametrize("operator", ["~", "+"])
def test_doubling_a_text_in_a_recursive_macro_is_stopped_before_it_allocates(operator: str) -> None:
    source = (f"{{% macro g(t, n) %}}{{% if n %}}{{{{ g(t {operator} t, n - 1) }}}}{{% else %}}{{{{ t|length }}}}"
              "{% endif %}{% endmacro %}{{ g('ab', 40) }}")
    assert str(refusal(source)) == (f"template x (body), line 1: '{operator}' would make a text of 131,072 characters"
                                    " (the limit is 65,536)")


def test_many_values_each_under_the_limit_add_up_to_the_work_limit() -> None:
    # 10,000 upper-cased copies of a 5,000-character text: each fine, together 50 million characters.
    refused = refusal('{{ (" " * 10000)|list|map("trim")|map("default", s, true)|map("upper")|list|length }}')
    assert str(refused) == ("template x (body), line 1: the template built more than 4 MB of text along the way"
                            " and was stopped")


def test_a_recursive_macro_is_refused_not_a_crash() -> None:
    refused = refusal("Hello\n{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}")
    assert str(refused) == "template x (body), line 2: a macro calls itself too deeply and was stopped"
    assert render_text(name="x", part="body", source="still fine", context={}) == "still fine"


def test_a_syntax_error_is_refused_with_its_line() -> None:
    with pytest.raises(TemplateRefused) as caught:
        compile_template(name="x", part="body", source="Hello\n{{ incident.title }\n")
    assert str(caught.value) == "template x (body), line 2: syntax error: unexpected '}'"
    with pytest.raises(TemplateRefused) as unclosed:
        compile_template(name="x", part="subject", source="{% for s in items %}\n{{ s }}\n")
    assert unclosed.value.part == "subject"
    assert str(unclosed.value) == ("template x (subject), line 2: syntax error: unexpected end of template. Jinja was"
                                   " looking for the following tags: 'endfor' or 'else'. The innermost block that"
                                   " needs to be closed is 'for'")


@pytest.mark.parametrize("source", [
    "{% for a in items %}" * 25 + "{% endfor %}" * 25,  # Python allows 20 nested blocks
    "{{ " + "(" * 300 + "1" + ")" * 300 + " }}",
])
def test_a_template_nesting_too_deeply_is_refused(source: str) -> None:
    with pytest.raises(TemplateRefused) as caught:
        compile_template(name="x", part="body", source=source)
    assert str(caught.value) == "template x (body): the template nests blocks or brackets too deeply to compile"


def test_a_template_source_past_the_limit_is_refused() -> None:
    with pytest.raises(TemplateRefused) as caught:
        compile_template(name="x", part="body", source="x" * 70_000)
    assert str(caught.value) == "template x (body): the template is 70,000 characters long, over the limit of 65,536"


def test_an_unknown_filter_is_refused_at_compile_time_even_under_an_if() -> None:
    with pytest.raises(TemplateRefused) as caught:
        compile_template(name="x", part="body", source="{% if false %}\n{{ x|pprint }}\n{% endif %}")
    assert str(caught.value) == "template x (body), line 2: there is no filter 'pprint'"


def test_check_template_refuses_an_unknown_name_with_its_line() -> None:
    with pytest.raises(TemplateRefused) as caught:
        check_template(name="customer_update", part="body", source="Hi\n\n{{ incdent.title }}", sample=SAMPLE)
    assert str(caught.value) == "template customer_update (body), line 3: 'incdent' is not defined"


@pytest.mark.parametrize(("line", "reason"), [
    ("{{ incident.sevrity }}", "'incident' has no field 'sevrity'"),
    ('{{ incident["sevrity"] }}', "'incident' has no field 'sevrity'"),
    ("{{ incident.owner.nme }}", "'incident.owner' has no field 'nme'"),
    ("{{ next_update.customer }}", "'next_update' has no field 'customer'"),
    ("{{ incident.services[0].nme }}", "'incident.services[0]' has no field 'nme'"),
    ("{{ incident.services[7].nme }}", "'incident.services[7]' has no field 'nme'"),  # the first stands for all
    ("{{ incident.services.name }}", "'incident.services' is a list; it has no field 'name'"),
    ("{{ incident.title.words }}", "'incident.title' is a text; it has no field 'words'"),
    ("{% for svc in incident.services|sort(attribute='name') %}{{ svc.nme }}{% endfor %}",
     "'svc' has no field 'nme'"),
    ("{% set owner = incident.owner %}{{ owner.nme }}", "'owner' has no field 'nme'"),
    ("{{ incident.title|upper }} {{ incident.__class__ }}",
     "not allowed in a template: access to attribute '__class__' of 'dict' object"),
])
def test_check_template_refuses_a_field_the_sample_lacks_with_its_line(line: str, reason: str) -> None:
    source = "Hello {{ next_update.customers }}\n{{ incident.title }}\n\n" + line + "\n"
    with pytest.raises(TemplateRefused) as caught:
        check_template(name="customer_update", part="body", source=source, sample=SAMPLE)
    assert str(caught.value) == f"template customer_update (body), line 4: {reason}"


def test_check_template_checks_a_branch_the_sample_does_not_take() -> None:
    source = "{% if incident.resolved_at %}\nResolved at {{ incident.resolvd_at }}\n{% endif %}"
    with pytest.raises(TemplateRefused) as caught:
        check_template(name="x", part="body", source=source, sample=SAMPLE)
    assert str(caught.value) == "template x (body), line 2: 'incident' has no field 'resolvd_at'"


def test_check_template_renders_against_the_sample_to_catch_the_rest() -> None:
    # A key only known when the template runs: the render against the sample finds it, with the line.
    source = '{% set key = "sev" ~ "rity" %}\n{{ incident[key] }}'
    with pytest.raises(TemplateRefused) as caught:
        check_template(name="x", part="body", source=source, sample=SAMPLE)
    assert str(caught.value) == ("template x (body), line 2: there is no field 'sevrity' (the fields are:"
                                 " elapsed_seconds, notes, owner, ref, resolved_at, services, severity, status,"
                                 " title)")


def test_check_template_accepts_names_the_template_defines_itself() -> None:
    source = "\n".join([
        '{% set greeting = "Hello" %}',
        '{% macro row(svc, note="") %}{{ svc.name }}{{ note }}{% endmacro %}',
        "{% macro box() %}[{{ caller() }}]{% endmacro %}",
        "{% for s in incident.services %}{{ loop.index }}/{{ loop.length }}. {{ row(s, note=s.name) }}{% endfor %}",
        "{% with total = incident.services|length %}{{ total }}{% endwith %}",
        "{% for key, value in incident.owner|dictsort %}{{ key }}={{ value }} {% endfor %}",
        "{% call box() %}{{ greeting }}{% endcall %}",
        "{{ range(3)|join(',') }} {{ incident.services[1:]|length }} {{ incident.owner.get('name') }}",
    ])
    check_template(name="x", part="body", source=source, sample=SAMPLE)
    # trim_blocks: a newline right after a block tag is dropped, so the lines above run together.
    assert render_text(name="x", part="body", source=source, context=SAMPLE) == (
        "1/2. checkout-apicheckout-api2/2. paymentspayments2name=Ann Lee team=Payments [Hello]0,1,2 1 Ann Lee")


def test_an_unknown_name_at_render_time_is_named_with_its_line() -> None:
    context = {key: value for key, value in SAMPLE.items() if key != "next_update"}
    refused = refusal("Hello\n\n{{ next_update.customers }}", context=context)
    assert str(refused) == "template x (body), line 3: 'next_update' is not defined"
    inside_macro = refusal("{% macro m(i) %}\n{{ i.nme }}\n{% endmacro %}\n{{ m(incident.owner) }}")
    assert str(inside_macro) == "template x (body), line 2: there is no field 'nme' (the fields are: name, team)"


def test_other_errors_are_refused_with_a_short_reason_not_a_traceback() -> None:
    assert str(refusal("a\n{{ x + 'a' }}")) == \
        "template x (body), line 2: unsupported operand type(s) for +: 'int' and 'str'"
    assert str(refusal("{{ items[5] }}")) == "template x (body), line 1: there is no item 5 (the list has 2)"
    assert str(refusal("{{ 3|bullets }}")) == "template x (body), line 1: bullets needs a list, not '3'"


def test_a_normal_template_renders_plain_text_with_filters() -> None:
    source = "\n".join([
        "{{ incident.severity|lower }} · {{ incident.title|upper }}",
        '{% for s in incident.services|sort(attribute="name") %}',
        "{{ loop.index }}. {{ s.name|title }} down for {{ s.minutes|minutes }}",
        "{% endfor %}",
        'Owner: {{ incident.owner.name|default("unassigned") }} <{{ incident.owner.team }} & co>',
        "Elapsed: {{ incident.elapsed_seconds|mmss }} ({{ -190|mmss }}, {{ 0|minutes }}, {{ 125|minutes }})",
        "{{ incident.notes|bullets }}",
        'Services: {{ incident.services|map(attribute="name")|join(", ") }}',
        '{{ "A long sentence to cut short"|truncate(12) }} {{ "%-6s|" % "ok" }} {{ "{:>4}".format(7) }}',
        "{{ [1, 2] }} {{ ['a'] + ['b'] }} {{ '-' * 3 }} {{ 2 ** 10 }}",
        "",
    ])
    text = render_text(name="brief", part="body", source=source, context=SAMPLE)
    assert text == "\n".join([
        "sev2 · CHECKOUT DOWN",
        "1. Checkout-Api down for 1 h 05 min",
        "2. Payments down for 5 min",
        "Owner: Ann Lee <Payments & co>",  # plain text: nothing escaped
        "Elapsed: 12:05 (-3:10, 0 min, 2 h 05 min)",
        "• DB failover done",
        "• Cache warmed",
        "Services: checkout-api, payments",
        "A long... ok    |    7",
        "[1, 2] ['a', 'b'] --- 1024",
        "",  # the trailing newline is kept
    ])
    check_template(name="brief", part="body", source=source, sample=SAMPLE)


def test_the_previous_trace_function_is_restored_and_chained_to() -> None:
    seen: list[str] = []

    def tracer(frame: Any, event: str, arg: Any) -> None:
        seen.append(frame.f_code.co_filename)

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        assert render_text(name="traced", part="body", source="{{ x }}", context=SAMPLE) == "1"
        assert sys.gettrace() is tracer
        with pytest.raises(TemplateRefused):
            render_text(name="traced", part="body", source="{{ 1 / 0 }}", context=SAMPLE)
        assert sys.gettrace() is tracer
        with pytest.raises(TemplateRefused):
            render_text(name="traced", part="body", context=SAMPLE, limits=Limits(seconds=0.05),
                        source="{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}")
        assert sys.gettrace() is tracer
    finally:
        sys.settrace(previous)
    assert "<template traced:body>" in seen  # it kept seeing calls, the template's frames included


def test_no_trace_function_is_left_behind() -> None:
    previous = sys.gettrace()
    render_text(name="x", part="body", source="{{ x }}", context=SAMPLE)
    refusal("{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}", limits=Limits(seconds=0.05))
    assert sys.gettrace() is previous


def test_rendering_the_same_template_twice_compiles_it_once(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled: list[str] = []
    real = render_module.compile_template

    def counting(*, name: str, part: str, source: str) -> CompiledTemplate:
        compiled.append(source)
        return real(name=name, part=part, source=source)

    monkeypatch.setattr(render_module, "compile_template", counting)
    source = f"{{{{ incident.ref }}}} {uuid.uuid4()}"
    first = render_text(name="cached", part="subject", source=source, context=SAMPLE)
    second = render_text(name="cached", part="subject", source=source, context=SAMPLE)
    assert first == second and first.startswith("INC-42 ")
    assert compiled == [source]
    render_text(name="cached", part="subject", source=source + "!", context=SAMPLE)  # edited: compiled again
    assert compiled == [source, source + "!"]


def test_compile_and_render_separately() -> None:
    template = compile_template(name="x", part="subject", source="[{{ incident.severity }}] {{ incident.title }}")
    assert render(template=template, context=SAMPLE) == "[SEV2] Checkout down"
    assert render(template=template, context={"incident": {"severity": "SEV1", "title": "API"}}) == "[SEV1] API"


def test_the_context_must_be_plain_data() -> None:
    template = compile_template(name="x", part="body", source="{{ at }}")
    with pytest.raises(TypeError, match="plain data, not datetime"):
        render(template=template, context={"at": datetime(2026, 1, 1, tzinfo=timezone.utc)})
    with pytest.raises(TypeError, match="plain data, not defaultdict"):
        render(template=template, context={"at": defaultdict(list)})
    with pytest.raises(TypeError, match="plain data, not set"):
        render(template=template, context={"at": [{"tags": {"a"}}]})
    with pytest.raises(TypeError, match="names in a template context are texts"):
        render(template=template, context={1: "one"})


def test_a_part_is_subject_or_body_and_limits_are_positive() -> None:
    with pytest.raises(InvalidInput, match="'subject' or 'body'"):
        compile_template(name="x", part="footer", source="")
    with pytest.raises(InvalidInput):
        Limits(seconds=0)
