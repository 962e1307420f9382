"""Plain-language explanations for the incident panel: why this severity, why these people, where the escalation
stands. Pure functions from the detail DTO to text or small HTML, so they are tested without a window."""
from __future__ import annotations

import json
from datetime import datetime
from html import escape

from console.dto import DecisionItem, IncidentDetail, LadderStep, PageItem
from ui.timefmt import format_countdown, local_time

_HOW = {
    "escalation": "escalation", "dependency": "depends on it", "executive": "executive", "manual": "by hand",
    "on_call": "owner on call", "team_lead": "team lead", "commanders": "commander", "support": "support",
    "customer_success": "customer success",
}
_STATE = {"paged": "paged", "skipped": "skipped: nobody available", "next": "next", "later": "later",
          "not reached": "not reached"}


def how_engaged(page: PageItem) -> str:
    """Return how a person was engaged: 'Paged · tier 2', 'Told · support'."""
    verb = "Paged" if page.urgent else "Told"
    detail = f"step {page.step}" if page.reason == "escalation" and page.step else _HOW.get(page.reason, page.reason)
    return f"{verb} · {detail}"


def severity_line(detail: IncidentDetail) -> str:
    """Return one line saying why the incident has its severity, latest decision first."""
    found = detail.severity_decisions
    severity = detail.row.severity.value
    if not found:
        opener = next((t for t in detail.timeline if t.kind.value == "opened"), None)
        who = opener.actor if opener else "someone"
        return f"{severity}: declared by {who}" if who != "system" else f"{severity}: set when it opened"
    latest = found[-1]
    return latest.summary if latest.summary.startswith(severity) or latest.by else f"{severity}: {latest.summary}"


def engaged_line(detail: IncidentDetail) -> str:
    """Return 'N paged · M told', with who is past the fatigue limit."""
    paged = {p.person for p in detail.pages if p.urgent}
    told = {p.person for p in detail.pages if not p.urgent} - paged
    text = f"{len(paged)} paged · {len(told)} told" if detail.pages else "nobody engaged yet"
    tired = detail.over_limit
    if tired:
        text += " — ⚠ " + "; ".join(f"{p.person}: {p.fatigue}" for p in tired)
    return text


def _facts(decision: DecisionItem) -> str:
    """Return a decision's inputs and thresholds as 'value 92.0 · threshold < 99.0', or ''."""
    parts = []
    for label, text in (("inputs", decision.inputs), ("thresholds", decision.thresholds)):
        try:
            values = json.loads(text or "{}")
        except ValueError:
            continue
        if isinstance(values, dict) and values:
            shown = ", ".join(f"{k} {v}" for k, v in sorted(values.items()) if k not in ("person_id",))
            if shown:
                parts.append(f"{label}: {shown}")
    return " · ".join(parts)


def _decision_html(decision: DecisionItem) -> str:
    who = f"by {escape(decision.by)}" if decision.by else "automation"
    rule = f"rule <b>{escape(decision.rule_id)}</b>" if decision.rule_id not in ("", "manual", "opened") else ""
    version = f"policy {escape(decision.policy_version)}" if decision.policy_version not in ("", "manual") else ""
    meta = " · ".join(x for x in (local_time(decision.at), who, rule, version) if x)
    # The rule's inputs and thresholds are the evidence for a severity; for who was engaged the sentence says it.
    facts = _facts(decision) if decision.kind in ("severity", "override") else ""
    facts_html = f"<br><span style='color:#8a94a6'>{escape(facts)}</span>" if facts else ""
    return f"<p style='margin:2px 0 8px 0'>{escape(decision.summary)}<br>" \
           f"<span style='color:#8a94a6'>{meta}</span>{facts_html}</p>"


def why_html(detail: IncidentDetail) -> str:
    """Return the Why tab: the severity's reasons, then who was engaged and why, then grouping and escalation."""
    severity = detail.severity_decisions
    # Who was paged by the escalation policy, and when it stopped, is part of why these people.
    people = [d for d in detail.decisions if d.kind in ("routing", "escalation") or d.rule_id == "stop-escalation"]
    grouping = [d for d in detail.decisions if d.kind == "grouping" or d.rule_id == "ungroup"]
    sections = [
        (f"Why {detail.row.severity.value}", severity, severity_line(detail)),
        ("Why these people", people, "Nobody was engaged automatically."),
        ("Grouping", grouping, ""),
    ]
    html = []
    for title, items, empty in sections:
        if not items and not empty:
            continue
        html.append(f"<h4 style='margin:6px 0 2px 0'>{escape(title)}</h4>")
        if items:
            html.extend(_decision_html(d) for d in reversed(items))  # newest first: what holds now
        else:
            html.append(f"<p>{escape(empty)}</p>")
    return "".join(html)


def not_escalating(detail: IncidentDetail) -> str:
    """Say why an incident has no escalation running: its service has no policy, or its level wakes nobody."""
    if detail.escalation_policy:
        return (f"{detail.escalation_policy} has not started: {detail.row.severity.value} wakes nobody. Raise the "
                f"severity, or escalate now (E), to page its tiers.")
    return "This service has no escalation policy: nobody is paged tier by tier."


def ladder_html(detail: IncidentDetail, *, now: datetime | None) -> str:
    """Return the Escalation tab: every step with who was paged, when, answered or not, and the next countdown."""
    info = detail.escalation
    if info is None:
        return f"<p>{escape(not_escalating(detail))}</p>"
    if info.running and info.next_due_at is not None and now is not None:
        left = (info.next_due_at - now).total_seconds()
        head = f"Next: {escape(info.next_tier)} in <b>{format_countdown(left)}</b>" if left > 0 else \
            f"Next: {escape(info.next_tier)} <b>now</b>"
    elif info.running:
        head = f"Next: {escape(info.next_tier)}"
    else:
        head = f"Stopped — {escape(info.stop_reason)}"
    rows = "".join(_ladder_row(step) for step in info.ladder)
    return (f"<p><b>{escape(info.policy)}</b>: {head}</p>"
            "<table cellspacing='0' cellpadding='3' width='100%'>"
            "<tr><th align='left'>Step</th><th align='left'>Tier</th><th align='left'>Who</th>"
            "<th align='left'>Paged</th><th align='left'>Answered</th></tr>" + rows + "</table>")


def _ladder_row(step: LadderStep) -> str:
    colour = {"paged": "#dde3ee", "next": "#ffd43b", "skipped": "#ff8787"}.get(step.state, "#8a94a6")
    tier = f"{step.tier} · {escape(step.label)} ({step.timeout_minutes} min)"
    if step.round > 1:
        tier += f", round {step.round}"
    who = escape(step.person) if step.person else _STATE[step.state]
    paged = local_time(step.paged_at) if step.paged_at else ""
    answered = local_time(step.acknowledged_at) if step.acknowledged_at else ("⚠ no answer" if step.paged_at else "")
    return (f"<tr style='color:{colour}'><td>{step.step}</td><td>{tier}</td><td>{who}</td><td>{paged}</td>"
            f"<td>{answered}</td></tr>")
