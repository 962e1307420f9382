"""The rows of the ownership tree, built from the OwnershipTree read in console/: what each row says, its key
(a path stable across refreshes, so expansion and selection can be restored), and whether it warns.

ui/ownership_model.py serves these rows to Qt; keeping them plain Python keeps the builder testable and small.
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from enum import StrEnum

from console.dto import PersonRole
from console.ownership import Duty, Gap, IncidentTypeNode, OwnershipTree, RotationDuty, ServiceNode
from ui import theme

GAPS_TITLE = "⚠ Coverage gaps (next 7 days)"
ROSTER_LABEL = {PersonRole.INCIDENT_COMMANDER: "incident commander", PersonRole.LEADER: "executive"}


class Kind(StrEnum):
    GROUP = "group"
    SERVICE = "service"
    FIELD = "field"
    RUNBOOK = "runbook"
    ROSTER = "roster"
    TYPE = "incident_type"


VALUES = ("name", "details", "tooltip", "url", "warn", "muted")  # what a refresh may change in place


class Node:
    """One row: what it says in each column, and what the panel needs to know about it."""

    __slots__ = ("uid", "parent", "row", "children", "key", "path", "kind", "name", "details", "tooltip", "url",
                 "service_id", "warn", "muted")

    def __init__(self, kind: Kind, name: str, details: str = "", *, key: object = None, tooltip: str = "",
                 url: str = "", service_id: int | None = None, warn: bool = False, muted: bool = False) -> None:
        self.uid, self.row = 0, 0
        self.parent: Node | None = None
        self.children: list[Node] = []
        self.key: object = key if key is not None else name  # unique among its siblings
        self.path: tuple[object, ...] = ()  # the keys from the top: set once the tree is built
        self.kind, self.name, self.details, self.tooltip, self.url = kind, name, details, tooltip, url
        self.service_id, self.warn, self.muted = service_id, warn, muted

    def add(self, child: Node) -> Node:
        child.parent, child.row = self, len(self.children)
        self.children.append(child)
        return child

    def walk(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            yield from child.walk()

    def same_values(self, other: Node) -> bool:
        return all(getattr(self, a) == getattr(other, a) for a in VALUES)


def short_time(when: datetime, *, now: datetime) -> str:
    """Show a time in the operator's local zone: 'Tue 08:00' within the week, 'Tue 08 Dec 08:00' beyond it."""
    local = when.astimezone()
    return local.strftime("%a %H:%M" if abs(when - now) < timedelta(days=6) else "%a %d %b %H:%M")


def _gap_text(gap: Gap, now: datetime) -> str:
    return f"⚠ nobody on call {short_time(gap.starts_at, now=now)}–{short_time(gap.ends_at, now=now)}: {gap.reason}"


def _duty_row(label: str, rotation: RotationDuty, duty: Duty | None, now: datetime, *, upcoming: bool) -> Node:
    key = (label, rotation.rotation_id)
    if duty is None:
        text = f"⚠ nobody on call ({rotation.rotation})" if not upcoming else f"— nobody next ({rotation.rotation}) —"
        return Node(Kind.FIELD, label, text, key=key, warn=not upcoming, muted=upcoming)
    span = (f"from {short_time(duty.since, now=now)} until {short_time(duty.until, now=now)}" if upcoming
            else f"until {short_time(duty.until, now=now)}")
    text = f"{duty.person} ({rotation.rotation}, {span})" + (f" — {duty.note}" if duty.note else "")
    if duty.over_limit:
        text = f"⚠ {text} · ⚠ {duty.fatigue}"
    elif duty.pages:
        text += f" · {duty.fatigue}"
    tooltip = duty.reason + (f"\nPager fatigue: {duty.fatigue}" if duty.fatigue else "")
    return Node(Kind.FIELD, label, text, key=key, tooltip=tooltip, warn=duty.over_limit)


def _add_duties(node: Node, rotation: RotationDuty, now: datetime) -> None:
    node.add(_duty_row("On call now", rotation, rotation.now, now, upcoming=False))
    node.add(_duty_row("On call next", rotation, rotation.next, now, upcoming=True))


def _add_gaps(node: Node, gaps: tuple[Gap, ...], now: datetime) -> None:
    for position, gap in enumerate(gaps):
        node.add(Node(Kind.FIELD, f"⚠ Gap in {gap.rotation}", _gap_text(gap, now),
                      key=("gap", gap.rotation, position), tooltip=gap.reason, warn=True))


