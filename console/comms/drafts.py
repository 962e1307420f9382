"""Render a template for an incident into a draft: the preview the operator reads, edits and sends.

Which template and which channels by default: the severity's channels for the template's audience in the impact
policy; the due update of an audience uses that audience's usual template (the resolution notice once resolved).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from console.comms.context import build_context
from console.comms.dto import Draft, TemplateInfo
from console.comms.templates import current_template
from console.dto import incident_ref
from console.errors import InvalidInput
from console.policy_store import stored_policy
from console.routing.vocabulary import Audience
from models.enums import IncidentOrigin, IncidentStatus
from models.incident import Incident
from models.org import Person

_USUAL = {"internal": "internal_brief", "customers": "customer_update", "executives": "executive_summary"}


def usual_template(*, audience: str, resolved: bool) -> str:
    """Return the template an audience's scheduled update uses."""
    if audience == "customers" and resolved:
        return "resolution_notice"
    try:
        return _USUAL[audience]
    except KeyError:
        raise InvalidInput(f"{audience!r} is not an audience: internal, customers or executives") from None


def default_channels(session: Session, *, incident: Incident, audience: str) -> tuple[str, ...]:
    """Return the channels the impact policy names for this severity and audience."""
    level = stored_policy(session).level(severity=incident.severity)
    return level.channels.get(Audience(audience), ())


def is_sandboxed(*, incident: Incident, console_sandbox: bool) -> bool:
    """Say whether messages on this incident stay on this machine: always in the demo and trainer's consoles,
    and always for the demo feed's own incidents, whichever console sends them."""
    return console_sandbox or incident.origin is IncidentOrigin.DEMO


def render_draft(session: Session, *, incident: Incident, template: TemplateInfo, now: datetime,
                 sender: Person | None, console_sandbox: bool) -> Draft:
    """Render a template with the incident's facts as they are now; raise TemplateRefused naming the line."""
    from console.comms.render import render_text  # Jinja2 costs ~85 ms to import: not at start-up

    context = build_context(session, incident=incident, now=now, sender=sender)
    subject = render_text(name=template.name, part="subject", source=template.subject, context=context)
    body = render_text(name=template.name, part="body", source=template.body, context=context)
    return Draft(incident_id=incident.id, template=template.name, template_version=template.version,
                 audience=template.audience, subject=" ".join(subject.split()), body=body.strip() + "\n",
                 channels=default_channels(session, incident=incident, audience=template.audience),
                 sandbox=is_sandboxed(incident=incident, console_sandbox=console_sandbox))


def draft_for(session: Session, *, incident_id: int, template: str | None, audience: str | None, now: datetime,
              sender_id: int | None, console_sandbox: bool) -> Draft:
    """Return the draft of a named template, or of an audience's usual one."""
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise InvalidInput(f"incident {incident_ref(incident_id)} does not exist")
    if template is None:
        template = usual_template(audience=audience or "customers",
                                  resolved=incident.status is IncidentStatus.RESOLVED)
    sender = session.get(Person, sender_id) if sender_id is not None else None
    return render_draft(session, incident=incident, template=current_template(session, name=template), now=now,
                        sender=sender, console_sandbox=console_sandbox)


def preview_with_sample(*, name: str, subject: str, body: str) -> str:
    """Check a template being edited and render it with sample facts; raise TemplateRefused naming the line."""
    from console.comms.context import sample_context
    from console.comms.render import check_template, render_text

    sample = sample_context()
    for part, source in (("subject", subject), ("body", body)):
        check_template(name=name, part=part, source=source, sample=sample)
    return (f"{render_text(name=name, part='subject', source=subject, context=sample).strip()}\n\n"
            f"{render_text(name=name, part='body', source=body, context=sample)}")
