"""Signing off on this machine: read what is to be decided, open the leader's key with their passphrase, sign.

The result is a plain `SignedDecision` whose fields are the arguments of commands.decide_mitigation: it may
wait in the outbox like any action, because it holds a signature and never the passphrase or the key.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from console.errors import InvalidInput, NotFound
from console.mitigations.signed import ask_content, decision_content, signed_text
from console.signing import SigningKeyring, sign
from models.enums import Verdict
from models.incident import Incident
from models.mitigation import Mitigation, MitigationAsk


@dataclass(frozen=True)
class DecisionDraft:
    """What the leader reviews and signs: the ask as the database holds it, and the incident's severity."""

    ask_id: int
    mitigation_id: int
    incident_id: int
    severity: str
    ask: dict[str, Any]


@dataclass(frozen=True)
class SignedDecision:
    ask_id: int
    verdict: str
    reason: str
    decided_at: str
    public_key: str
    signature: str

    def command_args(self) -> dict[str, Any]:
        return asdict(self)


def decision_draft(session: Session, *, ask_id: int) -> DecisionDraft:
    """Read an ask to be decided, exactly as it will be signed."""
    ask = session.get(MitigationAsk, ask_id)
    if ask is None:
        raise NotFound(f"there is no request #{ask_id} to decide")
    mitigation = session.get_one(Mitigation, ask.mitigation_id)
    incident = session.get_one(Incident, mitigation.incident_id)
    return DecisionDraft(ask_id=ask.id, mitigation_id=mitigation.id, incident_id=incident.id,
                         severity=incident.severity.value, ask=ask_content(mitigation=mitigation, ask=ask))


def sign_decision(*, draft: DecisionDraft, verdict: Verdict | str, reason: str, leader_id: int, handle: str,
                  passphrase: str, keyring: SigningKeyring, now: datetime) -> SignedDecision:
    """Open the leader's key with their passphrase and sign the decision; a wrong passphrase is refused."""
    verdict = Verdict(verdict)
    reason = reason.strip()
    if not reason:
        raise InvalidInput("say why: the reason is signed with the decision")
    private = keyring.unlock(handle=handle, passphrase=passphrase)
    public_key = keyring.public_key_of(handle=handle) or ""
    text = signed_text(ask=draft.ask, decision=decision_content(
        verdict=verdict.value, reason=reason, decided_by=leader_id, decided_at=now, public_key=public_key,
        severity=draft.severity))
    return SignedDecision(ask_id=draft.ask_id, verdict=verdict.value, reason=reason, decided_at=now.isoformat(),
                          public_key=public_key, signature=sign(private_key=private, content=text))
