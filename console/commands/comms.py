"""Communication commands: send a message (composed, or the due update in one click), save a template
version, send a failed delivery again or dismiss it, and the sender's claim and settle steps.

Sending only queues: the message and its deliveries are written with their audit entry in the operator's
transaction, and the sender delivers them afterwards. Nothing here waits on the network.
"""
from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from console.changes import Changes
from console.commands._common import load_incident
from console.comms import outbox
from console.comms.wire import Outcome
from console.comms.context import sample_context
from console.comms.drafts import draft_for, is_sandboxed
from console.comms.templates import MAX_BODY, MAX_SUBJECT, current_template, shipped_templates
from console.errors import InvalidInput, InvalidTransition, NotFound
from console.policy_store import stored_policy
from console.uow import Transaction, UnitOfWork
from models.comms import Delivery, Message, MessageTemplate
from models.enums import AuditAction, ChangeEntity, DeliveryState, TimelineKind
from models.incident import Incident

MAX_CHANNELS = 12


def send_message(uow: UnitOfWork, *, actor_id: int, incident_id: int, template: str, subject: str, body: str,
                 channels: Sequence[str], edited: bool = False, sandbox: bool = False,
                 idempotency_key: str | None = None) -> Changes:
    """Queue a composed message (the preview as the operator left it) to the chosen channels."""
    with uow.transaction(actor_id=actor_id, idempotency_key=idempotency_key) as tx:
        incident = load_incident(tx, incident_id)
        info = current_template(tx.session, name=template)
        _queue(tx, incident=incident, template=template, version=info.version, audience=info.audience,
               subject=subject, body=body, channels=channels, edited=edited, sandbox=sandbox,
               key=idempotency_key)
    return tx.changes()


def send_due_update(uow: UnitOfWork, *, actor_id: int, incident_id: int, audience: str = "customers",
                    sandbox: bool = False, idempotency_key: str | None = None) -> Changes:
    """Render and queue an audience's usual update with the policy's default channels: the one-click update."""
    with uow.transaction(actor_id=actor_id, idempotency_key=idempotency_key) as tx:
        incident = load_incident(tx, incident_id)
        # Rendered here, inside the transaction, so it says what the incident is at the moment it is queued.
        draft = draft_for(tx.session, incident_id=incident_id, template=None, audience=audience, now=tx.now,
                          sender_id=actor_id, console_sandbox=sandbox)
        if not draft.channels:
            raise InvalidInput(f"{incident.severity} names no channels for {audience} in the impact policy; "
                               "compose the message and pick its channels")
        _queue(tx, incident=incident, template=draft.template, version=draft.template_version,
               audience=draft.audience, subject=draft.subject, body=draft.body, channels=draft.channels,
               edited=False, sandbox=sandbox, key=idempotency_key)
    return tx.changes()


def _queue(tx: Transaction, *, incident: Incident, template: str, version: int, audience: str, subject: str,
           body: str, channels: Sequence[str], edited: bool, sandbox: bool, key: str | None) -> None:
    subject, body = _checked_text(subject=subject, body=body)
    policy = stored_policy(tx.session)
    names = list(dict.fromkeys(channels))
    if not names:
        raise InvalidInput("pick at least one channel to send to")
    if len(names) > MAX_CHANNELS:
        raise InvalidInput(f"{len(names)} channels picked; at most {MAX_CHANNELS} at once")
    chosen = [policy.channel(name=name) for name in names]
    outbox.queue_message(tx, incident=incident, template=template, template_version=version, audience=audience,
                         subject=subject, body=body, edited=edited, channels=chosen,
                         sandbox=is_sandboxed(incident=incident, console_sandbox=sandbox),
                         key=key or uuid.uuid4().hex)


def _checked_text(*, subject: str, body: str) -> tuple[str, str]:
    subject = " ".join(subject.split())
    if not subject:
        raise InvalidInput("the subject is empty; write one line saying what this update is about")
    if len(subject) > MAX_SUBJECT:
        raise InvalidInput(f"the subject is {len(subject)} characters long; the limit is {MAX_SUBJECT}")
    if not body.strip():
        raise InvalidInput("the message is empty")
    if len(body) > MAX_BODY:
        raise InvalidInput(f"the message is {len(body)} characters long; the limit is {MAX_BODY}")
    return subject, body


