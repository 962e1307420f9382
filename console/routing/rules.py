"""The rule engine: samples in, severity decisions out, each with a reason anyone can read.

`RuleEngine.observe` takes one sample and returns the decisions it caused (usually none). Rules are indexed
by (service, metric, tier) on first sight, so a sample meets only the rules that concern it.

Flap control. A rule fires once when its condition becomes true for a service (after holding for the rule's
`sustain`, if it has one). It fires again only after the condition has been false for the rule's
`clear_after`: a false spell shorter than that (a metric hovering around its threshold) is taken as part of
the same episode and produces no new decision. The condition is taken to keep its value between samples,
so a false spell lasts from the first sample it was false at to the next sample it is true at.

Qualitative reports (sentiment, business impact) are per account: a matching report fires, and stays in force
(no new decision for repeats) until a non-matching report for the same account supersedes it or the rule's
`hold` passes without a new matching report.

History. A series' "now" is its newest sample, so a stream that goes quiet keeps its last state until it
speaks again. A window with less history than its length (a console just started) is used as it is, like
Prometheus' range functions, and the reason says how much data it had; two exceptions wait for history: a
burn rate needs its short window full (else both windows would say the same thing), and "min above" or
"max below" needs its whole window (it claims every sample of it).
"""
from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType

from console.errors import InvalidInput
from console.routing._checks import Check, make_check
from console.routing.definitions import Policy, Rule
from console.routing.vocabulary import Action, Metric, RuleKind, duration_token
from console.routing.windows import Series
from models.enums import Severity

__all__ = ["Decision", "RuleEngine", "Sample", "apply_person_floor"]

_NO_ATTRIBUTES: Mapping[str, str] = MappingProxyType({})
_PRUNE_AT = 1024  # accounts with a qualitative report in force, per rule and service, before expired ones go


@dataclass(frozen=True, slots=True)
class Sample:
    """One observation of one metric of one service. Qualitative inputs carry their meaning in attributes."""

    service: str
    tier: str
    metric: str
    value: float
    at: datetime
    attributes: Mapping[str, str] = field(default_factory=lambda: _NO_ATTRIBUTES, hash=False)

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise InvalidInput(f"sample of {self.service} {self.metric}: time {self.at} has no time zone")
        if not math.isfinite(self.value):
            # One NaN would poison a window's running sum for as long as it stays in the window.
            raise InvalidInput(f"sample of {self.service} {self.metric}: value {self.value} is not a finite number")


@dataclass(frozen=True, slots=True)
class Decision:
    """What a rule concluded, and why: the rule, the inputs, the thresholds and the policy version."""

    rule_id: str
    severity: Severity
    action: Action
    service: str
    reason: str
    inputs: Mapping[str, float | str] = field(hash=False)
    thresholds: Mapping[str, float | str] = field(hash=False)
    policy_version: str
    at: datetime


def apply_person_floor(*, automated: Severity, set_by_person: Severity | None) -> Severity:
    """Return the severity to apply: automation may raise above what a person set, never lower it."""
    if set_by_person is None:
        return automated
    return automated if automated.rank < set_by_person.rank else set_by_person


class _Episode:
    """Where one rule stands for one service: since when true or false, and whether this episode has fired."""

    __slots__ = ("false_since", "fired", "true_since")

    def __init__(self) -> None:
        self.true_since: float | None = None
        self.false_since: float | None = None
        self.fired = False

    def step(self, *, now: float, holds: bool, sustain: float, clear_after: float) -> bool:
        """Advance to a new evaluation; return True when the rule fires now."""
        if not holds:
            if self.false_since is None:
                self.false_since, self.true_since = now, None
            return False
        if self.false_since is not None:
            if self.fired and now - self.false_since >= clear_after:
                self.fired = False  # false long enough: the next true is a new episode
            self.false_since, self.true_since = None, now
        elif self.true_since is None:
            self.true_since = now
        if self.fired or now - self.true_since < sustain:
            return False
        self.fired = True
        return True


class _Route:
    """The rules one (service, metric, tier) meets, with their state."""

    __slots__ = ("checks", "reports", "series")

    def __init__(self) -> None:
        self.series: Series | None = None
        self.checks: list[tuple[Check, _Episode]] = []
        self.reports: list[tuple[Rule, dict[str, float]]] = []  # account -> in force until


