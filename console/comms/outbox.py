"""The durable outbox: messages queued with their deliveries, claimed at each channel's pace, and settled.

A message is queued in the operator's transaction, with its audit entry, and nothing is sent in it. A sender
later claims due deliveries in a short transaction of its own: each gets a send slot that respects the channel's
rate limit across every console (the `channel_slots` row is the shared clock) and a lease. The network call runs
outside any transaction; its outcome is settled in another. A sender that dies mid-send leaves its row
"sending" with a lease that runs out; the next sender sends it again with the same idempotency key.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from console.comms.wire import Outcome, OutcomeKind, Outgoing
from console.dto import incident_ref
from console.routing.definitions import ChannelDef, Policy
from console.uow import Transaction
from models.comms import ChannelSlot, Delivery, Message
from models.enums import AuditAction, ChangeEntity, ChannelKind, DeliveryState, IncidentStatus, TimelineKind
from models.incident import Incident, IncidentService
from models.org import Service

RETRY_WINDOW = timedelta(minutes=20)  # after this, a message still not through is failed, loudly
BACKOFF_BASE = 5.0
BACKOFF_CAP = 300.0
LEASE_MARGIN = timedelta(seconds=30)  # beyond the request timeout, before a claimed row counts as abandoned
_COMPONENT_STATUS = {"SEV1": "major_outage", "SEV2": "partial_outage", "SEV3": "degraded_performance",
                     "SEV4": "degraded_performance"}


@dataclass(frozen=True, slots=True)
class Claim:
    """A delivery a sender holds: send it at `send_at`, then settle it with the outcome."""

    delivery_id: int
    channel: str
    kind: ChannelKind
    sandbox: bool
    send_at: datetime
    interval: float  # seconds between two sends to this destination (0 for the sandbox)
    claimed_by: str
    resent: bool  # an earlier attempt was cut off: the provider may have it already
    outgoing: Outgoing


def queue_message(tx: Transaction, *, incident: Incident, template: str, template_version: int | None,
                  audience: str, subject: str, body: str, edited: bool, channels: Sequence[ChannelDef],
                  sandbox: bool, key: str) -> Message:
    """Add a message and one delivery per channel to the outbox, audited and on the timeline."""
    message = Message(incident_id=incident.id, template=template, template_version=template_version,
                      audience=audience, subject=subject, body=body, edited=edited, created_at=tx.now,
                      created_by=tx.actor_id, sandbox=sandbox, key=key, counts=True)
    tx.session.add(message)
    tx.session.flush()
    for channel in channels:
        tx.session.add(Delivery(
            message_id=message.id, incident_id=incident.id, channel=channel.name, kind=channel.kind,
            state=DeliveryState.QUEUED, sandbox=sandbox, key=f"{key}:{channel.name}"[:100], attempts=0,
            next_attempt_at=tx.now, give_up_at=tx.now + RETRY_WINDOW, interrupted=0, last_error=""))
    names = [c.name for c in channels]
    tx.audit(action=AuditAction.MESSAGE_QUEUE, subject_type=ChangeEntity.INCIDENT, subject_id=incident.id,
             before={}, after={"message": message.id, "template": template, "template_version": template_version,
                               "audience": audience, "channels": names, "subject": subject, "edited": edited,
                               "sandbox": sandbox, "body_sha256": hashlib.sha256(body.encode()).hexdigest()})
    where = "the sandbox outbox (nothing leaves this machine)" if sandbox else ", ".join(names)
    tx.timeline(incident, kind=TimelineKind.COMMUNICATION, text=f"{audience.capitalize()} update sent to {where}: "
                                                                f"{subject}")
    tx.touch(ChangeEntity.INCIDENT, incident.id)
    return message


def _due(now: datetime):  # type: ignore[no-untyped-def]
    return or_(and_(Delivery.state == DeliveryState.QUEUED, Delivery.next_attempt_at <= now),
               and_(Delivery.state == DeliveryState.SENDING, Delivery.lease_until < now))


def claim_due(tx: Transaction, *, policy: Policy, now: datetime, sender_id: str, timeout: float,
              horizon: float, limit: int, skip: frozenset[str] = frozenset()) -> list[Claim]:
    """Claim due deliveries, giving each a send slot within `horizon` seconds that keeps to its channel's rate."""
    session = tx.session
    postgresql = session.get_bind().dialect.name == "postgresql"
    channels = sorted(set(session.execute(select(Delivery.channel).where(_due(now)).distinct()).scalars()) - skip)
    claims: list[Claim] = []
    memo: dict[object, object] = {}  # what many deliveries of one claim share: their incident, components
    for name in channels:
        rows = select(Delivery).where(_due(now), Delivery.channel == name).order_by(Delivery.id).limit(limit)
        if postgresql:  # two consoles' senders never claim the same row
            rows = rows.with_for_update(skip_locked=True)
        due = list(session.execute(rows).scalars())
        channel = policy.channels.get(name)
        claims += [_claim(session, d, channel=channel, send_at=now, sender_id=sender_id, timeout=timeout, memo=memo)
                   for d in due if d.sandbox]  # nothing is sent: no pace to keep
        real = [d for d in due if not d.sandbox]
        if not real:
            continue
        if channel is None:
            for delivery in real:  # the policy dropped it: say so rather than hold the message forever
                fail(tx, delivery=delivery, detail=f"channel {name} is no longer in the impact policy")
            continue
        slot = _slot(session, channel=name, now=now, postgresql=postgresql)
        step = timedelta(seconds=channel.interval)
        at = max(slot.next_send_at, now)
        for delivery in real:
            if at > now + timedelta(seconds=horizon):
                break
            claims.append(_claim(session, delivery, channel=channel, send_at=at, sender_id=sender_id,
                                 timeout=timeout, memo=memo))
            at += step
        slot.next_send_at = at
    return claims


