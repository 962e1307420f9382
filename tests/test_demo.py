"""The demo: the shipped organisation is complete and checked, seeding is one audited commit, the live feed keeps a
believable queue moving and never touches the operator's own work."""
from __future__ import annotations

import random
import tomllib
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from console import commands, queries
from console.audit import verify_chain
from console.demo.feed import (
    DEMO_ORIGIN,
    MAX_OPEN,
    MIN_OPEN,
    FeedIncident,
    FeedService,
    FeedSnapshot,
    Idle,
    OpenIncident,
    plan_step,
)
from console.demo.organisation import DEFAULT_PATH, load_organisation
from console.errors import InvalidInput
from console.oncall import on_call_for_team
from models.audit import AuditEntry, ChangeLogEntry, Meta
from models.enums import FailureFamily, IncidentOrigin, IncidentStatus, PersonRole, ServiceTier, Severity, SignalKind
from models.incident import Incident, TimelineEvent
from models.org import Person, Service, Team
from tests.conftest import T0

SHIPPED = DEFAULT_PATH.read_text(encoding="utf-8")
RAW = tomllib.loads(SHIPPED)


def _index(table: str, name: str, key: str = "name") -> int:
    return [item[key] for item in RAW[table]].index(name)


def _person_id(db, handle: str) -> int:  # type: ignore[no-untyped-def]
    with db.reader() as s:
        return s.execute(select(Person.id).where(Person.handle == handle)).scalar_one()


def _table_counts(db) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with db.reader() as s:
        return {m.__tablename__: s.execute(select(func.count()).select_from(m)).scalar_one()
                for m in (Person, Team, Service, Incident, AuditEntry, ChangeLogEntry, Meta, TimelineEvent)}


# --- the organisation file -------------------------------------------------------------------------------------


def test_the_shipped_organisation_is_a_complete_saas_company() -> None:
    org = load_organisation()
    assert len(org.services) >= 12 and len(org.people) >= 20 and 4 <= len(org.teams) <= 5
    handles = {p.handle for p in org.people}
    assert all(team.lead in handles and team.lead in team.members for team in org.teams)
    holders = {role: [p for p in org.people if role in p.roles] for role in PersonRole}
    assert all(holders.values()), "every standing role is held by someone"
    assert len(holders[PersonRole.LEADER]) >= 3 and len(holders[PersonRole.INCIDENT_COMMANDER]) >= 3
    assert len(holders[PersonRole.SUPPORT_LEAD]) >= 2 and 1 <= len(holders[PersonRole.TRAINER]) <= 2
    assert {s.family for s in org.services} == set(FailureFamily)
    tiers = {s.name: s.tier for s in org.services}
    assert tiers["identity"] is ServiceTier.FOUNDATIONAL and tiers["primary-db"] is ServiceTier.FOUNDATIONAL
    assert [lv.severity for lv in org.impact_levels] == list(Severity)
    assert next(lv for lv in org.impact_levels if lv.severity is Severity.SEV1).page_executives
    assert {t.family for t in org.incident_types} == set(FailureFamily)
    families = {s.name: s.family for s in org.services}
    for family in FailureFamily:
        assert sum(families[sc.service] is family for sc in org.scenarios) >= 2, family
    kinds = {sc.signal.kind for sc in org.scenarios}
    assert kinds == set(SignalKind) and all(sc.notes and sc.next_actions for sc in org.scenarios)
    severities = {sc.key: sc.severity for sc in org.scenarios}
    seeded = [(severities[seed.scenario], seed.status) for seed in org.seed_incidents]
    assert 6 <= len(seeded) <= 8
    assert any(sev is Severity.SEV1 for sev, _ in seeded)
    assert {status for _, status in seeded} == {IncidentStatus.TRIGGERED, IncidentStatus.ACKNOWLEDGED,
                                                IncidentStatus.MITIGATING, IncidentStatus.MONITORING}


