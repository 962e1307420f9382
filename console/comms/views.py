"""Read-side of communications: an incident's messages with their deliveries, the failures everyone must see,
the sandbox outbox, and the templates and channels the composer offers."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from console.comms.context import last_updates
from console.comms.drafts import is_sandboxed
from console.comms.dto import ChannelInfo, CommsView, DeliveryItem, MessageItem
from console.comms.templates import current_templates
from console.dto import incident_ref
from console.errors import NotFound
from console.policy_store import stored_policy
from models.comms import Delivery, Message
from models.enums import DeliveryState
from models.incident import Incident
from models.org import Person

_SHOWN = 50


def _delivery(row: Delivery) -> DeliveryItem:
    return DeliveryItem(id=row.id, channel=row.channel, kind=row.kind, state=row.state, attempts=row.attempts,
                        next_attempt_at=row.next_attempt_at, last_error=row.last_error,
                        delivered_at=row.delivered_at, interrupted=row.interrupted,
                        dismissed=row.dismissed_at is not None)


def _messages(session: Session, query) -> tuple[MessageItem, ...]:  # type: ignore[no-untyped-def]
    messages = list(session.execute(query).scalars())
    if not messages:
        return ()
    deliveries: dict[int, list[DeliveryItem]] = {}
    rows = session.execute(select(Delivery).where(Delivery.message_id.in_([m.id for m in messages]))
                           .order_by(Delivery.id)).scalars()
    for row in rows:
        deliveries.setdefault(row.message_id, []).append(_delivery(row))
    names = dict(session.execute(select(Person.id, Person.name).where(
        Person.id.in_({m.created_by for m in messages if m.created_by is not None}))).all())
    return tuple(MessageItem(id=m.id, incident_id=m.incident_id, template=m.template, audience=m.audience,
                             subject=m.subject, body=m.body, created_at=m.created_at,
                             created_by=names.get(m.created_by, "system"), sandbox=m.sandbox, edited=m.edited,
                             deliveries=tuple(deliveries.get(m.id, ()))) for m in messages)


def comms_view(session: Session, *, incident_id: int, endpoint_set: Callable[[str], bool],
               console_sandbox: bool) -> CommsView:
    """Return what the incident's Communications tab shows."""
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise NotFound(f"incident {incident_ref(incident_id)} does not exist")
    policy = stored_policy(session)
    level = policy.level(severity=incident.severity)
    templates = current_templates(session)
    listed = [templates[name] for name in level.templates if name in templates]
    listed += [t for name, t in templates.items() if name not in level.templates]  # the rest, after
    channels = tuple(ChannelInfo(name=c.name, kind=c.kind, description=c.description, per_second=c.per_second,
                                 endpoint_set=endpoint_set(c.name)) for c in policy.channels.values())
    messages = _messages(session, select(Message).where(Message.incident_id == incident_id)
                         .order_by(Message.id.desc()).limit(_SHOWN))
    return CommsView(incident_id=incident_id, messages=messages, templates=tuple(listed), channels=channels,
                     cadence=tuple((a.value, m) for a, m in level.updates.items()),
                     last_update=tuple(sorted(last_updates(session, incident_id=incident_id).items())),
                     sandbox=is_sandboxed(incident=incident, console_sandbox=console_sandbox))


def failures(session: Session) -> tuple[tuple[str, MessageItem], ...]:
    """Return every failed delivery nobody has handled, as (incident ref, its message with that delivery)."""
    failed = list(session.execute(
        select(Delivery).where(Delivery.state == DeliveryState.FAILED, Delivery.dismissed_at.is_(None))
        .order_by(Delivery.id.desc()).limit(_SHOWN)).scalars())
    messages = {m.id: m for m in _messages(session, select(Message).where(
        Message.id.in_({d.message_id for d in failed})))} if failed else {}
    return tuple((incident_ref(d.incident_id), replace(messages[d.message_id], deliveries=tuple(
        x for x in messages[d.message_id].deliveries if x.id == d.id))) for d in failed)


def sandbox_outbox(session: Session, *, limit: int = 200) -> tuple[MessageItem, ...]:
    """Return the newest messages kept on this machine (demo and trainer mode)."""
    return _messages(session, select(Message).where(Message.sandbox.is_(True)).order_by(Message.id.desc())
                     .limit(limit))
