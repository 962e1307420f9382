"""The outbox end to end on SQLite and PostgreSQL: queue with the audit entry, claim at each channel's pace,
deliver over real sockets to local stubs, retry with backoff and Retry-After, fail loudly, survive a crash."""
from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from console import commands
from console.commands import comms
from console.comms.channels import ADAPTERS
from console.comms.wire import Endpoint
from console.comms.sender import SANDBOX_DETAIL, Sender, SenderSettings
from console.errors import AlreadyApplied, InvalidInput, InvalidTransition
from models.audit import AuditEntry
from models.comms import ChannelSlot, Delivery, Message
from models.enums import AuditAction, DeliveryState, IncidentOrigin, Severity, TimelineKind
from models.incident import Incident, TimelineEvent
from tests.comms_servers import HttpStub, StatuspageFake


@pytest.fixture
def incident(uow, org) -> int:  # type: ignore[no-untyped-def]
    changes = commands.open_incident(uow, actor_id=org.alice, title="Logins failing", severity=Severity.SEV1,
                                     service_id=org.identity, customer_impact="Nobody can sign in.",
                                     owner_id=org.bob, commander_id=org.alice)
    return changes.created_incident  # type: ignore[return-value]


def _sender(uow, endpoints: dict[str, Endpoint], clock) -> Sender:  # type: ignore[no-untyped-def]
    return Sender(
        claim=lambda skip: comms.claim_deliveries(uow, sender_id="test", timeout=2.0, horizon=0.0, skip=skip),
        settle=lambda outcomes: comms.settle_deliveries(uow, outcomes=outcomes),
        adapters=ADAPTERS, endpoints=endpoints.get, clock=clock, settings=SenderSettings(timeout=2.0),
        rng=random.Random(7))


def _pump(uow, sender: Sender) -> int:  # type: ignore[no-untyped-def]
    claims = comms.claim_deliveries(uow, sender_id="test", timeout=2.0, horizon=0.0)
    sender.deliver_now(claims)
    return len(claims)


def _deliveries(db, incident_id: int) -> dict[str, Delivery]:  # type: ignore[no-untyped-def]
    with db.reader() as s:
        rows = s.execute(select(Delivery).where(Delivery.incident_id == incident_id).order_by(Delivery.id)).scalars()
        return {d.channel: d for d in rows}


def _send_internal(uow, org, incident: int, *, key: str | None = None, channels=("ops-webhook",)):  # type: ignore[no-untyped-def]
    return comms.send_message(uow, actor_id=org.alice, incident_id=incident, template="internal_brief",
                              subject="Logins failing", body="We are on it.", channels=channels,
                              idempotency_key=key)


def test_the_due_customer_update_is_rendered_and_queued_with_the_severitys_channels_in_one_commit(
        db, uow, org, incident, commit_counter) -> None:  # type: ignore[no-untyped-def]
    before = commit_counter["n"]
    comms.send_due_update(uow, actor_id=org.alice, incident_id=incident, audience="customers")
    assert commit_counter["n"] - before == 1
    with db.reader() as s:
        message = s.execute(select(Message)).scalar_one()
        assert message.template == "customer_update" and message.audience == "customers"
        assert "We are investigating a problem with Identity" in message.body
        assert "Nobody can sign in." in message.body and "Our next update will be by" in message.body
        assert message.subject == "Service disruption: Identity"
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == AuditAction.MESSAGE_QUEUE)).scalar_one()
        assert '"channels":["status-page","customer-email"]' in entry.after
        assert s.execute(select(func.count()).select_from(TimelineEvent)
                         .where(TimelineEvent.kind == TimelineKind.COMMUNICATION)).scalar() == 1
    assert set(_deliveries(db, incident)) == {"status-page", "customer-email"}
    assert {d.state for d in _deliveries(db, incident).values()} == {DeliveryState.QUEUED}


def test_a_replayed_send_queues_the_message_once(db, uow, org, incident) -> None:  # type: ignore[no-untyped-def]
    _send_internal(uow, org, incident, key="k-1")
    with pytest.raises(AlreadyApplied):
        _send_internal(uow, org, incident, key="k-1")
    with db.reader() as s:
        assert s.execute(select(func.count()).select_from(Message)).scalar() == 1


@pytest.mark.parametrize("channels, words", [((), "pick at least one channel"),
                                             (("nowhere",), "has no channel 'nowhere'")])
def test_a_bad_channel_is_refused_and_nothing_is_written(db, uow, org, incident, channels, words) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput, match=words):
        _send_internal(uow, org, incident, channels=channels)
    with db.reader() as s:
        assert s.execute(select(func.count()).select_from(Message)).scalar() == 0
        assert s.execute(select(func.count()).select_from(Delivery)).scalar() == 0