def save_template(uow: UnitOfWork, *, actor_id: int, name: str, subject: str, body: str, reason: str,
                  title: str | None = None, idempotency_key: str | None = None) -> Changes:
    """Save a new version of a template after checking it renders; the old versions stay as they were."""
    from console.comms.render import check_template  # Jinja2 is imported when first needed, not at start-up

    if not reason.strip():
        raise InvalidInput("say why the template changes: the reason goes into the audit trail")
    sample = sample_context()
    check_template(name=name, part="subject", source=subject, sample=sample)
    check_template(name=name, part="body", source=body, sample=sample)
    if len(subject) > MAX_SUBJECT or len(body) > MAX_BODY:
        raise InvalidInput(f"template {name}: the subject may have {MAX_SUBJECT} characters and the body "
                           f"{MAX_BODY}")
    with uow.transaction(actor_id=actor_id, idempotency_key=idempotency_key) as tx:
        current = current_template(tx.session, name=name)
        if current.subject == subject and current.body == body and (title is None or title == current.title):
            raise InvalidInput(f"template {name} is unchanged: nothing to save")
        if current.created_at is None:  # the shipped file: keep it as version 1, where the history starts
            shipped = shipped_templates()[name]
            tx.session.add(MessageTemplate(name=name, version=1, title=shipped.title, audience=shipped.audience,
                                           purpose=shipped.purpose, subject=shipped.subject, body=shipped.body,
                                           created_at=tx.now, created_by=None, reason="shipped with the console"))
        tx.session.add(MessageTemplate(name=name, version=current.version + 1, title=title or current.title,
                                       audience=current.audience, purpose=current.purpose, subject=subject,
                                       body=body, created_at=tx.now, created_by=actor_id, reason=reason.strip()))
        tx.audit(action=AuditAction.TEMPLATE_SAVE, subject_type=ChangeEntity.ORGANISATION, subject_id=name,
                 before={"version": current.version, "subject": current.subject, "body_sha256": _digest(current.body)},
                 after={"version": current.version + 1, "subject": subject, "body_sha256": _digest(body),
                        "reason": reason.strip()})
        tx.touch(ChangeEntity.ORGANISATION, 0)
    return tx.changes()


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _failed_delivery(tx: Transaction, delivery_id: int) -> Delivery:
    delivery = tx.session.get(Delivery, delivery_id, with_for_update=True)
    if delivery is None:
        raise NotFound(f"delivery #{delivery_id} does not exist")
    if delivery.state is not DeliveryState.FAILED:
        raise InvalidTransition(f"the {delivery.channel} delivery is {delivery.state}, not failed")
    return delivery


def retry_delivery(uow: UnitOfWork, *, actor_id: int, delivery_id: int, idempotency_key: str | None = None) -> Changes:
    """Send a failed delivery again, with the same idempotency key and a fresh 20 minutes of retries."""
    with uow.transaction(actor_id=actor_id, idempotency_key=idempotency_key) as tx:
        delivery = _failed_delivery(tx, delivery_id)
        before = {"delivery": delivery.id, "state": delivery.state.value, "detail": delivery.last_error}
        delivery.state, delivery.next_attempt_at = DeliveryState.QUEUED, tx.now
        delivery.give_up_at = tx.now + outbox.RETRY_WINDOW
        delivery.dismissed_at = delivery.dismissed_by = None
        tx.session.get_one(Message, delivery.message_id).counts = True
        tx.audit(action=AuditAction.MESSAGE_RETRY, subject_type=ChangeEntity.INCIDENT, subject_id=delivery.incident_id,
                 before=before, after={"delivery": delivery.id, "state": delivery.state.value})
        incident = tx.session.get_one(Incident, delivery.incident_id)
        tx.timeline(incident, kind=TimelineKind.COMMUNICATION, text=f"Update to {delivery.channel} sent again")
        tx.touch(ChangeEntity.INCIDENT, delivery.incident_id)
    return tx.changes()


def dismiss_delivery(uow: UnitOfWork, *, actor_id: int, delivery_id: int,
                     idempotency_key: str | None = None) -> Changes:
    """Record that a person has seen a failed delivery and will handle it another way."""
    with uow.transaction(actor_id=actor_id, idempotency_key=idempotency_key) as tx:
        delivery = _failed_delivery(tx, delivery_id)
        if delivery.dismissed_at is not None:
            raise InvalidTransition(f"the failed {delivery.channel} delivery was already dismissed")
        delivery.dismissed_at, delivery.dismissed_by = tx.now, actor_id
        tx.audit(action=AuditAction.MESSAGE_DISMISS, subject_type=ChangeEntity.INCIDENT,
                 subject_id=delivery.incident_id, before={"delivery": delivery.id, "dismissed": False},
                 after={"delivery": delivery.id, "dismissed": True, "detail": delivery.last_error})
        tx.touch(ChangeEntity.INCIDENT, delivery.incident_id)
    return tx.changes()


def claim_deliveries(uow: UnitOfWork, *, sender_id: str, timeout: float, horizon: float, limit: int = 200,
                     skip: frozenset[str] = frozenset()) -> list[outbox.Claim]:
    """Claim the deliveries due now (or within `horizon` s, at their channels' pace) for one sender."""
    with uow.transaction(actor_id=None) as tx:
        return outbox.claim_due(tx, policy=stored_policy(tx.session), now=tx.now, sender_id=sender_id,
                                timeout=timeout, horizon=horizon, limit=limit, skip=skip)


def settle_delivery(uow: UnitOfWork, *, claim: outbox.Claim, outcome: Outcome, jitter: float) -> Changes:
    """Record the outcome of one attempt: delivered, retried later (backoff, Retry-After) or failed."""
    return settle_deliveries(uow, outcomes=[(claim, outcome, jitter)])


def settle_deliveries(uow: UnitOfWork, *, outcomes: Sequence[tuple[outbox.Claim, Outcome, float]]) -> Changes:
    """Record the outcomes of several attempts in one transaction, each with its audit entry."""
    with uow.transaction(actor_id=None) as tx:
        for claim, outcome, jitter in outcomes:
            outbox.settle(tx, claim=claim, outcome=outcome, jitter=jitter)
    return tx.changes()
