"""How long a leader waits on the sign-off, and what a signed decision costs the database. No targets in the
issue; these are the figures a person would ask about.

1. sign: open the sealed key with the passphrase (scrypt n=2^15, r=8, p=1, the shipped cost) and sign the
   decision, as the sign-off does on a worker when Approve is pressed.
2. decide: `commands.decide_mitigation` (rebuild the canonical text from the rows, verify the signature, four
   eyes, rights, write the decision, its timeline event and audit entry) on the demo organisation, each on a
   fresh request, on SQLite (a file, WAL, synchronous=FULL) and on PostgreSQL.
3. verify: `mitigation verify` (every decision's signature and its text against the rows), per decision.

Run: .venv/bin/python bench/mitigations.py [--n 200] [--pg URL | --no-pg]
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse  # noqa: E402
import io  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from sqlalchemy import func, select  # noqa: E402

from bench._databases import PG_URL, pg_database, pg_version, sqlite_database  # noqa: E402
from bench._report import machine, report_untargeted  # noqa: E402
from console import commands  # noqa: E402
from console.clock import SystemClock  # noqa: E402
from console.credentials import SessionSecrets  # noqa: E402
from console.db import Database  # noqa: E402
from console.mitigations.cli import verify_decisions  # noqa: E402
from console.mitigations.sign_off import decision_draft, sign_decision  # noqa: E402
from console.queries import find_person  # noqa: E402
from console.schema import upgrade  # noqa: E402
from console.signing import SigningKeyring, create_key  # noqa: E402
from console.uow import UnitOfWork  # noqa: E402
from models.incident import Incident  # noqa: E402
from models.mitigation import MitigationAsk  # noqa: E402
from models.org import Service  # noqa: E402

PASSPHRASE = "a bench passphrase"


def run(db: Database, *, label: str, n: int) -> None:
    upgrade(db)
    uow = UnitOfWork(db, SystemClock())
    commands.seed_demo(uow)
    with db.reader() as s:
        leader = find_person(s, handle="jcarter")
        asker = find_person(s, handle="ocruz")
        incident, service = s.execute(select(Incident.id, Service.name).join(Service, Service.id == Incident.service_id)
                                      .where(Incident.status != "resolved").order_by(Incident.id)).first()
    assert leader is not None and asker is not None
    keyring = SigningKeyring(SessionSecrets(what="signing key"))
    key = create_key(passphrase=PASSPHRASE)
    keyring.put(handle="jcarter", key=key)
    commands.register_signing_key(uow, actor_id=leader.id, public_key=key.public_key)
    signs, decides = [], []
    for _ in range(n):
        commands.request_mitigation(uow, actor_id=asker.id, incident_id=incident, action="Roll back",
                                    action_class="rollback", services=[service], risk="low", evidence="bench",
                                    revert_plan="redeploy", minutes=30)
        with db.reader() as s:
            ask = s.execute(select(func.max(MitigationAsk.id))).scalar_one()
            draft = decision_draft(s, ask_id=ask)
        started = time.perf_counter()
        decision = sign_decision(draft=draft, verdict="approved", reason="bench", leader_id=leader.id,
                                 handle="jcarter", passphrase=PASSPHRASE, keyring=keyring, now=uow.clock.now())
        signed = time.perf_counter()
        commands.decide_mitigation(uow, actor_id=leader.id, **decision.command_args())
        signs.append((signed - started) * 1000)
        decides.append((time.perf_counter() - signed) * 1000)
    if label == "sqlite":
        report_untargeted("mitigations.sign_off_unlock_and_sign_ms", signs)
    report_untargeted(f"mitigations.decide_command_ms[{label}]", decides)
    started = time.perf_counter()
    assert verify_decisions(db, out=io.StringIO()) == 0
    per = (time.perf_counter() - started) * 1000 / n
    print(f"mitigations.verify_per_decision_ms[{label}] value={per:.2f} n={n} target —", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--pg", default=PG_URL)
    parser.add_argument("--no-pg", action="store_true")
    args = parser.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory() as folder, sqlite_database(folder, "bench") as db:
        run(db, label="sqlite", n=args.n)
    if not args.no_pg and (version := pg_version(args.pg)):
        print(f"# PostgreSQL {version}")
        with pg_database(args.pg) as db:
            run(db, label="postgresql", n=args.n)


if __name__ == "__main__":
    main()
