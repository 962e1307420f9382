"""Mitigation authorizations: request, four eyes, decision rights, signed approvals, expiry, revert, extension.

Run on SQLite and PostgreSQL (the `db` fixture). Each refusal is checked for the words a person would read.
"""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from console import commands
from console.audit import verify_chain
from console.errors import Conflict, InvalidInput, InvalidTransition, NotPermitted
from console.mitigations.signed import check_decision
from console import signing
from console.signing import WrongPassphrase
from models.audit import AuditEntry
from models.enums import MitigationState, Verdict
from models.incident import TimelineEvent
from models.mitigation import Mitigation, MitigationAsk, MitigationDecision
from models.routing import Page
from tests.mitigation_helpers import (
    PASSPHRASE,
    ScratchKeyring,
    decide,
    enrol,
    load_test_rights,
    request,
    signed,
)


@pytest.fixture
def keyring(monkeypatch):  # type: ignore[no-untyped-def]
    # A cheaper scrypt for speed; the cost is stored with each sealed key, so unsealing follows it.
    monkeypatch.setitem(signing._SCRYPT, "n", 2**12)
    ring = ScratchKeyring()
    yield ring
    ring.cleanup()


@pytest.fixture
def incident(uow, org, tmp_path, keyring) -> int:  # type: ignore[no-untyped-def]
    load_test_rights(uow, tmp_path)
    for person, handle in ((org.alice, "alice"), (org.carol, "carol"), (org.bob, "bob")):
        enrol(uow, keyring, person_id=person, handle=handle)
    return commands.open_incident(uow, actor_id=org.bob, title="Sign-in failing", severity="SEV1",
                                  service_id=org.identity).created_incident  # type: ignore[return-value]


def _mitigation(db, ask_id: int) -> Mitigation:  # type: ignore[no-untyped-def]
    with db.reader() as s:
        ask = s.get_one(MitigationAsk, ask_id)
        return s.get_one(Mitigation, ask.mitigation_id)


def test_an_approved_mitigation_is_active_until_its_expiry_with_a_verifiable_signature(uow, db, org, incident,
                                                                                       keyring) -> None:  # type: ignore[no-untyped-def]
    ask = request(uow, incident=incident, by=org.bob, minutes=90)
    assert _mitigation(db, ask).state is MitigationState.REQUESTED
    decide(uow, keyring, ask_id=ask, leader=org.alice, handle="alice")
    mitigation = _mitigation(db, ask)
    assert mitigation.state is MitigationState.ACTIVE
    assert mitigation.expires_at == uow.clock.now() + timedelta(minutes=90)
    with db.reader() as s:
        decision = s.execute(select(MitigationDecision)).scalar_one()
        assert check_decision(s, decision=decision).valid
        assert json.loads(decision.signed)["mitigation"]["action"] == "Roll back identity to 2026.11.30"
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "mitigation.approve")).scalar_one()
        assert json.loads(entry.after)["signature"] == decision.signature
        assert verify_chain(s).intact


def test_the_requester_can_never_approve_their_own_request(uow, db, org, incident, keyring) -> None:  # type: ignore[no-untyped-def]
    ask = request(uow, incident=incident, by=org.alice)
    with pytest.raises(NotPermitted, match="four eyes: you asked for this, so someone else must decide MIT-1"):
        decide(uow, keyring, ask_id=ask, leader=org.alice, handle="alice")
    assert _mitigation(db, ask).state is MitigationState.REQUESTED


def test_the_database_itself_refuses_a_decision_by_the_requester(uow, db, org, incident, keyring) -> None:  # type: ignore[no-untyped-def]
    ask = request(uow, incident=incident, by=org.alice)
    decision = signed(uow, keyring, ask_id=ask, leader=org.alice, handle="alice")
    with db.writer() as s:
        key_id = s.execute(text("SELECT id FROM signing_keys WHERE person_id = :p"), {"p": org.alice}).scalar()
        with pytest.raises(Exception, match="four_eyes"):
            s.execute(text("INSERT INTO mitigation_decisions (ask_id, incident_id, requested_by, decided_by, "
                           "decided_at, verdict, reason, key_id, signed, signature) VALUES (:a, :i, :p, :p, "
                           ":at, 'approved', 'raw', :k, '{}', :sig)"),
                      {"a": ask, "i": incident, "p": org.alice, "at": uow.clock.now(), "k": key_id,
                       "sig": decision.signature})
            s.flush()


