"""The demo organisation as frozen data: what resources/demo/organisation.toml describes, references by name.

organisation.py reads and checks the file into these; commands/demo.py inserts them; feed.py tells their stories.
"""
from __future__ import annotations

from dataclasses import dataclass

from models.enums import (
    FailureFamily,
    IncidentStatus,
    LeaveKind,
    PersonRole,
    ServiceTier,
    Severity,
    SignalKind,
    TierTarget,
)


@dataclass(frozen=True)
class ImpactLevelSpec:
    severity: Severity
    name: str
    description: str
    criteria: str
    ack_minutes: int
    internal_update_minutes: int
    customer_update_minutes: int | None
    executive_update_minutes: int | None
    page_executives: bool


@dataclass(frozen=True)
class PersonSpec:
    handle: str
    name: str
    email: str
    title: str
    timezone: str
    roles: frozenset[PersonRole]


@dataclass(frozen=True)
class TeamSpec:
    name: str
    description: str
    lead: str
    members: tuple[str, ...]


@dataclass(frozen=True)
class LayerSpec:
    """A layer: the first handoff `start_days` from the seed day at local `handoff` in `timezone`."""

    name: str
    shift_hours: int
    start_days: int
    handoff: str  # "HH:MM" local
    timezone: str
    members: tuple[str, ...]
    restrict: str | None = None  # "HH:MM-HH:MM"
    weekdays: str | None = None  # "01234" (0 = Monday)


@dataclass(frozen=True)
class RotationSpec:
    name: str
    team: str | None  # None for a roster that belongs to no team (incident commanders, executives)
    layers: tuple[LayerSpec, ...]
    roster: PersonRole | None = None


@dataclass(frozen=True)
class OverrideSpec:
    rotation: str
    person: str
    starts_hours: float
    ends_hours: float
    reason: str


@dataclass(frozen=True)
class LeaveSpec:
    person: str
    kind: LeaveKind
    starts_days: float
    ends_days: float


@dataclass(frozen=True)
class TierSpec:
    target: TierTarget
    ack_timeout_minutes: int
    rotation: str | None
    person: str | None


@dataclass(frozen=True)
class PolicySpec:
    name: str
    team: str
    repeat: int
    tiers: tuple[TierSpec, ...]


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    description: str
    tier: ServiceTier
    family: FailureFamily
    team: str
    escalation_policy: str
    depends_on: tuple[str, ...]
    runbook_url: str = ""


@dataclass(frozen=True)
class IncidentTypeSpec:
    name: str
    family: FailureFamily
    default_severity: Severity
    description: str
    owner_team: str | None = None
    runbook_url: str = ""


@dataclass(frozen=True)
class SignalSpec:
    source: str
    kind: SignalKind
    summary: str
    value: float | None


@dataclass(frozen=True)
class SeverityChangeSpec:
    to: Severity
    reason: str


@dataclass(frozen=True)
class Scenario:
    """One story the demo can tell about a service: how it starts, what people write, how it ends."""

    key: str
    service: str
    type: str | None
    title: str
    severity: Severity
    customer_impact: str
    signal: SignalSpec
    notes: tuple[str, ...]
    next_actions: tuple[str, ...]
    resolution: str
    severity_changes: tuple[SeverityChangeSpec, ...]


@dataclass(frozen=True)
class SeedIncidentSpec:
    scenario: str
    status: IncidentStatus
    opened_minutes_ago: float
    ack_after_minutes: float
    commander: str | None


@dataclass(frozen=True)
class DemoOrganisation:
    name: str
    description: str
    impact_levels: tuple[ImpactLevelSpec, ...]
    people: tuple[PersonSpec, ...]
    teams: tuple[TeamSpec, ...]
    rotations: tuple[RotationSpec, ...]
    overrides: tuple[OverrideSpec, ...]
    leave: tuple[LeaveSpec, ...]
    escalation_policies: tuple[PolicySpec, ...]
    services: tuple[ServiceSpec, ...]
    incident_types: tuple[IncidentTypeSpec, ...]
    scenarios: tuple[Scenario, ...]
    seed_incidents: tuple[SeedIncidentSpec, ...]
