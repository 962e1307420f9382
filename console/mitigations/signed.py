"""The exact content a leader signs, rebuilt from the database rows, and the check of a stored decision.

What is signed: the ask (the mitigation as requested, or the extension) and the decision, as canonical JSON.
The ask part is rebuilt from the rows whenever a decision is checked, so a request changed after it was signed
(through raw SQL, say) no longer matches its signature; the decision part must equal the decision row. The
incident's severity at the time of the decision is signed too, but it lives only in the signed text: the
incident's severity may rightly change later.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy.orm import Session

from console.audit import canonical_json
from console.dto import incident_ref
from console.signing import verify_signature
from models.mitigation import Mitigation, MitigationAsk, MitigationDecision, SigningKey

FORMAT = "icc-mitigation-decision-1"


def mitigation_ref(mitigation_id: int) -> str:
    """Return the human reference of a mitigation, e.g. MIT-12."""
    return f"MIT-{mitigation_id}"


def utc_text(at: datetime) -> str:
    return at.astimezone(timezone.utc).isoformat(timespec="microseconds")


def ask_content(*, mitigation: Mitigation, ask: MitigationAsk) -> dict[str, Any]:
    """Return what a leader is asked to authorize, as plain data."""
    return {
        "mitigation": {
            "id": mitigation.id, "incident": incident_ref(mitigation.incident_id), "action": mitigation.action,
            "class": mitigation.action_class, "scope": json.loads(mitigation.scope), "risk": mitigation.risk.value,
            "evidence": mitigation.evidence, "revert_plan": mitigation.revert_plan, "minutes": mitigation.minutes,
            "requested_by": mitigation.requested_by, "requested_at": utc_text(mitigation.requested_at),
        },
        "ask": {"id": ask.id, "kind": ask.kind.value, "minutes": ask.minutes, "reason": ask.reason,
                "requested_by": ask.requested_by, "requested_at": utc_text(ask.requested_at)},
    }


def decision_content(*, verdict: str, reason: str, decided_by: int, decided_at: datetime, public_key: str,
                     severity: str) -> dict[str, Any]:
    return {"verdict": verdict, "reason": reason, "decided_by": decided_by, "decided_at": utc_text(decided_at),
            "public_key": public_key, "severity": severity}


def signed_text(*, ask: dict[str, Any], decision: dict[str, Any]) -> str:
    """Return the one canonical text that is signed for an ask and its decision."""
    return canonical_json({"format": FORMAT, **ask, "decision": decision})


@dataclass(frozen=True)
class SignatureCheck:
    valid: bool
    reason: str = ""


def check_decision(session: Session, *, decision: MitigationDecision) -> SignatureCheck:
    """Check a stored decision: its signature, and that what it signed is still what the rows say."""
    key = session.get(SigningKey, decision.key_id)
    ask = session.get(MitigationAsk, decision.ask_id)
    mitigation = session.get(Mitigation, ask.mitigation_id) if ask else None
    if key is None or ask is None or mitigation is None:
        return SignatureCheck(False, "the key, the ask or the mitigation it refers to is missing")
    if not verify_signature(public_key=key.public_key, content=decision.signed, signature=decision.signature):
        return SignatureCheck(False, "the signature does not match the signed text")
    try:
        signed = json.loads(decision.signed)
    except ValueError:
        return SignatureCheck(False, "the signed text is not JSON")
    expected_ask = ask_content(mitigation=mitigation, ask=ask)
    if {k: signed.get(k) for k in expected_ask} != expected_ask:
        return SignatureCheck(False, "the request was changed after it was signed")
    stated = signed.get("decision", {})
    expected = decision_content(verdict=decision.verdict.value, reason=decision.reason,
                                decided_by=decision.decided_by, decided_at=decision.decided_at,
                                public_key=key.public_key, severity=stated.get("severity", ""))
    if stated != expected:
        return SignatureCheck(False, "the decision was changed after it was signed")
    return SignatureCheck(True)


def check_exported(*, after: dict[str, Any]) -> SignatureCheck:
    """Check the signature carried by an exported `mitigation.approve`/`reject` audit entry, offline."""
    try:
        signed, signature, public_key = after["signed"], after["signature"], after["public_key"]
        decision = json.loads(signed)["decision"]
    except (KeyError, TypeError, ValueError):
        return SignatureCheck(False, "the entry carries no signed decision")
    if not verify_signature(public_key=public_key, content=signed, signature=signature):
        return SignatureCheck(False, "the signature does not match the signed text")
    if (decision.get("verdict"), decision.get("reason"), decision.get("public_key")) != (
            after.get("verdict"), after.get("reason"), public_key):
        return SignatureCheck(False, "the entry's verdict or reason differs from what was signed")
    return SignatureCheck(True)
