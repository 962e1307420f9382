"""Shared set-up for the mitigation tests: decision rights for the small test organisation, leaders' keys,
and a signed decision made the way the console makes one."""
from __future__ import annotations

import uuid
from pathlib import Path

from console import commands
from console.credentials import SessionSecrets
from console.mitigations.sign_off import SignedDecision, decision_draft, sign_decision
from console.signing import SigningKeyring, create_key
from console.uow import UnitOfWork
from models.enums import Verdict
from models.mitigation import MitigationAsk

PASSPHRASE = "correct horse battery"

# alice leads Identity: reversible actions on both services, any severity. carol may fail over identity at SEV1.
RIGHTS = """
version = "test-1"
reminder = "10m"

[classes.rollback]
description = "Roll back a deploy"
max_duration = "4h"

[classes.failover]
description = "Fail over a region"
max_duration = "2h"

[[rights]]
leader = "alice"
classes = ["rollback"]
services = ["identity", "checkout"]
severities = ["SEV1", "SEV2", "SEV3", "SEV4"]

[[rights]]
leader = "carol"
classes = ["rollback", "failover"]
services = ["identity"]
severities = ["SEV1"]
"""


class ScratchKeyring(SigningKeyring):
    """The real keyring class under a name no real leader has, forgotten after the test."""

    def __init__(self) -> None:
        super().__init__(SessionSecrets(what="signing key"))
        self.prefix = f"icc-test-{uuid.uuid4().hex[:8]}-"
        self.used: set[str] = set()

    def key_name(self, handle: str) -> str:  # type: ignore[override]
        self.used.add(handle)
        return f"signing-key:{self.prefix}{handle}"

    def cleanup(self) -> None:
        for handle in list(self.used):
            self.forget(handle=handle)


def load_test_rights(uow: UnitOfWork, tmp_path: Path, text: str = RIGHTS) -> None:
    path = tmp_path / "rights.toml"
    path.write_text(text, encoding="utf-8")
    commands.load_rights(uow, actor_id=None, reason="test rights", path=path)


def enrol(uow: UnitOfWork, keyring: SigningKeyring, *, person_id: int, handle: str) -> str:
    """Give a leader a signing key: sealed in the keyring, public half registered. Return the public key."""
    key = create_key(passphrase=PASSPHRASE)
    keyring.put(handle=handle, key=key)
    commands.register_signing_key(uow, actor_id=person_id, public_key=key.public_key)
    return key.public_key


def request(uow: UnitOfWork, *, incident: int, by: int, action_class: str = "rollback",
            services: tuple[str, ...] = ("identity",), minutes: int = 60) -> int:
    commands.request_mitigation(uow, actor_id=by, incident_id=incident, action="Roll back identity to 2026.11.30",
                                action_class=action_class, services=services, regions=["eu-west-1"],
                                tenants=[], risk="medium", evidence="Errors began with the 10:02 deploy",
                                revert_plan="Redeploy 2026.12.01", minutes=minutes)
    with uow.db.reader() as s:
        from sqlalchemy import func, select

        return int(s.execute(select(func.max(MitigationAsk.id))).scalar_one())


def signed(uow: UnitOfWork, keyring: SigningKeyring, *, ask_id: int, leader: int, handle: str,
           verdict: Verdict = Verdict.APPROVED, reason: str = "Evidence is clear; go",
           passphrase: str = PASSPHRASE) -> SignedDecision:
    with uow.db.reader() as s:
        draft = decision_draft(s, ask_id=ask_id)
    return sign_decision(draft=draft, verdict=verdict, reason=reason, leader_id=leader, handle=handle,
                         passphrase=passphrase, keyring=keyring, now=uow.clock.now())


def decide(uow: UnitOfWork, keyring: SigningKeyring, *, ask_id: int, leader: int, handle: str,
           verdict: Verdict = Verdict.APPROVED) -> None:
    decision = signed(uow, keyring, ask_id=ask_id, leader=leader, handle=handle, verdict=verdict)
    commands.decide_mitigation(uow, actor_id=leader, **decision.command_args())
