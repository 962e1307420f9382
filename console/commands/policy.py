"""Load the impact policy into the database: a new version only when the text changed, with who and why in
the audit trail, and the impact levels (acknowledgement times, update cadences) taken from it."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from console.changes import Changes
from console.commands._common import clean_text
from console.routing.policy import DEFAULT_PATH, load_policy as parse_policy
from console.routing.vocabulary import Audience, Recipient
from console.uow import Transaction, UnitOfWork
from models.enums import AuditAction, ChangeEntity
from models.policy import ImpactLevel
from models.routing import PolicyVersion

POLICY_ENTITY = ChangeEntity.ORGANISATION


def apply_load(tx: Transaction, *, path: Path, reason: str) -> PolicyVersion | None:
    """Record the policy file as the current version and apply its levels; None when it is unchanged."""
    text = path.read_text(encoding="utf-8")
    policy = parse_policy(path=path, text=text)  # refuses a broken file with its line and reason
    current = tx.session.execute(select(PolicyVersion).order_by(PolicyVersion.id.desc()).limit(1)).scalar()
    if current is not None and current.digest == policy.digest:
        return None
    version = PolicyVersion(version=policy.version, digest=policy.digest, content=text, loaded_at=tx.now,
                            loaded_by=tx.actor_id, reason=reason)
    tx.session.add(version)
    for level in policy.levels:
        row = tx.session.get(ImpactLevel, level.severity) or ImpactLevel(severity=level.severity)
        row.name, row.description, row.criteria = level.name, level.description, row.criteria or ""
        row.ack_minutes = level.ack_minutes
        row.internal_update_minutes = level.update_minutes(audience=Audience.INTERNAL) or 0
        row.customer_update_minutes = level.update_minutes(audience=Audience.CUSTOMERS)
        row.executive_update_minutes = level.update_minutes(audience=Audience.EXECUTIVES)
        row.page_executives = Recipient.EXECUTIVE_ROSTER in level.page
        tx.session.add(row)
    tx.audit(action=AuditAction.POLICY_LOAD, subject_type=POLICY_ENTITY, subject_id="policy",
             before={"version": current.version, "digest": current.digest} if current else {},
             after={"version": policy.version, "digest": policy.digest, "reason": reason})
    tx.touch(POLICY_ENTITY, 0)
    return version


def load_policy(uow: UnitOfWork, *, actor_id: int | None, reason: str, path: Path | None = None) -> Changes:
    """Load a policy file as the new version (who and why are audited); loading the same text again is a no-op."""
    reason = clean_text(reason, field="a reason for the policy change", limit=2000)
    with uow.transaction(actor_id=actor_id) as tx:
        apply_load(tx, path=path or DEFAULT_PATH, reason=reason)
    return tx.changes()