def test_the_database_refuses_an_approval_by_someone_without_the_right_and_a_forged_requester(
        uow, db, org, incident, keyring) -> None:  # type: ignore[no-untyped-def]
    ask = request(uow, incident=incident, by=org.alice)
    with db.writer() as s:
        keys = dict(s.execute(text("SELECT person_id, id FROM signing_keys")).all())
        row = {"a": ask, "i": incident, "p": org.alice, "d": org.bob, "at": uow.clock.now(), "k": keys[org.bob]}
        insert = ("INSERT INTO mitigation_decisions (ask_id, incident_id, requested_by, decided_by, decided_at, "
                  "verdict, reason, key_id, signed, signature) VALUES (:a, :i, :p, :d, :at, 'approved', 'raw', :k, "
                  "'{}', '00')")
        with pytest.raises(Exception, match="no decision right"):
            s.execute(text(insert), row)
        s.rollback()
        # Lying about who asked (so that four eyes seems kept) breaks the key pinning the decision to the ask.
        with pytest.raises(Exception, match="fk_mitigation_decisions_ask_requester|FOREIGN KEY"):
            s.execute(text(insert), {**row, "p": org.carol, "d": org.alice, "k": keys[org.alice]})
    assert _mitigation(db, ask).state is MitigationState.REQUESTED


@pytest.mark.parametrize(("leader", "handle", "action_class", "services", "words"), [
    ("bob", "bob", "rollback", ("identity",), "bob holds no decision rights"),
    ("alice", "alice", "failover", ("identity",), "alice may not authorize failover (only rollback)"),
    ("carol", "carol", "rollback", ("identity", "checkout"),
     "carol may authorize rollback at SEV1 only for identity; this request also touches checkout"),
])
def test_only_a_holder_of_the_right_may_decide_and_the_refusal_says_why(
        uow, db, org, incident, keyring, leader, handle, action_class, services, words) -> None:  # type: ignore[no-untyped-def]
    requester = org.alice if leader != "alice" else org.bob
    ask = request(uow, incident=incident, by=requester, action_class=action_class, services=services)
    with pytest.raises(NotPermitted, match=words.replace("(", r"\(").replace(")", r"\)")):
        decide(uow, keyring, ask_id=ask, leader=getattr(org, leader), handle=handle)
    assert _mitigation(db, ask).state is MitigationState.REQUESTED


def test_a_severity_outside_the_right_is_refused(uow, db, org, incident, keyring) -> None:  # type: ignore[no-untyped-def]
    commands.change_severity(uow, actor_id=org.alice, incident_id=incident, severity="SEV2", reason="smaller")
    ask = request(uow, incident=incident, by=org.bob, action_class="failover")
    with pytest.raises(NotPermitted, match="carol may authorize failover only at SEV1, not at SEV2"):
        decide(uow, keyring, ask_id=ask, leader=org.carol, handle="carol")


def test_a_wrong_passphrase_signs_nothing(uow, org, incident, keyring) -> None:  # type: ignore[no-untyped-def]
    ask = request(uow, incident=incident, by=org.bob)
    with pytest.raises(WrongPassphrase, match="that passphrase does not open your signing key"):
        signed(uow, keyring, ask_id=ask, leader=org.alice, handle="alice", passphrase=PASSPHRASE + "!")


def test_a_request_changed_after_review_is_not_approved_by_the_old_signature(uow, db, org, incident,
                                                                              keyring) -> None:  # type: ignore[no-untyped-def]
    ask = request(uow, incident=incident, by=org.bob)
    decision = signed(uow, keyring, ask_id=ask, leader=org.alice, handle="alice")
    commands.change_severity(uow, actor_id=org.bob, incident_id=incident, severity="SEV2", reason="contained")
    with pytest.raises(Conflict, match="changed after you reviewed it"):
        commands.decide_mitigation(uow, actor_id=org.alice, **decision.command_args())
    assert _mitigation(db, ask).state is MitigationState.REQUESTED


