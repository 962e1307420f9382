"""Pieces shared by commands: loading rows with a clear error, validating text, checking versions."""
from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

from console.dto import incident_ref
from console.errors import Conflict, InvalidInput, InvalidTransition, NotFound
from console.oncall import OnCallLookup
from console.uow import Transaction
from models.enums import IncidentStatus, Severity
from models.incident import Incident
from models.org import Person, Service
from models.policy import ImpactLevel

E = TypeVar("E", bound=StrEnum)
MAX_TEXT = 10_000


def load_incident(tx: Transaction, incident_id: int, *, expected_version: int | None = None) -> Incident:
    """Load an incident for change, refusing a stale version so nothing is overwritten silently."""
    # with_for_update takes a row lock on PostgreSQL (ignored by SQLite, whose BEGIN IMMEDIATE already serialises).
    incident = tx.session.get(Incident, incident_id, with_for_update=True)
    if incident is None:
        raise NotFound(f"incident {incident_ref(incident_id)} does not exist")
    if expected_version is not None and incident.version != expected_version:
        raise Conflict(
            f"{incident_ref(incident_id)} changed since you looked at it "
            f"(you saw version {expected_version}, it is now {incident.version}); review it and try again"
        )
    return incident


def require_open(incident: Incident, *, action: str) -> None:
    if incident.status is IncidentStatus.RESOLVED:
        raise InvalidTransition(f"cannot {action} {incident_ref(incident.id)}: it is already resolved")


def load_person(tx: Transaction, person_id: int, *, what: str) -> Person:
    person = tx.session.get(Person, person_id)
    if person is None or not person.active:
        raise NotFound(f"{what}: person #{person_id} is not in the active roster")
    return person


def load_service(tx: Transaction, service_id: int) -> Service:
    service = tx.session.get(Service, service_id)
    if service is None:
        raise NotFound(f"service #{service_id} does not exist")
    return service


def impact_level(tx: Transaction, severity: Severity) -> ImpactLevel:
    level = tx.session.get(ImpactLevel, severity)
    if level is None:
        raise NotFound(f"the impact taxonomy has no level {severity}; seed or load a taxonomy first")
    return level


def on_call_now(tx: Transaction) -> OnCallLookup:
    """Return this transaction's on-call lookup: each rotation is worked out once per command or tick."""
    lookup = tx.memo.get("on_call")
    if not isinstance(lookup, OnCallLookup):
        lookup = tx.memo["on_call"] = OnCallLookup(tx.session, at=tx.now)
    return lookup


def parse_enum(enum_cls: type[E], value: object, *, field: str) -> E:
    """Accept a member or its value; otherwise say what is allowed."""
    try:
        return enum_cls(value)
    except ValueError:
        allowed = ", ".join(m.value for m in enum_cls)
        raise InvalidInput(f"{field}: {value!r} is not one of {allowed}") from None


def clean_text(value: str, *, field: str, required: bool = True, limit: int = MAX_TEXT) -> str:
    """Strip a text input and check it is present and not too long."""
    text = (value or "").strip()
    if required and not text:
        raise InvalidInput(f"{field} is required")
    if len(text) > limit:
        raise InvalidInput(f"{field} is {len(text)} characters long; the limit is {limit}")
    return text


def person_name(person: Person | None) -> str:
    return person.name if person else "nobody"