class RuleEngine:
    """Evaluate a policy's rules against a stream of samples."""

    def __init__(self, *, policy: Policy, instance_id: str | None = None) -> None:
        self.policy = policy
        # Who holds these windows: where several processes route, one of them judges the samples written into
        # the database (console/commands/routing.py leases that job), and the lease names the engine.
        self.instance_id = instance_id or uuid.uuid4().hex
        self._by_metric: dict[str, list[Rule]] = {}
        for rule in policy.rules:
            self._by_metric.setdefault(rule.metric.value, []).append(rule)
        self._routes: dict[tuple[str, str, str], _Route] = {}
        self._series: dict[tuple[str, str], Series] = {}
        self._episodes: dict[tuple[str, str], _Episode] = {}  # (rule id, service)
        self._reports: dict[tuple[str, str], dict[str, float]] = {}
        # While a transaction acts on the decisions: how each episode and report was before it changed.
        self._journal: list[tuple[object, object]] | None = None

    def begin(self) -> None:
        """Start remembering changes to the rules' state, so that `rollback` can undo them."""
        self._journal = []

    def mark(self) -> int:
        """Return a point to roll back to (a savepoint inside the transaction)."""
        return len(self._journal) if self._journal is not None else 0

    def rollback(self, *, to: int = 0) -> None:
        """Undo what the rules decided since `begin` (or `mark`): the transaction that acted on it failed.

        Episodes and reports go back as they were, so a rule that fired fires again when the sender retries;
        the samples stay (they were observed) and are not counted twice (see Series.add).
        """
        journal = self._journal or []
        while len(journal) > to:
            target, before = journal.pop()
            if isinstance(target, _Episode):
                target.true_since, target.false_since, target.fired = before  # type: ignore[misc]
            else:
                target.clear()  # type: ignore[attr-defined]
                target.update(before)  # type: ignore[attr-defined]
        if to == 0:
            self._journal = None

    def commit(self) -> None:
        """Forget the journal: the transaction that acted on the decisions committed."""
        self._journal = None

    def observe(self, *, sample: Sample) -> list[Decision]:
        """Take one sample; return the decisions of the rules it made fire (usually none)."""
        route = self._routes.get((sample.service, sample.metric, sample.tier))
        if route is None:
            route = self._route(service=sample.service, metric=sample.metric, tier=sample.tier)
        decisions: list[Decision] = []
        series = route.series
        if series is not None:
            at = sample.at.timestamp()
            if not series.add(at=at, value=sample.value):
                return decisions
            now = series.times[-1]
            journal = self._journal
            for check, episode in route.checks:
                if journal is not None:
                    journal.append((episode, (episode.true_since, episode.false_since, episode.fired)))
                if not check.holds():
                    if episode.false_since is None:  # the common case, inlined: most rules are quiet most of the time
                        episode.false_since, episode.true_since = now, None
                    continue
                if episode.step(now=now, holds=True, sustain=check.sustain, clear_after=check.clear_after):
                    when = sample.at if now == at else datetime.fromtimestamp(now, tz=UTC)
                    sustained = now - (episode.true_since or now)
                    facts, inputs, thresholds = check.explain(service=sample.service, sustained=sustained)
                    decisions.append(self._decide(rule=check.rule, service=sample.service, facts=facts,
                                                  inputs=inputs, thresholds=thresholds, at=when))
        if route.reports:
            self._report(route=route, sample=sample, decisions=decisions)
        return decisions

    def active_rules(self, *, service: str) -> tuple[str, ...]:
        """Return the ids of the numeric rules that fired for the service and still held at its latest sample."""
        return tuple(sorted(rule_id for (rule_id, name), episode in self._episodes.items()
                            if name == service and episode.fired and episode.false_since is None))

    def _route(self, *, service: str, metric: str, tier: str) -> _Route:
        route = self._routes[service, metric, tier] = _Route()
        for rule in self._by_metric.get(metric, ()):
            if not rule.applies_to(service=service, tier=tier):
                continue
            if rule.kind is RuleKind.QUALITATIVE:
                route.reports.append((rule, self._reports.setdefault((rule.id, service), {})))
                continue
            if route.series is None:
                route.series = self._series.setdefault((service, metric), Series())
            route.checks.append((make_check(rule=rule, series=route.series),
                                 self._episodes.setdefault((rule.id, service), _Episode())))
        return route

    def _report(self, *, route: _Route, sample: Sample, decisions: list[Decision]) -> None:
        attributes = sample.attributes
        account = attributes.get("account", "")
        at = sample.at.timestamp()
        for rule, in_force in route.reports:
            if self._journal is not None:
                self._journal.append((in_force, dict(in_force)))
            matches = all(str(attributes.get(key, "")).strip().lower() in wanted for key, wanted in rule.match.items())
            until = in_force.get(account)
            if not matches:
                in_force.pop(account, None)
                continue
            if until is None or at > until:
                decisions.append(self._decide(
                    rule=rule, service=sample.service, facts=_report_facts(rule=rule, sample=sample),
                    inputs=dict(attributes),
                    thresholds={**{k: "|".join(v) for k, v in rule.match.items()},
                                "hold": duration_token(seconds=rule.hold_seconds)},
                    at=sample.at))
            in_force[account] = max(until or at, at + rule.hold_seconds)
            if len(in_force) > _PRUNE_AT:
                for stale in [name for name, end in in_force.items() if end < at]:
                    del in_force[stale]

    def _decide(self, *, rule: Rule, service: str, facts: str, inputs: Mapping[str, float | str],
                thresholds: Mapping[str, float | str], at: datetime) -> Decision:
        verb = {Action.PAGE: f"page {rule.severity}", Action.TICKET: f"open a {rule.severity} ticket",
                Action.RAISE: f"raise to at least {rule.severity}"}[rule.action]
        reason = f"{facts} — {verb} (rule {rule.id}, policy {self.policy.version})"
        return Decision(rule_id=rule.id, severity=rule.severity, action=rule.action, service=service, reason=reason,
                        inputs=MappingProxyType(dict(inputs)), thresholds=MappingProxyType(dict(thresholds)),
                        policy_version=self.policy.version, at=at)


def _report_facts(*, rule: Rule, sample: Sample) -> str:
    attributes = sample.attributes
    value = attributes.get("value", "").strip().lower() or "a"
    account = attributes.get("account", "").strip()
    if rule.metric is Metric.SENTIMENT:
        strategic = attributes.get("strategic", "").strip().lower() == "true"
        who = f"{'Strategic account' if strategic else 'Account'} {account}" if account else "Customer success"
        facts = f"{who} reports {value} sentiment about {sample.service}"
    else:
        facts = f"Product reports {value} impact on {sample.service}" + (f" for account {account}" if account else "")
    why = rule.description.rstrip(".")
    if len(why) > 1 and why[1].islower():
        why = why[0].lower() + why[1:]  # it continues the sentence; keep acronyms such as "SLA" as written
    return f"{facts}: {why}"