def _slot(session: Session, *, channel: str, now: datetime, postgresql: bool) -> ChannelSlot:
    query = select(ChannelSlot).where(ChannelSlot.channel == channel)
    slot = session.execute(query.with_for_update() if postgresql else query).scalar()
    if slot is None:
        slot = ChannelSlot(channel=channel, next_send_at=now)
        session.add(slot)
    return slot


def _claim(session: Session, delivery: Delivery, *, channel: ChannelDef | None, send_at: datetime, sender_id: str,
           timeout: float, memo: dict[object, object]) -> Claim:
    resent = delivery.state is DeliveryState.SENDING  # its lease ran out mid-send
    if resent:
        delivery.interrupted += 1
    delivery.state = DeliveryState.SENDING
    delivery.claimed_by = sender_id
    delivery.attempts += 1
    delivery.last_attempt_at = send_at
    delivery.lease_until = send_at + timedelta(seconds=timeout) + LEASE_MARGIN
    return Claim(delivery_id=delivery.id, channel=delivery.channel, kind=delivery.kind, sandbox=delivery.sandbox,
                 send_at=send_at, interval=0.0 if delivery.sandbox or channel is None else channel.interval,
                 claimed_by=sender_id, resent=resent,
                 outgoing=_outgoing(session, delivery, channel=channel, sent_at=send_at, memo=memo))


def _outgoing(session: Session, delivery: Delivery, *, channel: ChannelDef | None, sent_at: datetime,
              memo: dict[object, object]) -> Outgoing:
    message = session.get_one(Message, delivery.message_id)
    incident = session.get_one(Incident, delivery.incident_id)
    shared = (incident.id, delivery.channel)
    if shared not in memo:
        earlier = session.execute(
            select(Delivery.provider_ref).where(Delivery.incident_id == incident.id, Delivery.channel == delivery.channel,
                                                Delivery.provider_ref.is_not(None))
            .order_by(Delivery.delivered_at.desc()).limit(1)).scalar()
        memo[shared] = (earlier, MappingProxyType(_components(session, incident, channel)))
    earlier, components = memo[shared]  # type: ignore[misc]
    return Outgoing(idempotency_key=delivery.key, incident_ref=incident_ref(incident.id),
                    incident_title=incident.title, severity=incident.severity.value,
                    incident_status=incident.status.value, audience=message.audience, subject=message.subject,
                    body=message.body, sent_at=sent_at, provider_ref=earlier, components=components)