BROKEN = [
    ("unknown team", 'name = "payments-api"\ntier = "core"\nfamily = "payments"\nteam = "Payments"',
     'name = "payments-api"\ntier = "core"\nfamily = "payments"\nteam = "Paymnts"',
     f"services[{_index('services', 'payments-api')}].team: unknown team 'Paymnts' (did you mean 'Payments'?)"),
    ("unknown enum value", 'name = "checkout"\ntier = "edge"', 'name = "checkout"\ntier = "fundamental"',
     f"services[{_index('services', 'checkout')}].tier: 'fundamental' is not one of foundational, core, edge"),
    ("unknown rotation member", 'members = ["cmurphy", "ocruz", "hbecker"]', 'members = ["cmurphy", "ocruz", "hbeker"]',
     f"rotations[{_index('rotations', 'platform-storage')}].layers[0].members[2]: unknown person 'hbeker'"
     " (did you mean 'hbecker'?)"),
    ("bad handoff time", 'timezone = "Europe/Dublin"\nmembers', 'timezone = "Europe/Dubln"\nmembers',
     f"rotations[{_index('rotations', 'platform-storage')}].layers[0].timezone: unknown time zone 'Europe/Dubln'"),
    ("bad restriction", 'restrict = "09:00-17:00"', 'restrict = "9-5"',
     f"rotations[{_index('rotations', 'cx-primary')}].layers[1].restrict: '9-5' is not a daily window HH:MM-HH:MM"),
    ("unknown dependency", 'depends_on = ["search-index", "ledger"]', 'depends_on = ["search-index", "ledgr"]',
     f"services[{_index('services', 'reporting-exports')}].depends_on[1]: unknown service 'ledgr'"
     " (did you mean 'ledger'?)"),
    ("dependency cycle", 'posts here."\ndepends_on = ["primary-db", "event-bus"]',
     'posts here."\ndepends_on = ["primary-db", "event-bus", "billing-engine"]',
     "services: dependency cycle: ledger -> billing-engine -> ledger"),
    ("foundational service missing", 'name = "identity"\ntier = "foundational"', 'name = "identity"\ntier = "core"',
     "services: the demo needs a foundational service named 'identity'"),
    ("unknown scenario", 'scenario = "sso-okta-saml"', 'scenario = "sso-okta"',
     f"seed_incidents[{_index('seed_incidents', 'sso-okta-saml', 'scenario')}].scenario: unknown scenario 'sso-okta'"
     " (did you mean 'sso-okta-saml'?)"),
    ("misspelt key", 'lead = "dkim"', 'leed = "dkim"',
     f"teams[{_index('teams', 'Payments')}].leed: unknown key (did you mean 'lead'?)"),
]


@pytest.mark.parametrize("label,original,replacement,message", BROKEN, ids=[b[0] for b in BROKEN])
def test_a_broken_organisation_is_refused_naming_file_and_key(  # type: ignore[no-untyped-def]
        label, original, replacement, message, tmp_path: Path) -> None:
    assert SHIPPED.count(original) == 1, f"the shipped file changed; update the {label!r} case"
    path = tmp_path / "organisation.toml"
    path.write_text(SHIPPED.replace(original, replacement), encoding="utf-8")
    with pytest.raises(InvalidInput) as caught:
        load_organisation(path=path)
    assert str(caught.value) == f"{path}: {message}"


def test_a_toml_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    lines = SHIPPED.splitlines()
    broken_line = lines.index('handle = "jwu"') + 1
    lines[broken_line - 1] = 'handle = "jwu'
    path = tmp_path / "organisation.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(InvalidInput, match=rf"not valid TOML: .*line {broken_line}\b") as caught:
        load_organisation(path=path)
    assert str(caught.value).startswith(f"{path}: ")


# --- seeding ---------------------------------------------------------------------------------------------------


