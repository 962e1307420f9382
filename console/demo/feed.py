"""The live demo feed's planner: from a snapshot of the demo incidents, choose the one next thing a colleague does.

Pure: no database, no clock, no global random state; the same snapshot and rng state give the same step.
commands/demo.py reads the snapshot and carries the step out in one transaction. The planner only ever touches
open incidents with origin "demo" that the operator has had no part in: the operator's work is theirs alone.
"""
from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from console.demo.specs import Scenario, SignalSpec
from models.enums import IncidentOrigin, IncidentStatus, Severity, SignalKind

DEMO_ORIGIN = IncidentOrigin.DEMO
MIN_OPEN = 6
MAX_OPEN = 14
# A new incident becomes possible this long after the newest one opened, and likely over the next stretch;
# time-based rather than per step, so the queue fills at the same pace whatever the step interval.
OPEN_GAP_SECONDS = (30, 150)
IDLE_CHANCE = 0.1
MAX_SIGNALS = 4
SIGNAL_GAP = timedelta(seconds=90)
LATE_ACK_CHANCE = 0.2
# Seconds in a status before moving on becomes possible, then over how many more seconds it becomes certain.
_DWELL = {
    IncidentStatus.ACKNOWLEDGED: (40, 150),
    IncidentStatus.MITIGATING: (120, 360),
    IncidentStatus.MONITORING: (90, 300),
}
_FORWARD = {
    IncidentStatus.ACKNOWLEDGED: IncidentStatus.MITIGATING,
    IncidentStatus.MITIGATING: IncidentStatus.MONITORING,
    IncidentStatus.MONITORING: IncidentStatus.RESOLVED,
}
# Minor incidents are common and critical ones rare, as in any real queue.
_OPEN_WEIGHT = {Severity.SEV1: 1.0, Severity.SEV2: 3.0, Severity.SEV3: 4.0, Severity.SEV4: 2.0}
# Nobody hurries to acknowledge a SEV4.
_ACK_PACE = {Severity.SEV1: 0.8, Severity.SEV2: 1.0, Severity.SEV3: 1.3, Severity.SEV4: 2.0}
_REPEAT = {SignalKind.ALERT: "still firing: ", SignalKind.METRIC: "still breaching: ",
           SignalKind.TICKET: "more tickets: ", SignalKind.SENTIMENT: "follow-up: "}
FALLBACK_RESOLUTION = "Impact over; cause to be confirmed in the post-incident review."


@dataclass(frozen=True)
class FeedIncident:
    id: int
    version: int
    title: str
    status: IncidentStatus
    severity: Severity
    service_id: int
    owner_id: int | None
    commander_id: int | None
    origin: str
    opened_at: datetime
    ack_deadline: datetime
    updated_at: datetime
    status_since: datetime
    next_action: str = ""
    notes: frozenset[str] = frozenset()
    signal_count: int = 0
    last_signal_at: datetime | None = None
    severity_changed: bool = False
    # Everyone who has held a role on it or written on its timeline.
    involved: frozenset[int] = frozenset()

    def involves(self, person_id: int | None) -> bool:
        """Say whether a person owns, commands or has acted on this incident."""
        return person_id is not None and person_id in self.involved | {self.owner_id, self.commander_id}


@dataclass(frozen=True)
class FeedService:
    id: int
    name: str
    # On call now, primary rotation first; filled for services with an unowned incident, the only ones that ask.
    on_call: tuple[int, ...]
    members: tuple[int, ...]  # the owning team, lead first: who steps in when nobody on call can


@dataclass(frozen=True)
class FeedSnapshot:
    incidents: tuple[FeedIncident, ...]
    services: tuple[FeedService, ...]
    support_leads: tuple[int, ...] = ()
    incident_types: tuple[tuple[str, int], ...] = ()
    operator_id: int | None = None


@dataclass(frozen=True)
class OpenIncident:
    """Open a scenario's incident; `actor_id` None means monitoring opened it, a person means they reported it."""

    actor_id: int | None
    scenario: str
    service_id: int
    type_id: int | None
    title: str
    severity: Severity
    customer_impact: str
    signal: SignalSpec
    dedup_key: str


@dataclass(frozen=True)
class _IncidentStep:
    """A step on one incident; refused when carried out if the incident is no longer at `expected_version`."""

    incident_id: int
    expected_version: int
    actor_id: int | None


