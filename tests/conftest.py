"""Shared fixtures: a migrated database on SQLite and on PostgreSQL, a manual clock, and a small organisation.

PostgreSQL runs get their own schema (dropped at the end); each test starts from empty tables. Without a
reachable server those tests skip with the reason, unless REQUIRE_POSTGRES=1, where they fail.
"""
from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

PG_URL = os.environ.get("ICC_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REQUIRE_POSTGRES = os.environ.get("REQUIRE_POSTGRES") == "1"
T0 = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)


def _pg_schema_url(schema: str) -> str:
    return f"{PG_URL}?options=-csearch_path%3D{schema}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from console.db import open_database
    from console.schema import upgrade

    path = tmp_path_factory.mktemp("template") / "template.db"
    db = open_database(f"sqlite:///{path}")
    upgrade(db)
    db.dispose()
    return path


@pytest.fixture(scope="session")
def pg_schema() -> Iterator[str]:
    """Create one migrated schema for this test run and drop it afterwards."""
    import psycopg

    from console.db import open_database
    from console.schema import upgrade

    plain = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    try:
        admin = psycopg.connect(plain, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        message = f"PostgreSQL at {PG_URL} is not reachable: {str(error).strip().splitlines()[0]}"
        if REQUIRE_POSTGRES:
            pytest.fail(message + " (REQUIRE_POSTGRES=1)")
        pytest.skip(message)
    schema = f"icc_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        db = open_database(_pg_schema_url(schema))
        upgrade(db)
        db.dispose()
        yield schema
    finally:
        admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database URL on each backend."""
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "console.db"
        shutil.copyfile(template, path)
        return f"sqlite:///{path}"
    schema = request.getfixturevalue("pg_schema")
    _truncate_all(_pg_schema_url(schema))
    return _pg_schema_url(schema)


def _truncate_all(url: str) -> None:
    from sqlalchemy import text

    from console.db import open_database
    from models.schema import metadata

    db = open_database(url)
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with db.engine.begin() as conn:
        # The audit table refuses TRUNCATE (migration 0006); between tests, as superuser, triggers are skipped.
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    db.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    """A migrated, empty SQLite database only (for tests that are about SQLite itself)."""
    path = tmp_path / "console.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def clock():  # type: ignore[no-untyped-def]
    from console.clock import ManualClock

    return ManualClock(T0)


@pytest.fixture
def db(db_url: str):  # type: ignore[no-untyped-def]
    from console.db import open_database

    database = open_database(db_url)
    yield database
    database.dispose()


@pytest.fixture
def uow(db, clock):  # type: ignore[no-untyped-def]
    from console.uow import UnitOfWork

    return UnitOfWork(db, clock)


@dataclass(frozen=True)
class Org:
    """Ids of a small organisation: one team, three people, two services, the SEV1-SEV4 taxonomy."""

    team: int
    alice: int  # incident commander
    bob: int  # responder
    carol: int  # responder, on leave in some tests
    identity: int  # foundational service
    checkout: int  # edge service depending on identity
    rotation: int


@pytest.fixture
def org(db) -> Org:  # type: ignore[no-untyped-def]
    """Insert a small organisation directly (test set-up, not a user action)."""
    from models.enums import FailureFamily, PersonRole, ServiceTier, Severity
    from models.org import Person, PersonRoleGrant, Service, ServiceDependency, Team, TeamMember
    from models.policy import ImpactLevel, Rotation, RotationLayer, RotationLayerMember

    with db.writer() as s:
        for sev, ack, name in [(Severity.SEV1, 5, "Critical"), (Severity.SEV2, 15, "Major"),
                               (Severity.SEV3, 30, "Minor"), (Severity.SEV4, 240, "Low")]:
            s.add(ImpactLevel(severity=sev, name=name, description="", criteria="", ack_minutes=ack,
                              internal_update_minutes=30, customer_update_minutes=60, executive_update_minutes=None,
                              page_executives=sev is Severity.SEV1))
        people = [Person(handle=h, name=n, email=f"{h}@example.com", title="", timezone="UTC", active=True)
                  for h, n in [("alice", "Alice Ames"), ("bob", "Bob Burns"), ("carol", "Carol Chen")]]
        s.add_all(people)
        s.flush()
        s.add(PersonRoleGrant(person_id=people[0].id, role=PersonRole.INCIDENT_COMMANDER))
        s.add(PersonRoleGrant(person_id=people[1].id, role=PersonRole.RESPONDER))
        s.add(PersonRoleGrant(person_id=people[2].id, role=PersonRole.RESPONDER))
        team = Team(name="Identity", description="", lead_id=people[0].id)
        s.add(team)
        s.flush()
        for p in people:
            s.add(TeamMember(team_id=team.id, person_id=p.id))
        identity = Service(name="identity", description="", tier=ServiceTier.FOUNDATIONAL,
                           family=FailureFamily.AUTHENTICATION, team_id=team.id)
        checkout = Service(name="checkout", description="", tier=ServiceTier.EDGE,
                           family=FailureFamily.PAYMENTS, team_id=team.id)
        s.add_all([identity, checkout])
        s.flush()
        s.add(ServiceDependency(service_id=checkout.id, depends_on_id=identity.id))
        # Daily turns handing off at 00:00 UTC: bob on T0's day, then carol, then alice.
        rotation = Rotation(name="identity-primary", team_id=team.id, layers=[RotationLayer(
            position=0, name="daily", starts_at=T0.replace(hour=0), shift_minutes=24 * 60, handoff="00:00",
            timezone="UTC", members=[RotationLayerMember(position=pos, person_id=p.id)
                                     for pos, p in enumerate(people[1:] + people[:1])])])
        s.add(rotation)
        s.commit()
        return Org(team=team.id, alice=people[0].id, bob=people[1].id, carol=people[2].id,
                   identity=identity.id, checkout=checkout.id, rotation=rotation.id)


@pytest.fixture
def escalating(db, org):  # type: ignore[no-untyped-def]
    """Checkout escalates: tier 1 the identity rotation (5 min), tier 2 the team lead (10 min), repeated once."""
    from models.enums import TierTarget
    from models.org import Service
    from models.policy import EscalationPolicy, EscalationTier

    with db.writer() as s:
        policy = EscalationPolicy(name="Checkout escalation", team_id=org.team, repeat=1, tiers=[
            EscalationTier(position=0, ack_timeout_minutes=5, target=TierTarget.ROTATION, rotation_id=org.rotation),
            EscalationTier(position=1, ack_timeout_minutes=10, target=TierTarget.TEAM_LEAD)])
        s.add(policy)
        s.flush()
        s.get(Service, org.checkout).escalation_policy_id = policy.id
        s.commit()
        return policy.id


@pytest.fixture
def commit_counter(db):  # type: ignore[no-untyped-def]
    """Count COMMITs on the database's engine."""
    from sqlalchemy import event

    counts = {"n": 0}

    def on_commit(_conn) -> None:  # type: ignore[no-untyped-def]
        counts["n"] += 1

    event.listen(db.engine, "commit", on_commit)
    yield counts
    event.remove(db.engine, "commit", on_commit)