def test_seed_demo_is_one_audited_commit_with_incidents_in_flight(  # type: ignore[no-untyped-def]
        db, uow, commit_counter) -> None:
    org = load_organisation()
    changes = commands.seed_demo(uow)

    assert commit_counter["n"] == 1
    assert {"organisation", "incident"} <= changes.entities
    with db.reader() as s:
        assert verify_chain(s).intact
        assert queries.is_demo(s)
        seed_entry = s.execute(select(AuditEntry).where(AuditEntry.action == "demo.seed")).scalar_one()
        assert (seed_entry.subject_type, seed_entry.subject_id, seed_entry.at) == ("organisation", "demo", T0)
        assert f'"people":{len(org.people)}' in seed_entry.after and '"incidents":7' in seed_entry.after
        rows = queries.open_queue(s).rows
        assert len(rows) == len(org.seed_incidents) == len(changes.incidents)
        assert {r.status for r in rows} == {IncidentStatus.TRIGGERED, IncidentStatus.ACKNOWLEDGED,
                                            IncidentStatus.MITIGATING, IncidentStatus.MONITORING}
        assert any(r.severity is Severity.SEV1 for r in rows)
        assert all(r.owner for r in rows if r.status is not IncidentStatus.TRIGGERED)
        assert all(r.opened_at < T0 for r in rows), "seeded incidents have been open a while"
        assert s.execute(select(func.count()).where(Incident.origin != DEMO_ORIGIN)).scalar_one() == 0
        sev1 = next(r for r in rows if r.severity is Severity.SEV1)
        detail = queries.incident_detail(s, incident_id=sev1.id, at=T0)
        assert detail.commander is not None and len(detail.timeline) >= 6
        assert any("past the deadline" in item.text for item in detail.timeline)


def test_who_is_on_call_shows_an_override_and_skips_a_person_on_leave(db, uow) -> None:  # type: ignore[no-untyped-def]
    commands.seed_demo(uow)
    with db.reader() as s:
        teams = dict(s.execute(select(Team.name, Team.id)).all())
        payments = on_call_for_team(s, team_id=teams["Payments"], at=T0)
        identity = on_call_for_team(s, team_id=teams["Identity & Access"], at=T0)
        names = dict(s.execute(select(Person.id, Person.handle)).all())
    assert (payments[0].rotation, names[payments[0].person_id], payments[0].note) == ("payments-primary", "rpetrov",
                                                                                       "override")
    assert (names[identity[0].person_id], identity[0].note) == ("tokafor", "covering: Lena Hansen is on leave (PTO)")


def test_until_means_until_someone_else_takes_over(db, uow) -> None:  # type: ignore[no-untyped-def]
    """Tobi covers Lena's week, then has his own: 'until' is the end of his own week, not of the cover."""
    from datetime import timedelta

    from console.oncall import on_call_for_rotation
    from models.policy import Rotation

    commands.seed_demo(uow)
    with db.reader() as s:
        rotation = s.execute(select(Rotation).where(Rotation.name == "identity-primary")).scalar_one()
        now = on_call_for_rotation(s, rotation=rotation, at=T0)
        just_before = on_call_for_rotation(s, rotation=rotation, at=now.until - timedelta(seconds=1))
        after = on_call_for_rotation(s, rotation=rotation, at=now.until)
    assert just_before.person_id == now.person_id != after.person_id
    assert now.until - T0 > timedelta(days=6)  # the cover ends within days; his own week runs on past it


def test_seeding_twice_is_refused_and_changes_nothing(db, uow, commit_counter) -> None:  # type: ignore[no-untyped-def]
    commands.seed_demo(uow)
    before, commits = _table_counts(db), commit_counter["n"]
    with pytest.raises(InvalidInput, match="already holds an organisation; seed-demo only seeds an empty database"):
        commands.seed_demo(uow)
    assert _table_counts(db) == before and commit_counter["n"] == commits


# --- the live feed ---------------------------------------------------------------------------------------------