def test_a_message_reaches_the_webhook_once_with_its_idempotency_key_and_is_marked_delivered(
        db, uow, org, incident, clock) -> None:  # type: ignore[no-untyped-def]
    with HttpStub() as stub:
        sender = _sender(uow, {"ops-webhook": Endpoint(url=f"{stub.url}/hook")}, clock)
        _send_internal(uow, org, incident)
        assert _pump(uow, sender) == 1
        (request,) = stub.requests
        delivery = _deliveries(db, incident)["ops-webhook"]
        assert request.headers["Idempotency-Key"] == delivery.key
        assert request.json()["subject"] == "Logins failing"
    assert delivery.state is DeliveryState.DELIVERED and delivery.delivered_at == clock.now()
    assert _pump(uow, sender) == 0  # nothing left: a second round sends nothing


def test_429_waits_for_retry_after_and_holds_the_whole_channel_then_delivers(db, uow, org, incident, clock) -> None:  # type: ignore[no-untyped-def]
    with HttpStub() as stub:
        sender = _sender(uow, {"ops-webhook": Endpoint(url=f"{stub.url}/hook")}, clock)
        stub.reply_429(retry_after="30")
        _send_internal(uow, org, incident)
        _pump(uow, sender)
        delivery = _deliveries(db, incident)["ops-webhook"]
        assert delivery.state is DeliveryState.QUEUED and "429" in delivery.last_error
        assert delivery.next_attempt_at >= clock.now() + timedelta(seconds=30)
        with db.reader() as s:
            assert s.get(ChannelSlot, "ops-webhook").next_send_at >= clock.now() + timedelta(seconds=30)
        clock.advance(seconds=29)
        assert _pump(uow, sender) == 0  # not before the provider said
        clock.advance(seconds=2)
        assert _pump(uow, sender) == 1
    assert _deliveries(db, incident)["ops-webhook"].state is DeliveryState.DELIVERED


def test_a_server_failing_for_20_minutes_fails_the_message_loudly_and_it_stops_counting(
        db, uow, org, incident, clock) -> None:  # type: ignore[no-untyped-def]
    with HttpStub(status=500, body=b"down") as stub:
        sender = _sender(uow, {"ops-webhook": Endpoint(url=f"{stub.url}/hook")}, clock)
        _send_internal(uow, org, incident)
        delays = []
        while _deliveries(db, incident)["ops-webhook"].state is DeliveryState.QUEUED:
            delivery = _deliveries(db, incident)["ops-webhook"]
            delays.append((delivery.next_attempt_at - clock.now()).total_seconds())
            clock.advance(seconds=max(0.0, (delivery.next_attempt_at - clock.now()).total_seconds()))
            _pump(uow, sender)
        attempts = len(stub.requests)
    delivery = _deliveries(db, incident)["ops-webhook"]
    assert delivery.state is DeliveryState.FAILED and delivery.last_error.startswith(f"gave up after {attempts} attempts")
    assert 5 <= attempts <= 12  # doubling from 5 s, capped at 5 min, over 20 minutes
    assert max(delays[1:]) <= 300
    with db.reader() as s:
        assert s.execute(select(Message.counts)).scalar() is False
        assert "FAILED" in s.execute(select(TimelineEvent.text).order_by(TimelineEvent.id.desc())).scalars().first()
        assert s.execute(select(func.count()).select_from(AuditEntry)
                         .where(AuditEntry.action == AuditAction.MESSAGE_FAIL)).scalar() == 1


def test_a_4xx_fails_at_once_and_can_be_sent_again_or_dismissed(db, uow, org, incident, clock) -> None:  # type: ignore[no-untyped-def]
    with HttpStub(status=400, body=b"invalid_payload") as stub:
        sender = _sender(uow, {"ops-webhook": Endpoint(url=f"{stub.url}/hook")}, clock)
        _send_internal(uow, org, incident)
        _pump(uow, sender)
        delivery = _deliveries(db, incident)["ops-webhook"]
        assert delivery.state is DeliveryState.FAILED and "invalid_payload" in delivery.last_error
        stub.reply(status=200)
        comms.retry_delivery(uow, actor_id=org.alice, delivery_id=delivery.id)
        clock.advance(seconds=1)  # the channel's pace: 10 a second
        _pump(uow, sender)
        assert len(stub.requests) == 2 and stub.requests[0].headers["Idempotency-Key"] == \
            stub.requests[1].headers["Idempotency-Key"]
    assert _deliveries(db, incident)["ops-webhook"].state is DeliveryState.DELIVERED
    with pytest.raises(InvalidTransition, match="delivered, not failed"):
        comms.dismiss_delivery(uow, actor_id=org.alice, delivery_id=delivery.id)