@dataclass(frozen=True)
class Acknowledge(_IncidentStep):
    pass


@dataclass(frozen=True)
class ChangeStatus(_IncidentStep):
    status: IncidentStatus


@dataclass(frozen=True)
class AddNote(_IncidentStep):
    text: str


@dataclass(frozen=True)
class SetNextAction(_IncidentStep):
    text: str


@dataclass(frozen=True)
class ChangeSeverity(_IncidentStep):
    severity: Severity
    reason: str


@dataclass(frozen=True)
class AttachSignal(_IncidentStep):
    signal: SignalSpec
    dedup_key: str


@dataclass(frozen=True)
class Resolve(_IncidentStep):
    summary: str


@dataclass(frozen=True)
class Idle:
    reason: str


Step = (OpenIncident | Acknowledge | ChangeStatus | AddNote | SetNextAction | ChangeSeverity | AttachSignal | Resolve
        | Idle)


def plan_step(*, snapshot: FeedSnapshot, rng: random.Random, now: datetime, catalogue: Sequence[Scenario]) -> Step:
    """Choose the next thing a simulated colleague does to the demo incidents."""
    operator = snapshot.operator_id
    managed = sorted((i for i in snapshot.incidents if i.origin == DEMO_ORIGIN and not i.involves(operator)),
                     key=lambda i: i.id)
    services = {s.id: s for s in snapshot.services}
    if len(managed) < MIN_OPEN or (len(managed) < MAX_OPEN and rng.random() < _open_chance(snapshot, now, managed)):
        opened = _open(snapshot, rng, catalogue)
        if opened is not None:
            return opened
    due = [i for i in managed if i.status is IncidentStatus.TRIGGERED and now - i.opened_at >= ack_delay(incident=i)]
    for incident in sorted(due, key=lambda i: (i.opened_at, i.id)):
        actor = _responder(incident, services.get(incident.service_id), operator)
        if actor is not None:
            return Acknowledge(incident.id, incident.version, actor)
    if not managed or rng.random() < IDLE_CHANCE:
        return Idle("colleagues are heads-down")
    # The incident left alone longest is the likeliest to get attention next.
    weights = [max((now - i.updated_at).total_seconds(), 0.0) + 5.0 for i in managed]
    incident = rng.choices(managed, weights=weights)[0]
    scenario = _scenario_of(incident, snapshot, catalogue)
    actor = _responder(incident, services.get(incident.service_id), operator)
    step = _advance(incident, scenario, rng, now, actor) or _flavour(incident, scenario, rng, now, actor)
    return step or Idle(f"nothing new to say on INC-{incident.id}")


def _open_chance(snapshot: FeedSnapshot, now: datetime, managed: list[FeedIncident]) -> float:
    newest = max((i.opened_at for i in snapshot.incidents), default=None)
    since = (now - newest).total_seconds() if newest else float("inf")
    start, span = OPEN_GAP_SECONDS
    # Fewer open incidents make a new one likelier, so the queue hovers between the bounds instead of at the top.
    room = (MAX_OPEN - len(managed)) / (MAX_OPEN - MIN_OPEN)
    return min(max((since - start) / span, 0.0), 1.0) * room


def ack_delay(*, incident: FeedIncident) -> timedelta:
    """Return how long after opening the demo acknowledges an incident: a minute or two, now and then late."""
    # Seeded by the incident so the delay is stable across steps without the planner keeping state.
    own = random.Random(f"demo-ack-{incident.id}")
    window = (incident.ack_deadline - incident.opened_at).total_seconds()
    if own.random() < LATE_ACK_CHANCE:
        seconds = window + own.uniform(15, 90) if window <= 15 * 60 else own.uniform(240, 420)
    else:
        seconds = own.uniform(50, 130) * _ACK_PACE[incident.severity]
    return timedelta(seconds=seconds)


def repeat_summary(*, signal: SignalSpec) -> str:
    """Return how a repeat of a scenario's signal reads on the timeline."""
    return _REPEAT[signal.kind] + signal.summary


