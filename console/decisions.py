"""Record why something was decided, inside the transaction that acts on it: the rule, the inputs, the
thresholds, the policy version and one sentence anyone can read."""
from __future__ import annotations

from typing import Any

from console.audit import canonical_json
from console.uow import Transaction
from models.enums import DecisionKind
from models.routing import Decision

MANUAL = "manual"  # rule id of a decision a person took


def record(tx: Transaction, *, incident_id: int | None, kind: DecisionKind, rule_id: str, summary: str,
           policy_version: str = MANUAL, inputs: dict[str, Any] | None = None,
           thresholds: dict[str, Any] | None = None, signal_id: int | None = None, by_person: bool = False) -> None:
    """Store a decision with its reason; `by_person` marks one the operator took (not automation)."""
    tx.session.add(Decision(
        incident_id=incident_id, signal_id=signal_id, at=tx.now, kind=kind, rule_id=rule_id,
        policy_version=policy_version, summary=summary, inputs=canonical_json(inputs or {}),
        thresholds=canonical_json(thresholds or {}), decided_by=tx.actor_id if by_person else None,
    ))
