"""Check a parsed impact policy field by field and build its frozen values. Private to console/routing.

Every check names the line: unknown keys, wrong types, ranges, unknown metrics and severities, burn-rate
windows that are not a (long, short) pair, repeated ids and names, and a severity level missing.
"""
from __future__ import annotations

import itertools
import re
from types import MappingProxyType
from typing import Any

from console.routing._channels import level_channels, parse_channels
from console.routing._reader import Node, Source, allowed, show
from console.routing.definitions import EVERY_SERVICE, Fatigue, Policy, Rule, SeverityLevel
from console.routing.vocabulary import (
    QUALITATIVE_VALUES,
    Action,
    Aggregate,
    Audience,
    Comparison,
    Metric,
    Recipient,
    RuleKind,
)
from models.enums import ServiceTier, Severity

MINUTE, DAY = 60, 86400
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")
_RULE_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")  # template names and attribute names
_SERVICE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")

_TOP = ("version", "description", "clear_after", "severity", "rules", "fatigue", "channels")
_FATIGUE = ("max_pages_per_shift", "max_night_pages_per_shift", "night")
_NIGHT = re.compile(r"([01]\d|2[0-3]):00-([01]\d|2[0-3]):00")
_LEVEL = ("name", "description", "ack_minutes", "page", "inform", "templates", "updates", "channels")
_COMMON = ("id", "description", "kind", "metric", "services", "tiers", "severity", "action")
_BY_KIND = {
    RuleKind.THRESHOLD: ("aggregate", "window", "comparison", "threshold", "sustain", "clear_after"),
    RuleKind.BURN_RATE: ("slo", "windows", "comparison", "threshold", "clear_after"),
    RuleKind.RATE_OF_CHANGE: ("window", "comparison", "threshold", "sustain", "clear_after"),
    RuleKind.QUALITATIVE: ("match", "hold"),
}
_KIND_KEYS = sorted({key for keys in _BY_KIND.values() for key in keys})


def parse_policy(*, name: str, text: str, raw: dict[str, Any], digest: str) -> Policy:
    """Build a Policy from parsed TOML, or raise InvalidInput with the file, line and reason."""
    top = Node(source=Source(name=name, text=text), path=(), data=raw)
    top.allow(_TOP)
    version = top.text("version", limit=64)
    if not _VERSION.fullmatch(version):
        top.fail("version", f"{show(version)} is not a version: letters, digits and . _ + - only")
    clear_after = top.duration("clear_after", minimum=0, maximum=DAY, default=10 * MINUTE)
    channels = parse_channels(top)
    levels = _levels(top.table("severity"), channels)
    rule_nodes = top.tables("rules")
    if not rule_nodes:
        top.fail("rules", "the policy has no rules; add at least one [[rules]] table")
    rules, seen = [], {}
    for index, node in enumerate(rule_nodes):
        rule = _rule(node, clear_after)
        if rule.id in seen:
            node.fail("id", f"{show(rule.id)} is already used by rules[{seen[rule.id]}]")
        seen[rule.id] = index
        rules.append(rule)
    fatigue = _fatigue(top.table("fatigue")) if top.has("fatigue") else Fatigue()
    return Policy(version=version, description=top.text("description", default=""), digest=digest,
                  source=name, levels=levels, rules=tuple(rules), fatigue=fatigue,
                  channels=MappingProxyType(channels))


def _fatigue(node: Node) -> Fatigue:
    node.allow(_FATIGUE)
    default = Fatigue()
    night = node.text("night", default=f"{default.night_starts_hour:02}:00-{default.night_ends_hour:02}:00")
    if not (found := _NIGHT.fullmatch(night)) or found.group(1) == found.group(2):
        node.fail("night", f"{show(night)} is not a night: whole hours written HH:00-HH:00, e.g. \"22:00-07:00\"")
    pages = node.integer("max_pages_per_shift", minimum=1, maximum=1000, default=default.max_pages_per_shift)
    nights = node.integer("max_night_pages_per_shift", minimum=0, maximum=pages,
                          default=default.max_night_pages_per_shift)
    return Fatigue(max_pages_per_shift=pages, max_night_pages_per_shift=nights,
                   night_starts_hour=int(found.group(1)), night_ends_hour=int(found.group(2)))