def _open(snapshot: FeedSnapshot, rng: random.Random, catalogue: Sequence[Scenario]) -> OpenIncident | None:
    service_ids = {s.name: s.id for s in snapshot.services}
    running = {(i.service_id, i.title) for i in snapshot.incidents}
    candidates = [s for s in catalogue
                  if s.service in service_ids and (service_ids[s.service], s.title) not in running]
    if not candidates:
        return None
    scenario = rng.choices(candidates, weights=[_OPEN_WEIGHT[s.severity] for s in candidates])[0]
    actor = None  # monitoring opens its own incidents; a person reports what customers say
    if scenario.signal.kind in (SignalKind.TICKET, SignalKind.SENTIMENT):
        leads = [p for p in snapshot.support_leads if p != snapshot.operator_id]
        actor = rng.choice(leads) if leads else None
    return OpenIncident(
        actor_id=actor, scenario=scenario.key, service_id=service_ids[scenario.service],
        type_id=dict(snapshot.incident_types).get(scenario.type or ""), title=scenario.title,
        severity=scenario.severity, customer_impact=scenario.customer_impact, signal=scenario.signal,
        dedup_key=f"demo:{scenario.key}",
    )


def _responder(incident: FeedIncident, service: FeedService | None, operator: int | None) -> int | None:
    """Return who acts on the incident: its owner, else its commander, else whoever is on call, never the operator."""
    candidates = [incident.owner_id, incident.commander_id]
    if service is not None:
        candidates += [*service.on_call, *service.members]
    return next((p for p in candidates if p is not None and p != operator), None)


def _scenario_of(incident: FeedIncident, snapshot: FeedSnapshot, catalogue: Sequence[Scenario]) -> Scenario | None:
    names = {s.id: s.name for s in snapshot.services}
    service = names.get(incident.service_id)
    return next((s for s in catalogue if s.service == service and s.title == incident.title), None)


def _advance(incident: FeedIncident, scenario: Scenario | None, rng: random.Random, now: datetime,
             actor: int | None) -> Step | None:
    if incident.status not in _DWELL or actor is None:
        return None
    start, span = _DWELL[incident.status]
    dwell = (now - incident.status_since).total_seconds()
    if rng.random() >= min(max((dwell - start) / span, 0.0), 1.0):
        return None
    target = _FORWARD[incident.status]
    if target is IncidentStatus.RESOLVED:
        return Resolve(incident.id, incident.version, actor, scenario.resolution if scenario else FALLBACK_RESOLUTION)
    return ChangeStatus(incident.id, incident.version, actor, target)


def _flavour(incident: FeedIncident, scenario: Scenario | None, rng: random.Random, now: datetime,
             actor: int | None) -> Step | None:
    """Return a note, a next action, a repeat signal or a severity change, whichever fits the incident now."""
    options: list[tuple[float, Step]] = []
    triggered = incident.status is IncidentStatus.TRIGGERED
    ref = (incident.id, incident.version)
    quiet = incident.last_signal_at is None or now - incident.last_signal_at >= SIGNAL_GAP
    if scenario and quiet and incident.signal_count < MAX_SIGNALS and incident.status is not IncidentStatus.MONITORING:
        repeat = replace(scenario.signal, summary=repeat_summary(signal=scenario.signal))
        options.append((2.0 if triggered else 1.0, AttachSignal(*ref, None, repeat, f"demo:{scenario.key}")))
    if scenario and actor is not None and not triggered:
        upcoming = _after(scenario.next_actions, incident.next_action)
        if upcoming:
            options.append((3.0 if not incident.next_action else 1.2, SetNextAction(*ref, actor, upcoming)))
        note = next((n for n in scenario.notes if n not in incident.notes), None)
        if note:
            options.append((2.5, AddNote(*ref, actor, note)))
        change = next((c for c in scenario.severity_changes if _fits(c.to, incident)), None)
        if change and not incident.severity_changed:
            options.append((0.6, ChangeSeverity(*ref, actor, change.to, change.reason)))
    if not options:
        return None
    return rng.choices([step for _, step in options], weights=[w for w, _ in options])[0]


def _fits(severity: Severity, incident: FeedIncident) -> bool:
    """Say whether a severity change reads right now: raised early on, lowered only once mitigation has shown."""
    if severity is incident.severity or incident.status is IncidentStatus.MONITORING:
        return False
    if severity.rank < incident.severity.rank:
        return True
    return incident.status is IncidentStatus.MITIGATING and len(incident.notes) >= 2


def _after(items: tuple[str, ...], current: str) -> str | None:
    """Return the item after `current` in the list (the first if `current` is not in it), or None at the end."""
    if current not in items:
        return items[0] if items else None
    index = items.index(current) + 1
    return items[index] if index < len(items) else None
