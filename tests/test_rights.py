"""Decision rights as policy: a broken file is refused with the file, line and reason; each load is an audited
version; the grants the database checks follow the newest version."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from console import commands
from console.errors import InvalidInput
from console.routing.rights import default_rights, load_rights
from models.audit import AuditEntry
from models.enums import Severity
from models.mitigation import DecisionRight, RightsVersion
from models.org import Person
from tests.mitigation_helpers import RIGHTS


def test_the_shipped_rights_name_holders_for_every_class() -> None:
    rights = default_rights()
    assert {c.name for c in rights.classes} == {"rollback", "feature_flag", "rate_limit", "failover",
                                                "config_change", "data_repair"}
    assert rights.holders_for(action_class="rollback", services=["identity"], severity=Severity.SEV1) == (
        "pnair", "jcarter", "sfeld")
    assert rights.holders_for(action_class="data_repair", services=["ledger"], severity=Severity.SEV3) == (
        "svidal", "jcarter")


@pytest.mark.parametrize(("change", "line", "words"), [
    (("leader = \"alice\"", "leader = \"alise\""), 14, 'rights[0].leader: nobody with the handle "alise" is in the '
                                                       'roster (did you mean "alice"?)'),
    (('classes = ["rollback"]', 'classes = ["rollbak"]'), 15, 'rights[0].classes[0]: "rollbak" is not a class '
                                                              'defined under [classes] (did you mean "rollback"?)'),
    (('services = ["identity"]\n', 'services = ["idenity"]\n'), 22, 'rights[1].services[0]: there is no service '
                                                                    '"idenity"'),
    (('severities = ["SEV1"]', 'severities = ["SEV0"]'), 23, 'rights[1].severities[0]: "SEV0" is not one of'),
    (('max_duration = "2h"', 'max_duration = "2 hours"'), 11, 'classes.failover.max_duration: expected a duration'),
    (('reminder = "10m"', 'remind = "10m"'), 3, "remind: unknown key (did you mean \"reminder\"?)"),
    (('version = "test-1"', 'version = "test 1"'), 2, 'version: "test 1" is not a version name'),
])
def test_a_broken_rights_file_is_refused_with_file_line_and_reason(change, line, words) -> None:  # type: ignore[no-untyped-def]
    broken = RIGHTS.replace(*change)
    assert broken != RIGHTS
    with pytest.raises(InvalidInput) as refused:
        load_rights(text=broken, people={"alice", "bob", "carol"}, services={"identity", "checkout"})
    assert str(refused.value).startswith(f"<decision rights text>:{line}: ")
    assert words in str(refused.value)


def test_each_load_is_an_audited_version_and_the_grants_follow_it(uow, db, org, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "rights.toml"
    path.write_text(RIGHTS, encoding="utf-8")
    commands.load_rights(uow, actor_id=org.alice, reason="first rights", path=path)
    commands.load_rights(uow, actor_id=org.alice, reason="same again", path=path)  # unchanged: no new version
    path.write_text(RIGHTS.replace('classes = ["rollback", "failover"]', 'classes = ["failover"]'), encoding="utf-8")
    commands.load_rights(uow, actor_id=org.bob, reason="carol keeps failover only", path=path)
    with db.reader() as s:
        assert [v.reason for v in s.execute(select(RightsVersion).order_by(RightsVersion.id)).scalars()] == [
            "first rights", "carol keeps failover only"]
        grants = set(s.execute(select(Person.handle, DecisionRight.action_class)
                               .join(Person, Person.id == DecisionRight.person_id)).all())
        assert grants == {("alice", "rollback"), ("carol", "failover")}
        entries = s.execute(select(AuditEntry).where(AuditEntry.action == "rights.load")
                            .order_by(AuditEntry.id)).scalars().all()
    assert [e.actor for e in entries] == ["alice", "bob"]
    assert json.loads(entries[1].after)["withdrawn"] == ["carol:rollback"]


def test_a_rights_file_naming_someone_not_in_the_roster_changes_nothing(uow, db, org, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "rights.toml"
    path.write_text(RIGHTS.replace('leader = "carol"', 'leader = "zed"'), encoding="utf-8")
    with pytest.raises(InvalidInput, match=rf"{path}:\d+: rights\[1\].leader: nobody with the handle \"zed\""):
        commands.load_rights(uow, actor_id=org.alice, reason="typo", path=path)
    with db.reader() as s:
        assert s.execute(select(RightsVersion)).first() is None
        assert s.execute(select(DecisionRight)).first() is None