def test_a_failure_shows_on_the_queue_row_until_someone_dismisses_it(db, uow, org, incident, clock) -> None:  # type: ignore[no-untyped-def]
    from console.queries import incident_rows

    sender = _sender(uow, {}, clock)  # no endpoint set for the channel
    _send_internal(uow, org, incident)
    _pump(uow, sender)
    delivery = _deliveries(db, incident)["ops-webhook"]
    assert "no endpoint is set for channel ops-webhook" in delivery.last_error
    with db.reader() as s:
        (row,) = incident_rows(s, ids=[incident])
    assert row.failed_updates == 1 and row.last_updates == ()  # a message that reached no one does not count
    comms.dismiss_delivery(uow, actor_id=org.alice, delivery_id=delivery.id)
    with db.reader() as s:
        (row,) = incident_rows(s, ids=[incident])
    assert row.failed_updates == 0


def test_the_queue_row_knows_when_each_audience_last_heard(db, uow, org, incident, clock) -> None:  # type: ignore[no-untyped-def]
    from console.queries import incident_rows

    comms.send_due_update(uow, actor_id=org.alice, incident_id=incident, audience="customers")
    with db.reader() as s:
        (row,) = incident_rows(s, ids=[incident])
    assert row.last_updates == (("customers", clock.now()),)


def test_a_channel_is_sent_to_no_faster_than_its_rate_limit_across_senders(db, uow, org, incident, clock) -> None:  # type: ignore[no-untyped-def]
    for n in range(3):
        _send_internal(uow, org, incident, key=f"m{n}", channels=("incidents-slack",))  # 1/s
    first = comms.claim_deliveries(uow, sender_id="a", timeout=2, horizon=0.0)
    second = comms.claim_deliveries(uow, sender_id="b", timeout=2, horizon=0.0)  # another console, same instant
    assert len(first) == 1 and second == []
    clock.advance(seconds=1)
    assert len(comms.claim_deliveries(uow, sender_id="b", timeout=2, horizon=0.0)) == 1
    ahead = comms.claim_deliveries(uow, sender_id="a", timeout=2, horizon=2.0)  # may claim ahead, at its pace
    assert [c.send_at - clock.now() for c in ahead] == [timedelta(seconds=1)]


def test_a_send_cut_off_by_a_crash_is_sent_again_after_its_lease_with_the_same_key(db, uow, org, incident, clock) -> None:  # type: ignore[no-untyped-def]
    with HttpStub() as stub:
        fake = StatuspageFake(stub, api_key="sp-token")
        endpoint = Endpoint(url=fake.url, token="sp-token")
        sender = _sender(uow, {"status-page": endpoint}, clock)
        comms.send_message(uow, actor_id=org.alice, incident_id=incident, template="customer_update",
                           subject="Service disruption: Identity", body="Investigating.", channels=("status-page",))
        (claim,) = comms.claim_deliveries(uow, sender_id="crashed", timeout=2, horizon=0.0)
        first = sender.attempt(claim)  # the status page has it; the console dies before recording that
        assert len(fake.incidents) == 1
        assert comms.claim_deliveries(uow, sender_id="next", timeout=2, horizon=0.0) == []  # the lease holds
        clock.advance(minutes=1)
        (again,) = comms.claim_deliveries(uow, sender_id="next", timeout=2, horizon=0.0)
        assert again.resent and again.outgoing.idempotency_key == claim.outgoing.idempotency_key
        sender.deliver_now([again])
        assert len(fake.incidents) == 1  # found by its marker and updated, not created twice
        assert comms.settle_delivery(uow, claim=claim, outcome=first, jitter=0.5).incidents == \
            frozenset()  # the crashed sender's late outcome is ignored: the row is no longer its own
    delivery = _deliveries(db, incident)["status-page"]
    assert delivery.state is DeliveryState.DELIVERED and delivery.interrupted == 1
    assert delivery.provider_ref == next(iter(fake.incidents))


def test_sandbox_messages_never_reach_the_network(db, uow, org, incident, clock) -> None:  # type: ignore[no-untyped-def]
    with HttpStub() as stub:
        sender = _sender(uow, {"ops-webhook": Endpoint(url=f"{stub.url}/hook")}, clock)
        comms.send_message(uow, actor_id=org.alice, incident_id=incident, template="internal_brief", subject="s",
                           body="b", channels=("ops-webhook",), sandbox=True)
        _pump(uow, sender)
        assert stub.requests == []
    delivery = _deliveries(db, incident)["ops-webhook"]
    assert delivery.state is DeliveryState.DELIVERED and delivery.sandbox
    with db.reader() as s:
        assert SANDBOX_DETAIL in s.execute(select(AuditEntry.after).where(
            AuditEntry.action == AuditAction.MESSAGE_DELIVER)).scalar_one()


def test_demo_incidents_are_sandboxed_whichever_console_sends(db, uow, org, incident) -> None:  # type: ignore[no-untyped-def]
    with db.writer() as s:
        s.get(Incident, incident).origin = IncidentOrigin.DEMO
        s.commit()
    _send_internal(uow, org, incident)
    assert _deliveries(db, incident)["ops-webhook"].sandbox
