"""Frozen data the GUI receives. Imports only the standard library and models.enums: no ORM object leaves console/."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from models.enums import ChangeEntity, IncidentStatus, PersonRole, Severity, TimelineKind  # noqa: F401 (re-exported)

# The UI may not import models/: it takes these closed sets from here (re-exported on purpose).


def incident_ref(incident_id: int) -> str:
    """Return the human reference of an incident, e.g. INC-1234."""
    return f"INC-{incident_id}"


@dataclass(frozen=True, slots=True)
class PersonRef:
    id: int
    handle: str
    name: str
    title: str = ""
    roles: frozenset[PersonRole] = frozenset()

    @property
    def label(self) -> str:
        return f"{self.name} ({self.handle})"


_NEVER = float("inf")
_RANK = {s: int(s.value[3]) for s in Severity}

QueueKey = tuple[int, int, float, float, int]


@dataclass(frozen=True, slots=True)
class IncidentRow:
    """One line of the severity queue."""

    id: int
    title: str
    severity: Severity
    status: IncidentStatus
    service: str
    owner: str
    opened_at: datetime
    ack_deadline: datetime
    version: int
    # When each audience last got an update that counts (audience, at); the UI adds the cadence and counts down.
    last_updates: tuple[tuple[str, datetime], ...] = ()
    failed_updates: int = 0  # deliveries that failed and nobody has dismissed or sent again
    # The queue order, computed once where the row is built (a worker thread), not on every sort in the GUI.
    queue_key: QueueKey = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        awaiting = self.status is IncidentStatus.TRIGGERED
        object.__setattr__(self, "queue_key", (
            _RANK[self.severity],
            0 if awaiting else 1,  # unacknowledged first
            self.ack_deadline.timestamp() if awaiting else _NEVER,  # nearest ack deadline first
            self.opened_at.timestamp(),  # then oldest first
            self.id,
        ))

    @property
    def ref(self) -> str:
        return incident_ref(self.id)

    @property
    def is_open(self) -> bool:
        return self.status is not IncidentStatus.RESOLVED

    @property
    def awaiting_ack(self) -> bool:
        return self.status is IncidentStatus.TRIGGERED


@dataclass(frozen=True, slots=True)
class TimelineItem:
    at: datetime
    kind: TimelineKind
    actor: str
    text: str


@dataclass(frozen=True, slots=True)
class OnCallEntry:
    """Who is on call now for a rotation that covers a service, and why it is them."""

    person: PersonRef
    rotation: str
    until: datetime
    note: str = ""


@dataclass(frozen=True, slots=True)
class PageItem:
    """One person engaged on an incident: paged (woken) or told, why, and whether they are past the fatigue limit."""

    person: str
    why: str
    paged_at: datetime
    acknowledged_at: datetime | None
    night: bool
    urgent: bool = True  # False: told, not woken
    reason: str = "escalation"  # a PageReason value
    step: int | None = None  # the escalation step, for escalation pages
    fatigue: str = ""  # "7 pages this shift (2 at night): over the limit of 6"
    over_limit: bool = False


@dataclass(frozen=True, slots=True)
class LadderStep:
    """One step of a running or finished escalation: a tier, in a round, and what happened at it."""

    step: int  # 1-based, counting repeats
    tier: int  # 1-based
    round: int
    label: str  # "rotation payments-primary", "lead of Payments"
    timeout_minutes: int
    state: str  # "paged", "skipped" (nobody available), "next", "later", "not reached"
    person: str = ""
    paged_at: datetime | None = None
    acknowledged_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class EscalationInfo:
    policy: str
    running: bool
    next_due_at: datetime | None  # when the next tier is paged if nobody acknowledges
    next_tier: str  # who that will be, e.g. "tier 2 (lead of Payments)"
    stop_reason: str
    ladder: tuple[LadderStep, ...] = ()


@dataclass(frozen=True, slots=True)
class DecisionItem:
    """An explained decision: automation's (by is empty) or a person's."""

    at: datetime
    kind: str  # a DecisionKind value: severity, routing, grouping, escalation, override
    summary: str
    by: str
    rule_id: str = ""
    policy_version: str = ""
    inputs: str = "{}"  # canonical JSON
    thresholds: str = "{}"


# Overrides that are about people or grouping, not the severity.
_NOT_SEVERITY = ("ungroup", "stop-escalation")


@dataclass(frozen=True, slots=True)
class IncidentDetail:
    row: IncidentRow
    owner: PersonRef | None
    commander: PersonRef | None
    team: str
    team_lead: str
    service_tier: str
    impacted_services: tuple[str, ...]
    customer_impact: str
    next_action: str
    resolution: str
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    on_call: tuple[OnCallEntry, ...]
    timeline: tuple[TimelineItem, ...]
    signal_count: int
    pages: tuple[PageItem, ...] = ()
    escalation: EscalationInfo | None = None
    decisions: tuple[DecisionItem, ...] = ()
    parent_id: int | None = None  # grouped under another incident
    escalation_policy: str = ""  # the service's policy, whether or not this incident escalates by it
    severity_set_by: str = ""  # the person who set the severity by hand, if one did

    @property
    def severity_decisions(self) -> tuple[DecisionItem, ...]:
        """The decisions that explain the severity: automation's rules and people's overrides of them."""
        return tuple(d for d in self.decisions if d.kind in ("severity", "override") and d.rule_id not in _NOT_SEVERITY)

    @property
    def over_limit(self) -> tuple[PageItem, ...]:
        """People engaged on this incident who are past the fatigue limit, once each."""
        seen: dict[str, PageItem] = {}
        for page in self.pages:
            if page.over_limit:
                seen.setdefault(page.person, page)
        return tuple(seen.values())


@dataclass(frozen=True, slots=True)
class ServiceRef:
    id: int
    name: str
    tier: str
    team: str


@dataclass(frozen=True, slots=True)
class FeedBatch:
    """What changed past a cursor: the rows to apply to the queue and the new cursor."""

    cursor: int
    rows: tuple[IncidentRow, ...]
    incident_ids: frozenset[int]
    other_entities: frozenset[str]
    # True when the batch stopped at its size limit and more changes are waiting.
    more: bool = False
    # Sequence numbers up to `cursor` that were not there (rolled back, or still to commit: look again), and
    # earlier missing ones that have now turned up.
    missing: frozenset[int] = frozenset()
    rechecked: frozenset[int] = frozenset()
    # PostgreSQL: every transaction below `horizon` had finished at the time of the read; every one still
    # running then is below `next_xid`. A gap seen at `next_xid` = n that is still missing once the horizon
    # reaches n was rolled back. None on SQLite, which has one writer at a time.
    horizon: int | None = None
    next_xid: int | None = None


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    """The whole open queue with the feed cursor it is consistent with."""

    cursor: int
    rows: tuple[IncidentRow, ...]
    # Recent sequence numbers below the cursor that were not there: a transaction may still commit them.
    missing: frozenset[int] = frozenset()
    # PostgreSQL: the first transaction id not yet started at the time of the read (None on SQLite).
    next_xid: int | None = None


@dataclass(frozen=True, slots=True)
class ConsoleInfo:
    """Facts about the database the console is on, for the window's banner and status bar."""

    database: str
    backend: str
    is_demo: bool
    roster: tuple[PersonRef, ...]
    services: tuple[ServiceRef, ...]