@pytest.mark.parametrize("tamper", [
    "UPDATE mitigations SET action = 'Drop the users table'",
    "UPDATE mitigations SET minutes = 91",
    "UPDATE mitigations SET scope = '{\"regions\":[],\"services\":[\"identity\"],\"tenants\":[]}'",
    "UPDATE mitigation_asks SET minutes = 61",
    "UPDATE mitigation_decisions SET reason = 'Evidence is clear; go!'",
    "UPDATE mitigation_decisions SET verdict = 'rejected'",
    "UPDATE mitigation_decisions SET signed = replace(signed, 'medium', 'low')",
    "UPDATE mitigation_decisions SET signature = '00' || substr(signature, 3)",
])
def test_a_signature_fails_verification_after_any_change_to_the_request_or_decision(
        uow, db, org, incident, keyring, tamper) -> None:  # type: ignore[no-untyped-def]
    ask = request(uow, incident=incident, by=org.bob)
    decide(uow, keyring, ask_id=ask, leader=org.alice, handle="alice")
    with db.writer() as s:
        # The decisions table refuses changes; someone with the rights to drop that guard can still try.
        if db.backend == "postgresql":
            s.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            s.execute(text("DROP TRIGGER icc_append_only_mitigation_decisions_update"))
        s.execute(text(tamper))
        s.commit()
    with db.reader() as s:
        check = check_decision(s, decision=s.execute(select(MitigationDecision)).scalar_one())
    assert not check.valid and check.reason


def test_the_decisions_table_refuses_rewrites(uow, db, org, incident, keyring) -> None:  # type: ignore[no-untyped-def]
    ask = request(uow, incident=incident, by=org.bob)
    decide(uow, keyring, ask_id=ask, leader=org.alice, handle="alice")
    with db.writer() as s, pytest.raises(Exception, match="append-only"):
        s.execute(text("UPDATE mitigation_decisions SET reason = 'quietly'"))


def test_a_revoked_key_or_someone_elses_key_signs_nothing(uow, db, org, incident, keyring) -> None:  # type: ignore[no-untyped-def]
    ask = request(uow, incident=incident, by=org.bob)
    decision = signed(uow, keyring, ask_id=ask, leader=org.alice, handle="alice")
    with pytest.raises(NotPermitted, match="not registered to carol"):
        commands.decide_mitigation(uow, actor_id=org.carol, **decision.command_args())
    with db.reader() as s:
        key_id = s.execute(text("SELECT id FROM signing_keys WHERE person_id = :p"), {"p": org.alice}).scalar()
    commands.revoke_signing_key(uow, actor_id=org.alice, key_id=key_id, reason="laptop lost")
    with pytest.raises(NotPermitted, match="revoked"):
        commands.decide_mitigation(uow, actor_id=org.alice, **decision.command_args())


def test_a_reminder_fires_before_expiry_then_it_expires_then_it_is_reverted(uow, db, org, incident, keyring,
                                                                             clock) -> None:  # type: ignore[no-untyped-def]
    ask = request(uow, incident=incident, by=org.bob, minutes=30)
    decide(uow, keyring, ask_id=ask, leader=org.alice, handle="alice")
    clock.advance(minutes=19)
    commands.mitigation_tick(uow)
    assert _mitigation(db, ask).reminded_at is None
    clock.advance(minutes=2)
    commands.mitigation_tick(uow)
    commands.mitigation_tick(uow)  # twice: one reminder
    with db.reader() as s:
        texts = s.execute(select(TimelineEvent.text).where(TimelineEvent.text.like("%expires in%"))).scalars().all()
    assert texts == ["MIT-1 (Roll back identity to 2026.11.30) expires in 9 min: revert it or ask for an extension"]
    clock.advance(minutes=10)
    commands.mitigation_tick(uow)
    assert _mitigation(db, ask).state is MitigationState.EXPIRED
    commands.revert_mitigation(uow, actor_id=org.bob, mitigation_id=1, reason="Redeployed 2026.12.01")
    mitigation = _mitigation(db, ask)
    assert (mitigation.state, mitigation.end_reason) == (MitigationState.REVERTED, "Redeployed 2026.12.01")
    with pytest.raises(InvalidTransition, match="MIT-1 is reverted: only an approved mitigation can be reverted"):
        commands.revert_mitigation(uow, actor_id=org.bob, mitigation_id=1, reason="again")