def _components(session: Session, incident: Incident, mapping: ChannelDef | None) -> dict[str, str]:
    if mapping is None or not mapping.components:
        return {}
    services = set(session.execute(select(Service.name).join(IncidentService, IncidentService.service_id == Service.id)
                                   .where(IncidentService.incident_id == incident.id)).scalars())
    services.add(session.get_one(Service, incident.service_id).name)
    status = ("operational" if incident.status is IncidentStatus.RESOLVED
              else _COMPONENT_STATUS[incident.severity.value])
    return {mapping.components[s]: status for s in sorted(services) if s in mapping.components}


def backoff(*, attempts: int, retry_after: float | None, jitter: float) -> float:
    """Return the seconds before the next attempt: doubling from 5 s, capped at 5 min, jittered, never before
    the provider's Retry-After. `jitter` in [0, 1) spreads retries of many messages apart."""
    delay = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(0, attempts - 1)) * (0.5 + jitter / 2)
    return max(delay, retry_after or 0.0)


def settle(tx: Transaction, *, claim: Claim, outcome: Outcome, jitter: float) -> bool:
    """Record what happened to a claimed delivery; return False when the claim was no longer ours."""
    delivery = tx.session.get(Delivery, claim.delivery_id)
    if delivery is None or delivery.state is not DeliveryState.SENDING or delivery.claimed_by != claim.claimed_by:
        return False  # our lease ran out and another sender took it over: its outcome is the one that counts
    delivery.lease_until = None
    if outcome.kind is OutcomeKind.DELIVERED:
        delivery.state, delivery.delivered_at = DeliveryState.DELIVERED, tx.now
        delivery.provider_ref = outcome.provider_ref or delivery.provider_ref
        delivery.last_error = ""
        _audit(tx, delivery, AuditAction.MESSAGE_DELIVER, outcome.detail)
        return True
    if outcome.kind is OutcomeKind.RETRY:
        delay = backoff(attempts=delivery.attempts, retry_after=outcome.retry_after, jitter=jitter)
        if outcome.retry_after and outcome.status_code in (420, 429):  # the limit is per destination
            slot = tx.session.get(ChannelSlot, delivery.channel)
            if slot is not None:
                slot.next_send_at = max(slot.next_send_at, tx.now + timedelta(seconds=outcome.retry_after))
        retry_at = tx.now + timedelta(seconds=delay)
        if retry_at <= delivery.give_up_at:
            delivery.state, delivery.next_attempt_at, delivery.last_error = DeliveryState.QUEUED, retry_at, outcome.detail
            return True
        minutes = int(RETRY_WINDOW.total_seconds() // 60)
        detail = f"gave up after {delivery.attempts} attempts in {minutes} min: {outcome.detail}"
    else:
        detail = outcome.detail
    fail(tx, delivery=delivery, detail=detail)
    return True


def fail(tx: Transaction, *, delivery: Delivery, detail: str) -> None:
    """Mark a delivery failed for everyone to see; a message every delivery of which failed stops counting."""
    delivery.state, delivery.last_error, delivery.lease_until = DeliveryState.FAILED, detail, None
    message = tx.session.get_one(Message, delivery.message_id)
    others = tx.session.execute(select(Delivery.state).where(Delivery.message_id == message.id,
                                                              Delivery.id != delivery.id)).scalars().all()
    if all(state is DeliveryState.FAILED for state in others):
        message.counts = False
    incident = tx.session.get_one(Incident, delivery.incident_id)
    tx.timeline(incident, kind=TimelineKind.COMMUNICATION,
                text=f"{message.audience.capitalize()} update to {delivery.channel} FAILED: {detail}")
    _audit(tx, delivery, AuditAction.MESSAGE_FAIL, detail)


def _audit(tx: Transaction, delivery: Delivery, action: AuditAction, detail: str) -> None:
    tx.audit(action=action, subject_type=ChangeEntity.INCIDENT, subject_id=delivery.incident_id,
             before={"delivery": delivery.id, "state": DeliveryState.SENDING.value},
             after={"delivery": delivery.id, "channel": delivery.channel, "state": delivery.state.value,
                    "attempts": delivery.attempts, "detail": detail})
    tx.touch(ChangeEntity.INCIDENT, delivery.incident_id)