def _runbook(url: str) -> Node:
    return Node(Kind.RUNBOOK, "Runbook", url or "— none —", url=url, tooltip=url and "Double-click to open",
                muted=not url)


def _service(service: ServiceNode, now: datetime) -> Node:
    flags = (" · ⚠ coverage gap" if service.gaps else "") + (
        " · ⚠ over the page limit" if any(r.now and r.now.over_limit for r in service.rotations) else "")
    node = Node(Kind.SERVICE, service.name, f"{service.team} · lead {service.lead or '—'}{flags}",
                key=("service", service.id), tooltip=service.description, url=service.runbook_url,
                service_id=service.id)
    node.add(Node(Kind.FIELD, "Team", service.team))
    node.add(Node(Kind.FIELD, "Lead", service.lead or "⚠ no team lead", warn=not service.lead))
    for rotation in service.rotations:
        node.add(_duty_row("On call now", rotation, rotation.now, now, upcoming=False))
    if not service.rotations:
        node.add(Node(Kind.FIELD, "On call now", "⚠ the team has no rotation", warn=True))
    for rotation in service.rotations:
        node.add(_duty_row("On call next", rotation, rotation.next, now, upcoming=True))
    _add_gaps(node, service.gaps, now)
    if service.escalation_policy:
        repeat = f" · repeats {service.escalation_repeat}×" if service.escalation_repeat else ""
        escalation = node.add(Node(Kind.FIELD, "Escalation", service.escalation_policy + repeat))
        for position, line in enumerate(service.escalation, 1):
            escalation.add(Node(Kind.FIELD, f"Tier {position}", line))
    else:
        node.add(Node(Kind.FIELD, "Escalation", "⚠ no escalation policy", warn=True))
    node.add(Node(Kind.FIELD, "Depends on", ", ".join(service.depends_on) or "— nothing —",
                  muted=not service.depends_on))
    node.add(Node(Kind.FIELD, "Depended on by", ", ".join(service.depended_on_by) or "— nothing —",
                  muted=not service.depended_on_by))
    node.add(_runbook(service.runbook_url))
    return node


def _incident_type(kind: IncidentTypeNode) -> Node:
    owner = f"owned by {kind.owner_team}" if kind.owner_team else "no owning team"
    text = f"{theme.severity_text(kind.default_severity)} · {kind.family.replace('_', ' ')} · {owner}"
    node = Node(Kind.TYPE, kind.name, text + ("" if kind.runbook_url else " · no runbook"), key=("type", kind.id),
                tooltip=kind.description, url=kind.runbook_url)
    if kind.runbook_url:  # a row to open; a dozen "none" rows would only bury the types that have one
        node.add(_runbook(kind.runbook_url))
    return node


def build_nodes(tree: OwnershipTree) -> Node:
    """Turn the tree read from the database into rows; coverage gaps come first, where they are seen."""
    now, root = tree.at, Node(Kind.GROUP, "")
    if tree.gaps:
        _add_gaps(root.add(Node(Kind.GROUP, GAPS_TITLE, f"{len(tree.gaps)} ahead", key="gaps", warn=True)),
                  tree.gaps, now)
    for group in tree.tiers:
        tier = root.add(Node(Kind.GROUP, group.title, f"{len(group.services)} services", key=group.tier.value))
        for service in group.services:
            tier.add(_service(service, now))
    rosters = root.add(Node(Kind.GROUP, "Rosters", f"{len(tree.rosters)} rosters", key="rosters"))
    for rotation in tree.rosters:
        role = ROSTER_LABEL.get(rotation.roster_role, "on-call")  # type: ignore[arg-type]
        who = f" · now {rotation.now.person}" if rotation.now else " · ⚠ nobody on call"
        node = rosters.add(Node(Kind.ROSTER, rotation.rotation, f"{role} roster{who}",
                                key=("roster", rotation.rotation_id),
                                warn=rotation.now is None or rotation.now.over_limit))
        _add_duties(node, rotation, now)
        _add_gaps(node, rotation.gaps, now)
    types = root.add(Node(Kind.GROUP, "Incident types", f"{len(tree.incident_types)} types", key="types"))
    for kind in tree.incident_types:
        types.add(_incident_type(kind))
    for uid, node in enumerate(root.walk()):
        node.uid = uid
        node.path = node.parent.path + (node.key,) if node.parent is not None else ()
    return root
