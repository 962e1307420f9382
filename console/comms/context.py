"""The plain data a template sees: the incident's facts, people, evidence, figures and the update schedule.

Only strings, numbers, booleans, lists and dicts, with times already written out in the reader's words: a
template cannot reach an ORM object, a datetime method or anything else of Python's. Every key is always
present (empty when unknown) so strict undefined catches misspelt names, never missing facts.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from console.comms.cadence import due_times
from console.dto import incident_ref
from console.policy_store import stored_policy
from models.audit import Meta
from models.comms import Message
from models.enums import IncidentStatus, TimelineKind
from models.incident import Incident, IncidentService, Signal, TimelineEvent
from models.org import Person, Service, Team
from models.routing import Page

ORGANISATION_KEY = "organisation"
_FALLBACK_ORGANISATION = "Our"
_HIGHLIGHTS = 8
_EVIDENCE = 5
# What customers read: no severity codes, no internal service names, no jargon.
_PUBLIC_SUMMARY = {"SEV1": "Service disruption", "SEV2": "Degraded service", "SEV3": "Minor issue",
                   "SEV4": "Minor issue"}
_NEXT_STEP = {
    IncidentStatus.TRIGGERED: "our engineers are investigating the cause.",
    IncidentStatus.ACKNOWLEDGED: "our engineers are investigating the cause.",
    IncidentStatus.MITIGATING: "we have identified the cause and are putting a fix in place.",
    IncidentStatus.MONITORING: "a fix is in place and we are watching closely to make sure it holds.",
    IncidentStatus.RESOLVED: "the problem is fixed; no action is needed on your side.",
}
_UPPER_WORDS = {"api", "db", "sso", "ui", "eu", "us"}
_SKIPPED_KINDS = (TimelineKind.SIGNAL, TimelineKind.PAGED, TimelineKind.COMMUNICATION)


def clock_text(at: datetime | None) -> str:
    """Return a time as a reader anywhere understands it: "14:05 UTC, 1 Dec"; empty for None."""
    if at is None:
        return ""
    at = at.astimezone(timezone.utc)
    return f"{at:%H:%M} UTC, {at.day} {at:%b}"


def duration_text(seconds: float) -> str:
    """Return a length of time in words: "42 min", "3 h 05 min", "2 days 4 h"."""
    minutes = max(0, int(seconds // 60))
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} days {hours} h"


def public_name(service: str) -> str:
    """Return a service name as customers would say it: "payments-api" -> "Payments API"."""
    words = service.replace("_", " ").replace("-", " ").split()
    return " ".join(w.upper() if w in _UPPER_WORDS else w.capitalize() for w in words)


def build_context(session: Session, *, incident: Incident, now: datetime, sender: Person | None) -> dict[str, Any]:
    """Return the template context for an incident as it is now."""
    service = session.get_one(Service, incident.service_id)
    team = session.get(Team, incident.team_id) if incident.team_id else service.team
    owner = session.get(Person, incident.owner_id) if incident.owner_id else None
    commander = session.get(Person, incident.commander_id) if incident.commander_id else None
    impacted = list(session.execute(
        select(Service.name).join(IncidentService, IncidentService.service_id == Service.id)
        .where(IncidentService.incident_id == incident.id, Service.id != incident.service_id)
        .order_by(Service.name)).scalars())
    level = stored_policy(session).level(severity=incident.severity)
    last = last_updates(session, incident_id=incident.id)
    due = due_times(opened_at=incident.opened_at, resolved=incident.status is IncidentStatus.RESOLVED,
                    cadence=[(a.value, m) for a, m in level.updates.items()], last=last)
    organisation = session.get(Meta, ORGANISATION_KEY)
    return {
        "org": {"name": organisation.value if organisation else _FALLBACK_ORGANISATION},
        "incident": {
            "ref": incident_ref(incident.id), "id": incident.id, "title": incident.title,
            "severity": incident.severity.value, "severity_name": level.name, "status": incident.status.value,
            "service": service.name, "impacted_services": impacted, "team": team.name if team else "",
            "owner": owner.name if owner else "", "commander": commander.name if commander else "",
            "customer_impact": incident.customer_impact, "next_action": incident.next_action,
            "resolution": incident.resolution, "opened_at": clock_text(incident.opened_at),
            "acknowledged_at": clock_text(incident.acknowledged_at), "resolved_at": clock_text(incident.resolved_at),
            "duration": duration_text(((incident.resolved_at or now) - incident.opened_at).total_seconds()),
            "public_service": public_name(service.name),
            "public_summary": f"{_PUBLIC_SUMMARY[incident.severity.value]}: {public_name(service.name)}",
            "public_next_step": _NEXT_STEP[incident.status],
        },
        "people": _people(session, incident_id=incident.id),
        "timeline": _timeline(session, incident_id=incident.id),
        "evidence": _evidence(session, incident_id=incident.id),
        "metrics": _metrics(session, incident_id=incident.id),
        "next_update": {audience: clock_text(due.get(audience)) for audience in ("internal", "customers",
                                                                                 "executives")},
        "last_update": {audience: clock_text(last.get(audience)) for audience in ("internal", "customers",
                                                                                 "executives")},
        "now": clock_text(now),
        "sender": {"name": sender.name if sender else "The incident team", "title": sender.title if sender else ""},
    }


def last_updates(session: Session, *, incident_id: int) -> dict[str, datetime]:
    """Return when each audience last got an update on this incident that counts (not every delivery failed)."""
    rows = session.execute(select(Message.audience, func.max(Message.created_at))
                           .where(Message.incident_id == incident_id, Message.counts.is_(True))
                           .group_by(Message.audience))
    return {audience: at for audience, at in rows}


def _people(session: Session, *, incident_id: int) -> dict[str, list[str]]:
    rows = session.execute(select(Person.name, Page.urgent).join(Page, Page.person_id == Person.id)
                           .where(Page.incident_id == incident_id).order_by(Page.paged_at)).all()
    paged = list(dict.fromkeys(name for name, urgent in rows if urgent))
    informed = list(dict.fromkeys(name for name, urgent in rows if not urgent and name not in paged))
    return {"paged": paged, "informed": informed}


def _timeline(session: Session, *, incident_id: int) -> list[dict[str, str]]:
    events = session.execute(
        select(TimelineEvent.at, TimelineEvent.kind, TimelineEvent.text)
        .where(TimelineEvent.incident_id == incident_id, TimelineEvent.kind.not_in(_SKIPPED_KINDS))
        .order_by(TimelineEvent.at.desc(), TimelineEvent.id.desc()).limit(_HIGHLIGHTS)).all()
    return [{"at": clock_text(at), "kind": kind.value, "text": text} for at, kind, text in reversed(events)]


def _evidence(session: Session, *, incident_id: int) -> list[dict[str, Any]]:
    signals = session.execute(
        select(Signal.observed_at, Signal.source, Signal.summary, Signal.value)
        .where(Signal.incident_id == incident_id).order_by(Signal.id.desc()).limit(_EVIDENCE)).all()
    return [{"at": clock_text(at), "source": source, "summary": summary, "value": value}
            for at, source, summary, value in reversed(signals)]


def _metrics(session: Session, *, incident_id: int) -> list[dict[str, Any]]:
    """Return the newest value of each metric among the incident's signals."""
    rows = session.execute(
        select(Signal.attributes, Signal.kind, Signal.value, Signal.observed_at)
        .where(Signal.incident_id == incident_id, Signal.value.is_not(None))
        .order_by(Signal.id.desc()).limit(200)).all()
    seen: dict[str, dict[str, Any]] = {}
    for attributes, kind, value, at in rows:
        try:
            metric = json.loads(attributes or "{}").get("metric") or kind.value
        except (ValueError, AttributeError):
            metric = kind.value
        seen.setdefault(str(metric), {"metric": str(metric), "value": value, "at": clock_text(at)})
    return list(seen.values())


