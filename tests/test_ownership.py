"""The ownership tree read from the demo organisation: every service under its tier with its owners, on-call that
agrees with console.oncall, the data-secondary coverage gap flagged ahead, rosters, incident types with their
owners, fatigue of whoever is on call now, and an incident's blast radius. On SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from console import commands, oncall, ownership
from console.db import Database
from console.errors import DatabaseUnavailable, NotFound
from console.escalation import snapshot_for
from console.ownership import blast_radius, ownership_tree, read_blast_radius, read_ownership
from console.routing.graph import dependents
from models.enums import PageReason, PersonRole, ServiceTier
from models.incident import Incident
from models.org import Person, Service, ServiceDependency, Team
from models.policy import IncidentType, Rotation
from models.routing import Page
from tests.conftest import T0


@pytest.fixture
def demo(db, uow):  # type: ignore[no-untyped-def]
    commands.seed_demo(uow)
    return db


def _ids(session, model) -> dict[str, int]:  # type: ignore[no-untyped-def]
    key = model.handle if model is Person else model.name
    return dict(session.execute(select(key, model.id)).all())


def test_every_service_is_under_its_tier_with_team_lead_dependencies_and_escalation(demo) -> None:  # type: ignore[no-untyped-def]
    with demo.reader() as s:
        tree = ownership_tree(s, at=T0)
        assert [g.tier for g in tree.tiers] == list(ServiceTier)
        listed = {node.id: (group.tier, node) for group in tree.tiers for node in group.services}
        services = list(s.execute(select(Service)).scalars())
        assert set(listed) == {v.id for v in services}
        edges = list(s.execute(select(ServiceDependency)).scalars())
        names = {v.id: v.name for v in services}
        for service in services:
            tier, node = listed[service.id]
            team = s.get_one(Team, service.team_id)
            assert (tier, node.name, node.team) == (service.tier, service.name, team.name)
            assert node.lead == s.get_one(Person, team.lead_id).name
            assert set(node.depends_on) == {names[e.depends_on_id] for e in edges if e.service_id == service.id}
            assert set(node.depended_on_by) == {names[e.service_id] for e in edges if e.depends_on_id == service.id}
            snapshot = snapshot_for(s, service=service)
            assert node.escalation_policy == snapshot.policy
            assert [line.split(",")[0] for line in node.escalation] == [t.label for t in snapshot.tiers]
        group_names = {g.tier: [v.name for v in g.services] for g in tree.tiers}
    assert group_names[ServiceTier.FOUNDATIONAL] == ["edge-gateway", "event-bus", "identity", "primary-db"]
    identity = tree.service(listed_id := next(i for i, (_, n) in listed.items() if n.name == "identity"))
    assert identity is not None and identity.id == listed_id
    assert (identity.team, identity.lead, identity.depends_on) == ("Identity & Access", "Priya Nair", ("primary-db",))
    assert identity.escalation == ("rotation identity-primary, 5 min to acknowledge",
                                   "lead of Identity & Access, 10 min to acknowledge",
                                   "Julia Carter, 15 min to acknowledge")


def test_on_call_now_and_next_match_console_oncall_for_every_team_rotation(demo) -> None:  # type: ignore[no-untyped-def]
    with demo.reader() as s:
        tree = ownership_tree(s, at=T0)
        people = {p.id: p.name for p in s.execute(select(Person)).scalars()}
        for node in tree.services():
            service = s.get_one(Service, node.id)
            rotations = oncall.team_rotations(s, team_id=service.team_id)
            assert [r.rotation for r in node.rotations] == [r.name for r in rotations]
            for duty, rotation in zip(node.rotations, rotations, strict=True):
                schedule = oncall.load_schedule(s, rotation=rotation, around=T0)
                now, upcoming = schedule.on_call(at=T0), schedule.next_on_call(after=T0)
                assert (duty.now.person, duty.now.until, duty.now.note) == (people[now.person_id], now.until, now.note)
                assert (duty.next.person, duty.next.since) == (people[upcoming.person_id], upcoming.since)
    identity = next(n for n in tree.services() if n.name == "identity").rotations[0]
    assert identity.now.person == "Tobi Okafor"  # covering Lena Hansen's PTO
    assert "Lena Hansen is on leave" in identity.now.note
    payments = {r.rotation: r for r in next(n for n in tree.services() if n.name == "checkout").rotations}
    assert (payments["payments-primary"].now.person, payments["payments-primary"].now.note) == ("Ruslan Petrov",
                                                                                                "override")


def test_the_data_secondary_gap_is_flagged_before_it_happens_with_its_reason(demo) -> None:  # type: ignore[no-untyped-def]
    with demo.reader() as s:
        tree = ownership_tree(s, at=T0)
        expected = oncall.coverage_gaps(s, at=T0)
    assert [(g.rotation, g.starts_at, g.ends_at, g.reason) for g in tree.gaps] == [
        (g.rotation, g.starts_at, g.ends_at, g.reason) for g in expected]
    (gap,) = tree.gaps
    assert gap.rotation == "data-secondary"
    # Rachel Adler's holiday (day 4.5 to 5) falls inside Tove Lindqvist's PTO: nobody is left.
    assert (gap.starts_at, gap.ends_at) == (T0 + timedelta(days=4.5), T0 + timedelta(days=5))
    assert "Tove Lindqvist (PTO)" in gap.reason and "Rachel Adler (holiday)" in gap.reason
    ledger = next(n for n in tree.services() if n.name == "ledger")
    assert ledger.gaps == (gap,)
    assert next(n for n in tree.services() if n.name == "checkout").gaps == ()
    with demo.reader() as s:  # a week later the gap is behind us
        assert ownership_tree(s, at=T0 + timedelta(days=6)).gaps == ()


def test_rosters_show_who_is_on_call_now_and_next(demo) -> None:  # type: ignore[no-untyped-def]
    with demo.reader() as s:
        tree = ownership_tree(s, at=T0)
        rosters = {r.rotation: r for r in tree.rosters}
        assert set(rosters) == {r.name for r in s.execute(select(Rotation).where(Rotation.roster_role.is_not(None)))
                                .scalars()}
    command, executive = rosters["incident-command"], rosters["executive-on-call"]
    assert command.roster_role is PersonRole.INCIDENT_COMMANDER and executive.roster_role is PersonRole.LEADER
    assert (command.now.person, command.next.person) == ("Imani Naidoo", "Rachel Adler")
    assert (executive.now.person, executive.next.person) == ("Julia Carter", "Sofia Vidal")


def test_incident_types_carry_their_owner_team_and_runbook(demo) -> None:  # type: ignore[no-untyped-def]
    with demo.writer() as s:
        card = s.execute(select(IncidentType).where(IncidentType.name == "Card payment failure")).scalar_one()
        card.owner_team_id = _ids(s, Team)["Payments"]
        card.runbook_url = "https://runbooks.tallyworks.io/card-payments"
        s.commit()
        count = len(s.execute(select(IncidentType.id)).all())
    with demo.reader() as s:
        types = {t.name: t for t in ownership_tree(s, at=T0).incident_types}
    assert len(types) == count
    card_node = types["Card payment failure"]
    assert (card_node.owner_team, card_node.runbook_url) == ("Payments", "https://runbooks.tallyworks.io/card-payments")
    assert (card_node.family, card_node.default_severity.value) == ("payments", "SEV1")
    assert types["Sign-in failure"].owner_team == "Identity & Access"  # as the demo organisation says
    assert types["Sign-in failure"].runbook_url == "https://runbooks.tallyworks.io/incident-types/sign-in-failure"


def test_a_person_on_call_over_the_page_limit_is_flagged(demo) -> None:  # type: ignore[no-untyped-def]
    with demo.writer() as s:
        imani = _ids(s, Person)["inaidoo"]
        incident = s.execute(select(Incident.id).limit(1)).scalar_one()
        # She is on the incident-command roster since 23:00; seven wake-ups this morning, two of them at night.
        s.add_all(Page(incident_id=incident, person_id=imani, reason=PageReason.COMMANDERS, step=None, why="test",
                       paged_at=T0 - timedelta(minutes=10 * n), night=n >= 5, urgent=True) for n in range(7))
        s.commit()
    with demo.reader() as s:
        tree = ownership_tree(s, at=T0)
    command = next(r for r in tree.rosters if r.rotation == "incident-command")
    assert command.now.over_limit and command.now.pages >= 7
    assert "over the limit of 6" in command.now.fatigue
    omar = next(n for n in tree.services() if n.name == "primary-db").rotations[0].now
    assert omar.person == "Omar Cruz" and not omar.over_limit


def test_blast_radius_of_an_incident_on_primary_db_reaches_its_dependents(demo, uow) -> None:  # type: ignore[no-untyped-def]
    with demo.reader() as s:
        services, people = _ids(s, Service), _ids(s, Person)
        expected = dependents(s, service_id=services["primary-db"])
    created = commands.open_incident(uow, actor_id=people["hbecker"], title="Primary down", severity="SEV2",
                                     service_id=services["primary-db"],
                                     impacted_service_ids=(services["notifications"],)).created_incident
    with demo.reader() as s:
        radius = blast_radius(s, incident_id=created)
    assert (radius.origin_id, radius.origin) == (services["primary-db"], "primary-db")
    assert radius.impacted_ids == {services["notifications"]}
    assert radius.downstream_ids == expected
    assert {"identity", "ledger", "payments-api", "checkout", "web-app", "reporting-exports"} <= set(radius.names)
    assert radius.service_ids == expected | {services["primary-db"], services["notifications"]}
    assert "edge-gateway" not in radius.names and "event-bus" not in radius.names
    assert list(radius.names) == sorted(radius.names)


def test_blast_radius_of_an_impacted_service_takes_in_its_dependents(demo, uow) -> None:  # type: ignore[no-untyped-def]
    with demo.reader() as s:
        services, people = _ids(s, Service), _ids(s, Person)
    created = commands.open_incident(uow, actor_id=people["mbell"], title="Mail slow", severity="SEV3",
                                     service_id=services["notifications"],
                                     impacted_service_ids=(services["search-index"],)).created_incident
    radius = read_blast_radius(demo, incident_id=created)
    assert set(radius.names) == {"notifications", "search-index", "web-app", "reporting-exports"}
    with pytest.raises(NotFound, match="INC-99999"):
        read_blast_radius(demo, incident_id=99999)


def test_each_rotation_schedule_is_loaded_once_per_read(demo, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    loaded: list[str] = []
    real = ownership.load_schedule

    def counting(session, *, rotation, around, **more):  # type: ignore[no-untyped-def]
        loaded.append(rotation.name)
        return real(session, rotation=rotation, around=around, **more)

    monkeypatch.setattr(ownership, "load_schedule", counting)
    tree = read_ownership(demo, at=T0)
    assert sorted(loaded) == sorted(set(loaded)) and len(loaded) == 10
    assert tree.at == T0 and sum(len(g.services) for g in tree.tiers) == 14


def test_a_lost_connection_is_database_unavailable(demo, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def broken(_self):  # type: ignore[no-untyped-def]
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr(Database, "reader", broken)
    with pytest.raises(DatabaseUnavailable, match="server closed the connection unexpectedly"):
        read_ownership(demo, at=T0)
    with pytest.raises(DatabaseUnavailable):
        read_blast_radius(demo, incident_id=1)


def test_an_empty_organisation_gives_empty_tiers(db) -> None:  # type: ignore[no-untyped-def]
    tree = read_ownership(db, at=T0)
    assert [g.services for g in tree.tiers] == [(), (), ()]
    assert (tree.rosters, tree.incident_types, tree.gaps) == ((), (), ())
