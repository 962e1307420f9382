"""Shared by the benchmark scripts: a fresh database with the demo organisation and many open incidents."""
from __future__ import annotations

from console import commands
from console.clock import SystemClock
from console.db import Database, open_database
from console.queries import roster, services
from console.schema import upgrade
from console.uow import UnitOfWork


def seeded_database(url: str, *, incidents: int, title: str) -> tuple[Database, list[int]]:
    """Migrate and seed a fresh database, open `incidents` incidents, and return it with their ids."""
    db = open_database(url, create_parent=True)
    upgrade(db)
    uow = UnitOfWork(db, SystemClock())
    commands.seed_demo(uow)
    with db.reader() as session:
        actor = roster(session)[0].id
        service_ids = [s.id for s in services(session)]
    ids = [commands.open_incident(uow, actor_id=actor, title=f"{title} {n}", severity=f"SEV{1 + n % 3}",
                                  service_id=service_ids[n % len(service_ids)]).created_incident
           for n in range(incidents)]
    return db, ids  # type: ignore[return-value]