def sample_context() -> dict[str, Any]:
    """Return a context with every key filled, to check a template against when it is saved."""
    names = ["Ann Example", "Ben Example"]
    return {
        "org": {"name": "Example"},
        "incident": {
            "ref": "INC-1", "id": 1, "title": "Card payments failing", "severity": "SEV1", "severity_name": "Critical",
            "status": "mitigating", "service": "payments-api", "impacted_services": ["checkout"], "team": "Payments",
            "owner": names[0], "commander": names[1], "customer_impact": "Card payments fail for some customers.",
            "next_action": "Roll back the 14:02 deploy.", "resolution": "Rolled back.",
            "opened_at": "14:05 UTC, 1 Dec", "acknowledged_at": "14:07 UTC, 1 Dec", "resolved_at": "",
            "duration": "42 min", "public_service": "Payments API", "public_summary": "Service disruption: Payments API",
            "public_next_step": _NEXT_STEP[IncidentStatus.MITIGATING],
        },
        "people": {"paged": names, "informed": ["Cat Example"]},
        "timeline": [{"at": "14:05 UTC, 1 Dec", "kind": "opened", "text": "Opened"}],
        "evidence": [{"at": "14:04 UTC, 1 Dec", "source": "alertmanager", "summary": "error rate 12%", "value": 12.0}],
        "metrics": [{"metric": "error_rate", "value": 12.0, "at": "14:04 UTC, 1 Dec"}],
        "next_update": {"internal": "14:20 UTC, 1 Dec", "customers": "14:35 UTC, 1 Dec", "executives": ""},
        "last_update": {"internal": "14:05 UTC, 1 Dec", "customers": "", "executives": ""},
        "now": "14:47 UTC, 1 Dec",
        "sender": {"name": names[1], "title": "Incident commander"},
    }
