"""Signed decisions on mitigations, and the tick that reminds before an approved mitigation expires.

A decision arrives already signed: the leader's passphrase opened their key on their own machine
(console/mitigations/sign_off.py), so no secret ever passes through a command, the outbox or the database.
Here the signature is checked against the request as the database holds it now, together with four eyes and
the decision right; the database checks the last two again by itself (migration 0006).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select

from console.changes import Changes
from console.commands._common import clean_text, parse_enum, require_open
from console.commands.mitigations import load_mitigation
from console.errors import Conflict, InvalidInput, NotFound, NotPermitted
from console.mitigations.rights_store import stored_rights
from console.mitigations.rules import refusal
from console.mitigations.signed import ask_content, decision_content, mitigation_ref, signed_text
from console.signing import verify_signature
from console.uow import UnitOfWork
from models.enums import AskKind, AskState, AuditAction, ChangeEntity, MitigationState, TimelineKind, Verdict
from models.mitigation import Mitigation, MitigationAsk, MitigationDecision, SigningKey

# A signature older than this is refused: a decision kept offline for hours is signed again by a person
# who has seen what happened since.
FRESH = timedelta(minutes=15)
DEFAULT_REMINDER_MINUTES = 10


def decide_mitigation(uow: UnitOfWork, *, actor_id: int, ask_id: int, verdict: str, reason: str, decided_at: str,
                      public_key: str, signature: str, idempotency_key: str | None = None) -> Changes:
    """Record a leader's signed approval or rejection of a request or an extension."""
    outcome = parse_enum(Verdict, verdict, field="verdict")
    reason = clean_text(reason, field="a reason for the decision", limit=2000)
    at = _signed_time(decided_at)
    with uow.transaction(actor_id=actor_id, idempotency_key=idempotency_key) as tx:
        ask = tx.session.get(MitigationAsk, ask_id, with_for_update=True)
        if ask is None:
            raise NotFound(f"there is no request #{ask_id} to decide")
        mitigation, incident = load_mitigation(tx, ask.mitigation_id)
        ref = mitigation_ref(mitigation.id)
        require_open(incident, action=f"decide {ref} on")
        stop = refusal(ask=ask, mitigation=mitigation, incident=incident, leader_id=actor_id,
                       leader_handle=tx.actor_label, rights=stored_rights(tx.session))
        if stop is not None:
            raise stop
        key = tx.session.execute(select(SigningKey).where(SigningKey.public_key == public_key)).scalar()
        if key is None or key.person_id != actor_id:
            raise NotPermitted(f"that signing key is not registered to {tx.actor_label} in this database")
        if key.revoked_at is not None:
            raise NotPermitted(f"that signing key was revoked on {key.revoked_at:%Y-%m-%d %H:%M} UTC; create a new one")
        if abs(tx.now - at) > FRESH:
            raise Conflict(f"{ref}: the decision was signed at {at:%H:%M:%S} UTC, too long ago; review and sign again")
        signed = signed_text(ask=ask_content(mitigation=mitigation, ask=ask),
                             decision=decision_content(verdict=outcome.value, reason=reason, decided_by=actor_id,
                                                       decided_at=at, public_key=public_key,
                                                       severity=incident.severity.value))
        if not verify_signature(public_key=public_key, content=signed, signature=signature):
            raise Conflict(f"{ref} (or its incident's severity) changed after you reviewed it, so your signature "
                           "is not over what it says now: review it again and sign")
        tx.session.add(MitigationDecision(ask_id=ask.id, incident_id=incident.id, requested_by=ask.requested_by,
                                          decided_by=actor_id, decided_at=at, verdict=outcome, reason=reason,
                                          key_id=key.id, signed=signed, signature=signature))
        before = {"mitigation": mitigation.id, "state": mitigation.state, "expires_at": mitigation.expires_at}
        ask.state = AskState.APPROVED if outcome is Verdict.APPROVED else AskState.REJECTED
        text = _apply(mitigation, ask, outcome, now=tx.now)
        who = tx.actor.name if tx.actor else tx.actor_label
        tx.timeline(incident, kind=TimelineKind.MITIGATION, text=f"{who} {text} — “{reason}” (signed)")
        approved = outcome is Verdict.APPROVED
        tx.audit(action=AuditAction.MITIGATION_APPROVE if approved else AuditAction.MITIGATION_REJECT,
                 subject_type=ChangeEntity.INCIDENT, subject_id=incident.id, before=before,
                 after={"mitigation": mitigation.id, "ask": ask.id, "kind": ask.kind, "state": mitigation.state,
                        "expires_at": mitigation.expires_at, "verdict": outcome, "reason": reason,
                        "signed": signed, "signature": signature, "public_key": public_key})
        tx.touch_incident(incident)
    return tx.changes()