def _levels(table: Node, channels: dict[str, Any]) -> tuple[SeverityLevel, ...]:
    for key in table.data:
        table.member(key, Severity, key)
    missing = [s.value for s in Severity if s.value not in table.data]
    if missing:
        table.fail((), f"the taxonomy has no level {', '.join(missing)}; add [severity.{missing[0]}]")
    levels = tuple(_level(table.table(s.value), s, channels) for s in Severity)
    for more, less in itertools.pairwise(levels):
        node = table.table(less.severity.value)
        if less.ack_minutes < more.ack_minutes:
            node.fail("ack_minutes", f"{less.ack_minutes} is quicker than {more.severity}'s {more.ack_minutes}: "
                                     "a less severe level must not demand a faster acknowledgement")
        for audience, minutes in less.updates.items():
            theirs = more.updates.get(audience)
            if theirs is None or theirs > minutes:
                node.fail(("updates", audience.value),
                          f"{audience} hear every {minutes} min at {less.severity} but "
                          f"{'never' if theirs is None else f'every {theirs} min'} at {more.severity}: "
                          "a more severe level must update each audience at least as often")
    return levels


def _level(node: Node, severity: Severity, channels: dict[str, Any]) -> SeverityLevel:
    node.allow(_LEVEL)
    page, inform = node.choices("page", Recipient), node.choices("inform", Recipient)
    for index, recipient in enumerate(inform):
        if recipient in page:
            node.fail(("inform", index), f"{show(recipient.value)} is already paged at this level")
    templates = node.texts("templates")
    for index, template in enumerate(templates):
        if not _NAME.fullmatch(template):
            node.fail(("templates", index), f"{show(template)} is not a template name: lower-case letters, "
                                            "digits and _ only")
    updates = node.table("updates")
    cadence = {}
    for key in updates.data:
        cadence[updates.member(key, Audience, key)] = updates.integer(key, minimum=1, maximum=7 * 24 * 60)
    return SeverityLevel(
        severity=severity, name=node.text("name", limit=40), description=node.text("description"),
        ack_minutes=node.integer("ack_minutes", minimum=1, maximum=DAY // MINUTE), page=page, inform=inform,
        templates=templates, updates=MappingProxyType(cadence), channels=level_channels(node, channels),
    )


def _rule(node: Node, clear_after: int) -> Rule:
    kind = node.choice("kind", RuleKind)
    owners = {key: ", ".join(k for k, keys in _BY_KIND.items() if key in keys) for key in _KIND_KEYS}
    elsewhere = {key: f"does not apply to a {kind} rule (only to {owners[key]})"
                 for key in _KIND_KEYS if key not in _BY_KIND[kind]}
    node.allow(_COMMON + _BY_KIND[kind], elsewhere=elsewhere)
    rule_id = node.text("id", limit=64)
    if not _RULE_ID.fullmatch(rule_id):
        node.fail("id", f"{show(rule_id)} is not a rule id: lower-case letters, digits and - only")
    metric = node.choice("metric", Metric)
    if metric.qualitative != (kind is RuleKind.QUALITATIVE):
        wanted = "a qualitative metric (sentiment, business_impact)" if kind is RuleKind.QUALITATIVE else \
            "a numeric metric, not a qualitative one"
        node.fail("metric", f"a {kind} rule needs {wanted}, got {show(metric.value)}")
    if kind is RuleKind.BURN_RATE and metric is not Metric.ERROR_RATE:
        node.fail("metric", f"a burn_rate rule measures error_rate against its SLO, got {show(metric.value)}")
    severity, action = node.choice("severity", Severity), node.choice("action", Action)
    if action is Action.TICKET and severity in (Severity.SEV1, Severity.SEV2):
        node.fail("action", f"a {severity} needs a page or a raise: a ticket waits for working hours")
    common = dict(id=rule_id, description=node.text("description"), kind=kind, metric=metric, severity=severity,
                  action=action, **_scope(node))
    if kind is RuleKind.QUALITATIVE:
        return Rule(**common, match=_match(node, metric),
                    hold_seconds=node.duration("hold", minimum=MINUTE, maximum=30 * DAY, default=DAY))
    comparison = node.choice("comparison", Comparison)
    clear = node.duration("clear_after", minimum=0, maximum=DAY, default=clear_after)
    if kind is RuleKind.BURN_RATE:
        if comparison not in (Comparison.GT, Comparison.GE):
            node.fail("comparison", f"a burn rate pages when the budget burns faster: use > or >=, "
                                    f"got {show(comparison.value)}")
        slo = node.number("slo", minimum=50.0, below=100.0)
        most = 100.0 / (100.0 - slo)
        threshold = node.number("threshold", above=0.0, maximum=most)
        return Rule(**common, windows=_pair(node), comparison=comparison, threshold=threshold, slo_percent=slo,
                    clear_after_seconds=clear)
    window = node.duration("window", minimum=MINUTE, maximum=30 * DAY)
    sustain = node.duration("sustain", minimum=0, maximum=DAY, default=0)
    if kind is RuleKind.RATE_OF_CHANGE:
        threshold = node.number("threshold", minimum=-100.0, maximum=100_000.0)
        if threshold == 0:
            node.fail("threshold", "a change of 0% is no change: give the percentage that matters, e.g. 50")
        return Rule(**common, windows=(window,), comparison=comparison, threshold=threshold,
                    sustain_seconds=sustain, clear_after_seconds=clear)
    aggregate = node.choice("aggregate", Aggregate)
    if aggregate in (Aggregate.SUM, Aggregate.COUNT) and not metric.additive:
        node.fail("aggregate", f"{show(aggregate.value)} of {metric} means nothing; use mean, max or min")
    if metric.percent and aggregate not in (Aggregate.SUM, Aggregate.COUNT):
        threshold = node.number("threshold", minimum=0.0, maximum=100.0)
    else:
        threshold = node.number("threshold", minimum=0.0, maximum=1e9)
    return Rule(**common, windows=(window,), aggregate=aggregate, comparison=comparison, threshold=threshold,
                sustain_seconds=sustain, clear_after_seconds=clear)


def _scope(node: Node) -> dict[str, Any]:
    if node.has("services") == node.has("tiers"):
        problem = "give services or tiers, not both" if node.has("tiers") else \
            'is required: give services (a list of names, or "*" for every service) or tiers'
        node.fail("services", problem)
    if node.has("tiers"):
        tiers = node.choices("tiers", ServiceTier)
        if not tiers:
            node.fail("tiers", f"names no tier; use some of {allowed(ServiceTier)}")
        return {"tiers": tiers}
    if node.data["services"] == EVERY_SERVICE:
        return {"services": (EVERY_SERVICE,)}
    node.get("services", None, (list,), 'a list of service names, or "*" for every service')
    names = node.texts("services")
    if not names:
        node.fail("services", 'names no service; write "*" for every service')
    for index, service in enumerate(names):
        if service == EVERY_SERVICE:
            node.fail(("services", index), 'write services = "*" (not a list) for every service')
        if not _SERVICE.fullmatch(service):
            node.fail(("services", index), f"{show(service)} is not a service name")
    return {"services": names}


def _pair(node: Node) -> tuple[int, int]:
    windows = node.get("windows", None, (list,), 'a pair of durations [long, short], e.g. ["1h", "5m"]')
    if len(windows) != 2:
        node.fail("windows", f'expected a pair of durations [long, short], e.g. ["1h", "5m"], '
                             f"got {len(windows)} item{'s' if len(windows) != 1 else ''}")
    seconds = []
    for index, value in enumerate(windows):
        if not isinstance(value, str):
            node.fail(("windows", index), f'expected a duration such as "5m", "1h" or "3d", got {show(value)}')
        seconds.append(node.duration_value(("windows", index), value, minimum=MINUTE, maximum=30 * DAY))
    if seconds[0] <= seconds[1]:
        node.fail("windows", f"the long window {show(windows[0])} must be longer than the short one "
                             f"{show(windows[1])}: write [long, short]")
    return seconds[0], seconds[1]


def _match(node: Node, metric: Metric) -> MappingProxyType[str, tuple[str, ...]]:
    table = node.table("match")
    if not table.data:
        node.fail("match", "needs at least one attribute to match, e.g. { value = \"negative\" }")
    known = QUALITATIVE_VALUES[metric]
    match = {}
    for key, value in table.data.items():
        if not _NAME.fullmatch(key):
            table.fail(key, "is not an attribute name: lower-case letters, digits and _ only")
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list) or not values or not all(isinstance(v, str) and v.strip() for v in values):
            table.fail(key, f"expected text or a list of text, got {show(value)}")
        cleaned = tuple(v.strip().lower() for v in values)
        for text in cleaned:
            if key in known and text not in known[key]:
                table.fail(key, f"{show(text)} is not a {metric} {key}: use {', '.join(known[key])}")
        match[key] = cleaned
    return MappingProxyType(match)
