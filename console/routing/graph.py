"""The service graph: who depends on whom, and which open foundational incident a service sits downstream of."""
from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.enums import IncidentStatus, ServiceTier
from models.incident import Incident
from models.org import Service, ServiceDependency


def service_edges(session: Session) -> list[tuple[int, int]]:
    """Return every (service, depends on) pair of the service graph."""
    return [(d.service_id, d.depends_on_id) for d in session.execute(select(ServiceDependency)).scalars()]


def closure(edges: list[tuple[int, int]], start: int, *, downstream: bool) -> set[int]:
    """Every service reachable from `start`: what depends on it (downstream) or what it depends on (upstream)."""
    follow: dict[int, list[int]] = defaultdict(list)
    for service, depends_on in edges:
        if downstream:
            follow[depends_on].append(service)
        else:
            follow[service].append(depends_on)
    seen: set[int] = set()
    todo = [start]
    while todo:
        for nxt in follow[todo.pop()]:
            if nxt not in seen and nxt != start:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def dependents(session: Session, *, service_id: int) -> set[int]:
    """Services that depend on this one, directly or not: a fault here reaches them."""
    return closure(service_edges(session), service_id, downstream=True)


def upstream_incident(session: Session, *, service: Service,
                      edges: list[tuple[int, int]] | None = None) -> Incident | None:
    """The open incident on a foundational service this one depends on, if any (its blast radius covers us)."""
    upstream = closure(edges if edges is not None else service_edges(session), service.id, downstream=False)
    if not upstream:
        return None
    foundational = select(Service.id).where(Service.id.in_(upstream), Service.tier == ServiceTier.FOUNDATIONAL)
    return session.execute(
        select(Incident).where(Incident.service_id.in_(foundational), Incident.status != IncidentStatus.RESOLVED,
                               Incident.parent_id.is_(None))
        .order_by(Incident.severity, Incident.opened_at).limit(1)
    ).scalar()