def test_an_extension_needs_a_new_approval_and_moves_the_expiry(uow, db, org, incident, keyring, clock) -> None:  # type: ignore[no-untyped-def]
    ask = request(uow, incident=incident, by=org.bob, minutes=30)
    decide(uow, keyring, ask_id=ask, leader=org.alice, handle="alice")
    first_expiry = _mitigation(db, ask).expires_at
    commands.request_extension(uow, actor_id=org.bob, mitigation_id=1, minutes=45, reason="fix not deployed yet")
    assert _mitigation(db, ask).expires_at == first_expiry  # not before a leader signs
    with pytest.raises(InvalidTransition, match="already has an extension waiting"):
        commands.request_extension(uow, actor_id=org.bob, mitigation_id=1, minutes=5, reason="more")
    with db.reader() as s:
        extension = s.execute(select(func.max(MitigationAsk.id))).scalar_one()
    with pytest.raises(NotPermitted, match="four eyes"):
        decide(uow, keyring, ask_id=extension, leader=org.bob, handle="bob")
    decide(uow, keyring, ask_id=extension, leader=org.alice, handle="alice")
    assert _mitigation(db, ask).expires_at == first_expiry + timedelta(minutes=45)
    with db.reader() as s:
        assert all(check_decision(s, decision=d).valid for d in s.execute(select(MitigationDecision)).scalars())


def test_a_rejected_request_ends_and_bad_requests_say_what_is_wrong(uow, db, org, incident, keyring) -> None:  # type: ignore[no-untyped-def]
    ask = request(uow, incident=incident, by=org.bob)
    decide(uow, keyring, ask_id=ask, leader=org.alice, handle="alice", verdict=Verdict.REJECTED)
    assert _mitigation(db, ask).state is MitigationState.REJECTED
    with pytest.raises(InvalidInput, match="a rollback mitigation may last at most 4 h under the decision rights"):
        request(uow, incident=incident, by=org.bob, minutes=241)
    with pytest.raises(InvalidInput, match="'restart' is not a class of mitigation"):
        request(uow, incident=incident, by=org.bob, action_class="restart")
    with pytest.raises(InvalidInput, match="scope: there is no service billing"):
        request(uow, incident=incident, by=org.bob, services=("billing",))
    with db.reader() as s:
        assert s.execute(select(func.count()).select_from(Mitigation)).scalar_one() == 1


def test_the_commander_can_page_a_holder_but_not_someone_who_cannot_approve(uow, db, org, incident,
                                                                           keyring) -> None:  # type: ignore[no-untyped-def]
    request(uow, incident=incident, by=org.bob)
    commands.page_approver(uow, actor_id=org.bob, mitigation_id=1, person_id=org.alice)
    with pytest.raises(InvalidInput, match="paging Bob Burns would not help: bob holds no decision rights"):
        commands.page_approver(uow, actor_id=org.alice, mitigation_id=1, person_id=org.bob)
    with db.reader() as s:
        pages = s.execute(select(Page.person_id, Page.why).where(Page.reason == "manual")).all()
    assert [p for p, _ in pages] == [org.alice] and "to decide MIT-1" in pages[0][1]


def test_withdrawn_request_cannot_be_decided(uow, db, org, incident, keyring) -> None:  # type: ignore[no-untyped-def]
    ask = request(uow, incident=incident, by=org.bob)
    decision = signed(uow, keyring, ask_id=ask, leader=org.alice, handle="alice")
    commands.withdraw_mitigation(uow, actor_id=org.bob, mitigation_id=1, reason="the deploy was not it")
    with pytest.raises(InvalidTransition, match="this request was already withdrawn"):
        commands.decide_mitigation(uow, actor_id=org.alice, **decision.command_args())


def test_an_exported_approval_verifies_offline_and_a_changed_one_does_not(uow, db, org, incident, keyring) -> None:  # type: ignore[no-untyped-def]
    from console.mitigations.signed import check_exported

    decide(uow, keyring, ask_id=request(uow, incident=incident, by=org.bob), leader=org.alice, handle="alice")
    with db.reader() as s:
        after = json.loads(s.execute(select(AuditEntry.after).where(AuditEntry.action == "mitigation.approve"))
                           .scalar_one())
    assert check_exported(after=after).valid
    assert check_exported(after={**after, "reason": "something else"}).reason == (
        "the entry's verdict or reason differs from what was signed")
    assert not check_exported(after={**after, "signed": after["signed"].replace("medium", "low")}).valid
