"""The demo organisation file: read resources/demo/organisation.toml into frozen specs, every reference checked.

Nothing here touches the database; commands/demo.py inserts what this returns. A broken file is refused whole,
with the file, the key path and what is wrong, e.g. `organisation.toml: services[3].team: unknown team 'paymnts'`.
"""
from __future__ import annotations

import re
import tomllib
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from console.demo._toml import Table, check_unique, fail, find_cycle
from console.demo.specs import (
    DemoOrganisation,
    ImpactLevelSpec,
    IncidentTypeSpec,
    LayerSpec,
    LeaveSpec,
    OverrideSpec,
    PersonSpec,
    PolicySpec,
    RotationSpec,
    Scenario,
    SeedIncidentSpec,
    ServiceSpec,
    SeverityChangeSpec,
    SignalSpec,
    TeamSpec,
    TierSpec,
)
from console.errors import InvalidInput
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

__all__ = ["DEFAULT_PATH", "DemoOrganisation", "Scenario", "SignalSpec", "default_organisation", "load_organisation"]

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "resources" / "demo" / "organisation.toml"
# The demo's story and seeded incidents lean on these two; an organisation without them is not the demo.
REQUIRED_FOUNDATIONAL = ("identity", "primary-db")


def load_organisation(*, path: Path | None = None) -> DemoOrganisation:
    """Read and check a demo organisation file; raise InvalidInput naming the file and key on any fault."""
    path = path or DEFAULT_PATH
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise InvalidInput(f"{path}: cannot read the demo organisation: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise InvalidInput(f"{path}: not UTF-8 text (byte {error.start})") from None
    except tomllib.TOMLDecodeError as error:
        # tomllib's message ends with "(at line N, column M)", which is what the person editing needs.
        raise InvalidInput(f"{path}: not valid TOML: {error}") from None
    return _parse(Table(str(path), "", raw))


@lru_cache(maxsize=1)
def default_organisation() -> DemoOrganisation:
    """Return the shipped demo organisation, read once per process."""
    return load_organisation()


_TOP = ("name", "description", "impact_levels", "people", "teams", "rotations", "overrides", "leave",
        "escalation_policies", "services", "incident_types", "scenarios", "seed_incidents")


def _parse(top: Table) -> DemoOrganisation:
    top.allow(_TOP)
    levels = tuple(_impact_level(t) for t in top.tables("impact_levels"))
    check_unique(top=top, key="impact_levels", values=[lv.severity.value for lv in levels], field="severity")
    missing = [s.value for s in Severity if s not in {lv.severity for lv in levels}]
    if missing:
        fail(file=top.file, where="impact_levels", problem=f"the taxonomy has no level {', '.join(missing)}")
    people = tuple(_person(t) for t in top.tables("people"))
    handles = check_unique(top=top, key="people", values=[p.handle for p in people], field="handle")
    teams = tuple(_team(t, handles) for t in top.tables("teams"))
    team_names = check_unique(top=top, key="teams", values=[t.name for t in teams], field="name")
    roles_of = {p.handle: p.roles for p in people}
    rotations = tuple(_rotation(t, team_names, roles_of) for t in top.tables("rotations"))
    rotation_names = check_unique(top=top, key="rotations", values=[r.name for r in rotations], field="name")
    overrides = tuple(_override(t, rotation_names, handles) for t in top.tables("overrides"))
    leave = tuple(_leave(t, handles) for t in top.tables("leave"))
    policies = tuple(_policy(t, team_names, rotation_names, handles) for t in top.tables("escalation_policies"))
    check_unique(top=top, key="escalation_policies", values=[p.name for p in policies], field="name")
    policy_teams = {p.name: p.team for p in policies}
    service_tables = top.tables("services")
    service_names = check_unique(top=top, key="services", values=[t.text("name") for t in service_tables], field="name")
    services = tuple(_service(t, team_names, policy_teams, service_names) for t in service_tables)
    _check_service_graph(top, services)
    types = tuple(_incident_type(t, team_names) for t in top.tables("incident_types"))
    type_names = check_unique(top=top, key="incident_types", values=[t.name for t in types], field="name")
    scenarios = tuple(_scenario(t, service_names, type_names) for t in top.tables("scenarios"))
    scenario_keys = check_unique(top=top, key="scenarios", values=[s.key for s in scenarios], field="key")
    check_unique(top=top, key="scenarios", values=[f"{s.service}: {s.title}" for s in scenarios], field="title")
    commanders = {p.handle for p in people if PersonRole.INCIDENT_COMMANDER in p.roles}
    seeds = tuple(_seed(t, scenario_keys, commanders) for t in top.tables("seed_incidents"))
    check_unique(top=top, key="seed_incidents", values=[s.scenario for s in seeds], field="scenario")
    return DemoOrganisation(
        name=top.text("name"), description=top.text("description", default=""), impact_levels=levels,
        people=people, teams=teams, rotations=rotations, overrides=overrides, leave=leave,
        escalation_policies=policies, services=services, incident_types=types, scenarios=scenarios,
        seed_incidents=seeds,
    )


def _impact_level(t: Table) -> ImpactLevelSpec:
    t.allow(("severity", "name", "description", "criteria", "ack_minutes", "internal_update_minutes",
             "customer_update_minutes", "executive_update_minutes", "page_executives"))
    return ImpactLevelSpec(
        severity=t.enum("severity", Severity), name=t.text("name"), description=t.text("description", default=""),
        criteria=t.text("criteria"), ack_minutes=t.integer("ack_minutes", minimum=1),
        internal_update_minutes=t.integer("internal_update_minutes", minimum=1),
        customer_update_minutes=t.optional_integer("customer_update_minutes", minimum=1),
        executive_update_minutes=t.optional_integer("executive_update_minutes", minimum=1),
        page_executives=t.boolean("page_executives", default=False),
    )


def _person(t: Table) -> PersonSpec:
    t.allow(("handle", "name", "email", "title", "timezone", "roles"))
    email = t.text("email")
    if "@" not in email:
        t.fail("email", f"{email!r} is not an e-mail address")
    roles = frozenset(t.enum_list("roles", PersonRole))
    return PersonSpec(handle=t.text("handle"), name=t.text("name"), email=email, title=t.text("title", default=""),
                      timezone=t.text("timezone", default="UTC"), roles=roles)


def _team(t: Table, handles: set[str]) -> TeamSpec:
    t.allow(("name", "description", "lead", "members"))
    members = t.refs("members", handles, "person")
    lead = t.ref("lead", handles, "person")
    if lead not in members:
        t.fail("lead", f"{lead!r} leads the team but is not in its members")
    return TeamSpec(name=t.text("name"), description=t.text("description", default=""), lead=lead, members=members)


def _rotation(t: Table, teams: set[str], roles_of: dict[str, frozenset[PersonRole]]) -> RotationSpec:
    t.allow(("name", "team", "roster", "layers"))
    layers = tuple(_layer(layer, set(roles_of)) for layer in t.tables("layers"))
    if not layers:
        t.fail("layers", "a rotation needs at least one layer")
    check_unique(top=t, key="layers", values=[layer.name for layer in layers], field="name")
    roster = t.enum("roster", PersonRole) if "roster" in t.data else None
    if roster is None and "team" not in t.data:
        t.fail("team", "a rotation needs a team, unless it is the roster of a role (roster = \"incident_commander\")")
    team = t.ref("team", teams, "team") if "team" in t.data else None
    for number, layer in enumerate(layers):
        for index, handle in enumerate(layer.members):
            if roster is not None and roster not in roles_of[handle]:
                t.fail(f"layers[{number}].members[{index}]",
                       f"{handle!r} is on the {roster} roster but does not hold that role")
    return RotationSpec(name=t.text("name"), team=team, layers=layers, roster=roster)


_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def _layer(t: Table, handles: set[str]) -> LayerSpec:
    t.allow(("name", "shift_hours", "start_days", "handoff", "timezone", "members", "restrict", "weekdays"))
    members = t.refs("members", handles, "person")
    if not members:
        t.fail("members", "a layer needs at least one member")
    handoff = t.text("handoff", default="09:00")
    if not _CLOCK.match(handoff):
        t.fail("handoff", f"{handoff!r} is not a local time HH:MM")
    zone = t.text("timezone", default="UTC")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        t.fail("timezone", f"unknown time zone {zone!r}")
    restrict = t.text("restrict", default="") or None
    if restrict is not None and not (len(parts := restrict.split("-")) == 2 and all(_CLOCK.match(p) for p in parts)):
        t.fail("restrict", f"{restrict!r} is not a daily window HH:MM-HH:MM")
    weekdays = t.text("weekdays", default="") or None
    if weekdays is not None and ( set(weekdays) - set("0123456") or len(set(weekdays)) != len(weekdays)):
        t.fail("weekdays", f"{weekdays!r} is not a set of weekdays written 0 (Monday) to 6 (Sunday), e.g. '01234'")
    return LayerSpec(name=t.text("name"), shift_hours=t.integer("shift_hours", minimum=1),
                     start_days=t.integer("start_days", maximum=0), handoff=handoff, timezone=zone, members=members,
                     restrict=restrict, weekdays=weekdays)


def _override(t: Table, rotations: set[str], handles: set[str]) -> OverrideSpec:
    t.allow(("rotation", "person", "starts_hours", "ends_hours", "reason"))
    starts, ends = t.number("starts_hours"), t.number("ends_hours")
    if ends <= starts:
        t.fail("ends_hours", f"the override ends ({ends}) before it starts ({starts})")
    return OverrideSpec(rotation=t.ref("rotation", rotations, "rotation"), person=t.ref("person", handles, "person"),
                        starts_hours=starts, ends_hours=ends, reason=t.text("reason"))


def _leave(t: Table, handles: set[str]) -> LeaveSpec:
    t.allow(("person", "kind", "starts_days", "ends_days"))
    starts, ends = t.number("starts_days"), t.number("ends_days")
    if ends <= starts:
        t.fail("ends_days", f"the leave ends ({ends}) before it starts ({starts})")
    return LeaveSpec(person=t.ref("person", handles, "person"), kind=t.enum("kind", LeaveKind),
                     starts_days=starts, ends_days=ends)


def _policy(t: Table, teams: set[str], rotations: set[str], handles: set[str]) -> PolicySpec:
    t.allow(("name", "team", "repeat", "tiers"))
    tiers = []
    for tier in t.tables("tiers"):
        tier.allow(("target", "ack_timeout_minutes", "rotation", "person"))
        target = tier.enum("target", TierTarget)
        wanted = {TierTarget.ROTATION: "rotation", TierTarget.PERSON: "person"}.get(target)
        for key in ("rotation", "person"):
            if key != wanted and key in tier.data:
                tier.fail(key, f"a {target} tier takes no {key}")
        tiers.append(TierSpec(
            target=target, ack_timeout_minutes=tier.integer("ack_timeout_minutes", minimum=1),
            rotation=tier.ref("rotation", rotations, "rotation") if wanted == "rotation" else None,
            person=tier.ref("person", handles, "person") if wanted == "person" else None,
        ))
    if not tiers:
        t.fail("tiers", "an escalation policy needs at least one tier")
    return PolicySpec(name=t.text("name"), team=t.ref("team", teams, "team"), repeat=t.integer("repeat", minimum=0),
                      tiers=tuple(tiers))


def _service(t: Table, teams: set[str], policy_teams: dict[str, str], services: set[str]) -> ServiceSpec:
    t.allow(("name", "description", "tier", "family", "team", "escalation_policy", "depends_on", "runbook"))
    team = t.ref("team", teams, "team")
    policy = t.ref("escalation_policy", set(policy_teams), "escalation policy")
    if policy_teams[policy] != team:
        t.fail("escalation_policy", f"{policy!r} belongs to team {policy_teams[policy]!r}, not to {team!r}")
    depends_on = t.refs("depends_on", services, "service")
    if t.text("name") in depends_on:
        t.fail("depends_on", "a service cannot depend on itself")
    return ServiceSpec(name=t.text("name"), description=t.text("description", default=""),
                       tier=t.enum("tier", ServiceTier), family=t.enum("family", FailureFamily), team=team,
                       escalation_policy=policy, depends_on=depends_on, runbook_url=_url(t, "runbook"))


def _check_service_graph(top: Table, services: tuple[ServiceSpec, ...]) -> None:
    by_name = {s.name: s for s in services}
    for name in REQUIRED_FOUNDATIONAL:
        if name not in by_name or by_name[name].tier is not ServiceTier.FOUNDATIONAL:
            fail(file=top.file, where="services", problem=f"the demo needs a foundational service named {name!r}")
    for index, service in enumerate(services):
        if service.tier is ServiceTier.FOUNDATIONAL:
            # A foundational service resting on a less fundamental one inverts the graph the routing relies on.
            for dep in service.depends_on:
                if by_name[dep].tier is not ServiceTier.FOUNDATIONAL:
                    fail(file=top.file, where=f"services[{index}].depends_on",
                         problem=f"foundational {service.name!r} depends on {by_name[dep].tier} service {dep!r}")
    cycle = find_cycle(graph={s.name: s.depends_on for s in services})
    if cycle:
        fail(file=top.file, where="services", problem=f"dependency cycle: {' -> '.join(cycle)}")


def _incident_type(t: Table, teams: set[str]) -> IncidentTypeSpec:
    t.allow(("name", "family", "default_severity", "description", "owner", "runbook"))
    return IncidentTypeSpec(name=t.text("name"), family=t.enum("family", FailureFamily),
                            default_severity=t.enum("default_severity", Severity),
                            description=t.text("description", default=""),
                            owner_team=t.ref("owner", teams, "team") if "owner" in t.data else None,
                            runbook_url=_url(t, "runbook"))


def _url(t: Table, key: str) -> str:
    url = t.text(key, default="", limit=500)
    if url and not url.startswith(("https://", "http://")):
        t.fail(key, f"{url!r} is not a web address (http:// or https://)")
    return url


def _scenario(t: Table, services: set[str], types: set[str]) -> Scenario:
    t.allow(("key", "service", "type", "title", "severity", "customer_impact", "signal", "notes", "next_actions",
             "resolution", "severity_changes"))
    severity = t.enum("severity", Severity)
    signal = t.table("signal")
    signal.allow(("source", "kind", "summary", "value"))
    changes = []
    for change in t.tables("severity_changes"):
        change.allow(("to", "reason"))
        if change.enum("to", Severity) is severity:
            change.fail("to", f"the scenario already starts at {severity}")
        changes.append(SeverityChangeSpec(to=change.enum("to", Severity), reason=change.text("reason")))
    return Scenario(
        key=t.text("key"), service=t.ref("service", services, "service"),
        type=t.ref("type", types, "incident type") if "type" in t.data else None,
        title=t.text("title", limit=300), severity=severity, customer_impact=t.text("customer_impact"),
        signal=SignalSpec(source=signal.text("source", limit=64), kind=signal.enum("kind", SignalKind),
                          summary=signal.text("summary"), value=signal.optional_number("value")),
        notes=t.texts("notes"), next_actions=t.texts("next_actions", limit=1000),
        resolution=t.text("resolution", limit=4000), severity_changes=tuple(changes),
    )


def _seed(t: Table, scenarios: set[str], commanders: set[str]) -> SeedIncidentSpec:
    t.allow(("scenario", "status", "opened_minutes_ago", "ack_after_minutes", "commander"))
    status = t.enum("status", IncidentStatus)
    if status is IncidentStatus.RESOLVED:
        t.fail("status", "seeded incidents are open; a resolved one would never be seen")
    opened = t.number("opened_minutes_ago", minimum=1, maximum=24 * 60)
    ack_after = t.number("ack_after_minutes", minimum=0.5, default=1.5)
    if status is not IncidentStatus.TRIGGERED and ack_after >= opened - 1:
        t.fail("ack_after_minutes", f"must leave at least a minute after the acknowledgement (opened {opened} min ago)")
    commander = t.ref("commander", commanders, "incident commander") if "commander" in t.data else None
    if commander and status is IncidentStatus.TRIGGERED:
        t.fail("commander", "nobody takes command of an incident that is not yet acknowledged")
    return SeedIncidentSpec(scenario=t.ref("scenario", scenarios, "scenario"), status=status,
                            opened_minutes_ago=opened, ack_after_minutes=ack_after, commander=commander)