def _apply(mitigation: Mitigation, ask: MitigationAsk, outcome: Verdict, *, now: datetime) -> str:
    """Move the mitigation on for a decision; return what happened, for the timeline."""
    ref = mitigation_ref(mitigation.id)
    if outcome is Verdict.REJECTED:
        if ask.kind is AskKind.INITIAL:
            mitigation.state, mitigation.ended_at = MitigationState.REJECTED, now
            return f"rejected {ref} ({mitigation.action})"
        return f"refused to extend {ref}"
    if ask.kind is AskKind.INITIAL:
        mitigation.state, mitigation.approved_at = MitigationState.ACTIVE, now
        mitigation.expires_at = now + timedelta(minutes=ask.minutes)
        return f"approved {ref} ({mitigation.action}) until {mitigation.expires_at:%H:%M} UTC"
    # An extension counts from the current expiry, or from now if it has passed already.
    start = max(mitigation.expires_at or now, now)
    mitigation.state, mitigation.expires_at, mitigation.reminded_at = (MitigationState.ACTIVE,
                                                                       start + timedelta(minutes=ask.minutes), None)
    return f"extended {ref} by {ask.minutes} min, until {mitigation.expires_at:%H:%M} UTC"


def mitigation_tick(uow: UnitOfWork) -> Changes:
    """Remind before approved mitigations expire and mark those past expiry; running it twice does nothing more."""
    # Every console ticks every few seconds and nearly always nothing is due: look first in a read, so the tick
    # takes the write lock (SQLite: the whole file) only when there is something to write.
    with uow.db.reader() as session:
        rights = stored_rights(session)
        lead = timedelta(minutes=rights.reminder_minutes if rights else DEFAULT_REMINDER_MINUTES)
        if session.execute(_due(now=uow.clock.now(), lead=lead).limit(1)).first() is None:
            return Changes()
    with uow.transaction(actor_id=None) as tx:
        for mitigation in tx.session.execute(_due(now=tx.now, lead=lead).with_for_update()).scalars().all():
            _, incident = load_mitigation(tx, mitigation.id)
            ref = mitigation_ref(mitigation.id)
            assert mitigation.expires_at is not None
            if mitigation.expires_at <= tx.now:
                mitigation.state = MitigationState.EXPIRED
                action = AuditAction.MITIGATION_EXPIRE
                text = (f"{ref} ({mitigation.action}) expired at {mitigation.expires_at:%H:%M} UTC: revert it "
                        f"({mitigation.revert_plan}) or get an extension approved")
            else:
                mitigation.reminded_at = tx.now
                minutes = max(1, round((mitigation.expires_at - tx.now).total_seconds() / 60))
                action = AuditAction.MITIGATION_REMIND
                text = f"{ref} ({mitigation.action}) expires in {minutes} min: revert it or ask for an extension"
            tx.timeline(incident, kind=TimelineKind.MITIGATION, text=text)
            tx.audit(action=action, subject_type=ChangeEntity.INCIDENT, subject_id=incident.id,
                     before={"mitigation": mitigation.id}, after={"mitigation": mitigation.id,
                                                                  "state": mitigation.state,
                                                                  "expires_at": mitigation.expires_at})
            tx.touch_incident(incident)
    return tx.changes()


def _due(*, now: datetime, lead: timedelta) -> Any:
    """Select the approved mitigations the tick must act on: expired, or within the lead and not yet reminded."""
    return select(Mitigation).where(Mitigation.state == MitigationState.ACTIVE, or_(
        Mitigation.expires_at <= now,
        and_(Mitigation.reminded_at.is_(None), Mitigation.expires_at <= now + lead))).order_by(Mitigation.id)


def _signed_time(text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        raise InvalidInput(f"decided_at: {text!r} is not an ISO 8601 time") from None
    if at.tzinfo is None:
        raise InvalidInput("decided_at: the time of a decision must carry its UTC offset")
    return at
