"""Decision rights and signing keys: load a rights file as a new version (who and why audited, the grants the
database checks replaced in the same transaction), and register or revoke a leader's public signing key."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import delete, select

from console.changes import Changes
from console.commands._common import clean_text
from console.errors import InvalidInput, NotFound
from console.routing.rights import DEFAULT_PATH, load_rights as parse_rights
from console.uow import Transaction, UnitOfWork
from models.enums import AuditAction, ChangeEntity
from models.mitigation import DecisionRight, RightsVersion, SigningKey
from models.org import Person, Service

RIGHTS_ENTITY = ChangeEntity.ORGANISATION


def apply_rights_load(tx: Transaction, *, path: Path, reason: str) -> RightsVersion | None:
    """Record the rights file as the current version and replace the grants; None when it is unchanged."""
    people = {h: i for h, i in tx.session.execute(select(Person.handle, Person.id))}
    services = set(tx.session.execute(select(Service.name)).scalars())
    policy = parse_rights(path=path, people=people, services=services)  # refuses a broken file, line and reason
    current = tx.session.execute(select(RightsVersion).order_by(RightsVersion.id.desc()).limit(1)).scalar()
    if current is not None and current.digest == policy.digest:
        return None
    version = RightsVersion(version=policy.version, digest=policy.digest, content=path.read_text(encoding="utf-8"),
                            loaded_at=tx.now, loaded_by=tx.actor_id, reason=reason)
    tx.session.add(version)
    before = sorted(f"{h}:{c}" for h, c in tx.session.execute(
        select(Person.handle, DecisionRight.action_class).join(Person, Person.id == DecisionRight.person_id)))
    tx.session.execute(delete(DecisionRight))
    grants = sorted(policy.grants())
    tx.session.add_all(DecisionRight(person_id=people[leader], action_class=name) for leader, name in grants)
    after = sorted(f"{h}:{c}" for h, c in grants)
    tx.audit(action=AuditAction.RIGHTS_LOAD, subject_type=RIGHTS_ENTITY, subject_id="decision_rights",
             before={"version": current.version, "digest": current.digest} if current else {},
             after={"version": policy.version, "digest": policy.digest, "reason": reason,
                    "granted": sorted(set(after) - set(before)), "withdrawn": sorted(set(before) - set(after))})
    tx.touch(RIGHTS_ENTITY, 0)
    return version


def load_rights(uow: UnitOfWork, *, actor_id: int | None, reason: str, path: Path | None = None) -> Changes:
    """Load a decision-rights file as the new version; loading the same text again changes nothing."""
    reason = clean_text(reason, field="a reason for the decision-rights change", limit=2000)
    with uow.transaction(actor_id=actor_id) as tx:
        apply_rights_load(tx, path=path or DEFAULT_PATH, reason=reason)
    return tx.changes()


def register_signing_key(uow: UnitOfWork, *, actor_id: int, public_key: str,
                         idempotency_key: str | None = None) -> Changes:
    """Record a leader's new public signing key; only the leader themself registers their key."""
    key = public_key.strip().lower()
    if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
        raise InvalidInput("a public signing key is 64 hex digits (a raw Ed25519 key)")
    with uow.transaction(actor_id=actor_id, idempotency_key=idempotency_key) as tx:
        if tx.session.execute(select(SigningKey.id).where(SigningKey.public_key == key)).first() is not None:
            raise InvalidInput("that public key is already registered")
        row = SigningKey(person_id=actor_id, public_key=key, created_at=tx.now)
        tx.session.add(row)
        tx.session.flush()
        tx.audit(action=AuditAction.KEY_REGISTER, subject_type=ChangeEntity.ORGANISATION, subject_id=f"key-{row.id}",
                 before={}, after={"person_id": actor_id, "public_key": key})
        tx.touch(ChangeEntity.ORGANISATION, 0)
    return tx.changes()


def revoke_signing_key(uow: UnitOfWork, *, actor_id: int, key_id: int, reason: str) -> Changes:
    """Revoke a signing key (lost laptop, forgotten passphrase): it signs nothing new; old signatures stay valid."""
    reason = clean_text(reason, field="a reason for revoking the key", limit=2000)
    with uow.transaction(actor_id=actor_id) as tx:
        row = tx.session.get(SigningKey, key_id)
        if row is None:
            raise NotFound(f"signing key #{key_id} does not exist")
        if row.revoked_at is not None:
            raise InvalidInput(f"signing key #{key_id} was already revoked")
        row.revoked_at = tx.now
        tx.audit(action=AuditAction.KEY_REVOKE, subject_type=ChangeEntity.ORGANISATION, subject_id=f"key-{row.id}",
                 before={"revoked_at": None}, after={"revoked_at": tx.now, "reason": reason})
        tx.touch(ChangeEntity.ORGANISATION, 0)
    return tx.changes()