def test_the_live_feed_keeps_a_believable_queue_and_leaves_the_operator_alone(  # type: ignore[no-untyped-def]
        db, uow, clock, commit_counter) -> None:
    commands.seed_demo(uow)
    operator, support = _person_id(db, "inaidoo"), _person_id(db, "gmorris")
    with db.reader() as s:
        seeded = queries.open_queue(s).rows
    taken = next(r for r in seeded if r.status is IncidentStatus.ACKNOWLEDGED)
    commands.take_ownership(uow, actor_id=operator, incident_id=taken.id, expected_version=taken.version)
    manual = commands.open_incident(uow, actor_id=support, title="Customer cannot download invoice PDF",
                                    severity="SEV4", service_id=_service_id(db, "web-app")).created_incident
    frozen = {i: _state(db, i) for i in (taken.id, manual)}

    rng = random.Random(20261127)
    statuses: set[IncidentStatus] = set()
    opened = 0
    for _ in range(300):
        clock.advance(seconds=5)
        commits = commit_counter["n"]
        changes = commands.demo_step(uow, rng=rng, operator_id=operator)
        assert commit_counter["n"] - commits == (1 if changes.entities else 0)
        opened += changes.created_incident is not None
        with db.reader() as s:
            demo_rows = [r for r in queries.open_queue(s).rows if r.id not in frozen]
        assert MIN_OPEN - 1 <= len(demo_rows) <= MAX_OPEN
        statuses |= {r.status for r in demo_rows}

    assert statuses == set(IncidentStatus) - {IncidentStatus.RESOLVED}
    with db.reader() as s:
        resolved = s.execute(select(func.count()).where(Incident.status == IncidentStatus.RESOLVED)).scalar_one()
        assert verify_chain(s).intact
    assert resolved >= 5 and opened >= 5
    assert {i: _state(db, i) for i in frozen} == frozen, "the feed changed an incident it must not touch"
    assert all(_state(db, r.id)[0] > r.version for r in seeded if r.id != taken.id), "the feed moved all the others"


def _service_id(db, name: str) -> int:  # type: ignore[no-untyped-def]
    with db.reader() as s:
        return s.execute(select(Service.id).where(Service.name == name)).scalar_one()


def _state(db, incident_id: int) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    with db.reader() as s:
        version = s.get_one(Incident, incident_id).version
        events = s.execute(select(func.count()).where(TimelineEvent.incident_id == incident_id)).scalar_one()
        return version, events


def _incident(incident_id: int, **kw) -> FeedIncident:  # type: ignore[no-untyped-def]
    args = dict(id=incident_id, version=3, title=f"incident {incident_id}", status=IncidentStatus.MITIGATING,
                severity=Severity.SEV2, service_id=1, owner_id=10, commander_id=None, origin=DEMO_ORIGIN,
                opened_at=T0 - timedelta(minutes=30), ack_deadline=T0 - timedelta(minutes=15),
                updated_at=T0 - timedelta(minutes=10), status_since=T0 - timedelta(minutes=20))
    args.update(kw)
    return FeedIncident(**args)  # type: ignore[arg-type]


def test_the_planner_is_deterministic_and_skips_foreign_and_operator_incidents() -> None:
    catalogue = load_organisation().scenarios
    operator = 99
    mine = tuple(_incident(i) for i in range(1, MAX_OPEN + 1))  # a full queue: the planner works it, opens nothing
    foreign = (
        _incident(101, origin=IncidentOrigin.MANUAL),
        _incident(102, involved=frozenset({operator})),  # the operator only wrote a note on it
        _incident(103, owner_id=operator),
        _incident(104, status=IncidentStatus.TRIGGERED, owner_id=None, commander_id=operator,
                  opened_at=T0 - timedelta(hours=1)),
    )
    service = FeedService(1, "payments-api", on_call=(operator,), members=(operator, 10))
    snapshot = FeedSnapshot(incidents=mine + foreign, services=(service,), operator_id=operator)

    def run(seed: int, snap: FeedSnapshot = snapshot) -> list[object]:
        rng = random.Random(seed)
        return [plan_step(snapshot=snap, rng=rng, now=T0 + timedelta(seconds=5 * n), catalogue=catalogue)
                for n in range(200)]

    steps = run(1)
    assert steps == run(1) and steps != run(2)
    touched = {getattr(step, "incident_id", None) for seed in range(5) for step in run(seed)} - {None}
    assert touched <= {i.id for i in mine} and len(touched) >= 5
    assert operator not in {getattr(step, "actor_id", None) for step in steps}
    assert any(isinstance(step, Idle) for step in steps)
    assert not any(isinstance(step, OpenIncident) for step in steps)
    few = FeedSnapshot(incidents=mine[:MIN_OPEN - 1] + foreign, services=(service,), operator_id=operator)
    assert isinstance(run(1, few)[0], OpenIncident)
