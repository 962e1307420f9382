"""`python main.py rights ...`, `signing-key ...` and `mitigation verify`: decision rights, leaders' keys, and
checking every signed decision in a database.

A passphrase is asked for without echo (twice when a key is made), or read as one line from standard input
with --stdin for scripts; it is never printed, logged or stored. A key made here is kept only in a real OS
keyring: a command line has no session to keep it in, so without one it refuses and says why.
"""
from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import select

from console.clock import SystemClock
from console.credentials import keyring_status
from console.db import Database
from console.errors import InvalidInput
from console.mitigations.rights_store import NO_RIGHTS, stored_rights
from console.mitigations.signed import check_decision, mitigation_ref
from console.queries import find_person
from console.signing import SigningKeyring, check_passphrase, create_key
from console.uow import UnitOfWork
from models.mitigation import MitigationAsk, MitigationDecision, SigningKey
from models.org import Person

EXIT_BROKEN = 1


def add_parsers(sub: Any, *, parents: list[argparse.ArgumentParser]) -> None:
    """Register the rights, signing-key and mitigation subcommands."""
    rights = sub.add_parser("rights", help="decision rights: who may authorize which mitigations", parents=parents)
    rights_sub = rights.add_subparsers(dest="rights_command", metavar="ACTION", required=True)
    load = rights_sub.add_parser("load", help="load a decision-rights file as the new version (audited)",
                                 parents=parents)
    load.add_argument("--file", type=Path, default=None, help="rights TOML (default: the shipped file)")
    load.add_argument("--reason", required=True, help="why the rights change (goes in the audit trail)")
    rights_sub.add_parser("show", help="list the classes and who holds which rights", parents=parents)
    key = sub.add_parser("signing-key", help="a leader's signing key for mitigation decisions", parents=parents)
    key.add_argument("action", choices=("create", "list", "revoke"))
    key.add_argument("key_id", nargs="?", type=int, help="revoke: the key's number (see list)")
    key.add_argument("--reason", default="", help="revoke: why (goes in the audit trail)")
    key.add_argument("--stdin", action="store_true", help="create: read the passphrase as one line from stdin")
    mitigation = sub.add_parser("mitigation", help="mitigation authorizations", parents=parents)
    mitigation.add_argument("action", choices=("verify",), help="verify: check every signed decision")


def run(args: argparse.Namespace, *, open_db: Callable[[], Database], commands: Any,
        out: TextIO | None = None) -> int:
    """Run one of the subcommands on the database `open_db` opens, changing data through `commands`.

    The commands package is handed in by main.py: nothing inside console/ imports it (tests/test_architecture.py).
    """
    out = out or sys.stdout
    db = open_db()
    try:
        uow = UnitOfWork(db, SystemClock())
        if args.command == "rights":
            return _rights(args, uow, out, commands)
        if args.command == "signing-key":
            return _signing_key(args, uow, out, commands)
        return verify_decisions(db, out=out)
    finally:
        db.dispose()


def _actor(db: Database, args: argparse.Namespace, *, required: bool) -> int | None:
    handle = getattr(args, "user", None)
    if not handle:
        if required:
            raise InvalidInput("say who you are with --user HANDLE")
        return None
    with db.reader() as session:
        person = find_person(session, handle=handle)
    if person is None:
        raise InvalidInput(f"--user {handle!r}: nobody with that handle in the roster")
    return person.id


def _rights(args: argparse.Namespace, uow: UnitOfWork, out: TextIO, commands: Any) -> int:
    if args.rights_command == "load":
        changes = commands.load_rights(uow, actor_id=_actor(uow.db, args, required=False), reason=args.reason,
                                       path=args.file)
        out.write(f"{uow.db.display_url}: " + ("decision rights loaded as a new version\n" if changes.entities else
                                                "decision rights unchanged (same text as the current version)\n"))
        return 0
    with uow.db.reader() as session:
        rights = stored_rights(session)
    if rights is None:
        raise InvalidInput(NO_RIGHTS)
    out.write(f"decision rights {rights.version}: {rights.description}\n")
    for kind in rights.classes:
        out.write(f"  {kind.name:14} up to {kind.max_minutes} min  {kind.description}\n")
    for right in rights.rights:
        out.write(f"  {right.leader:12} {', '.join(right.classes)} | {', '.join(right.services)} | "
                  f"{', '.join(right.severities)}\n")
    return 0


def _signing_key(args: argparse.Namespace, uow: UnitOfWork, out: TextIO, commands: Any) -> int:
    if args.action == "list":
        with uow.db.reader() as session:
            rows = session.execute(select(SigningKey, Person.handle).join(Person, Person.id == SigningKey.person_id)
                                   .order_by(SigningKey.id)).all()
        for key, handle in rows:
            state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
            out.write(f"#{key.id:<4} {handle:12} {key.public_key[:16]}…  made {key.created_at:%Y-%m-%d %H:%M}  "
                      f"{state}\n")
        return 0
    actor = _actor(uow.db, args, required=True)
    assert actor is not None
    if args.action == "revoke":
        if args.key_id is None:
            raise InvalidInput("signing-key revoke: name the key's number (see signing-key list)")
        commands.revoke_signing_key(uow, actor_id=actor, key_id=args.key_id, reason=args.reason)
        out.write(f"signing key #{args.key_id} revoked\n")
        return 0
    status = keyring_status()
    if not status.available:
        raise InvalidInput(f"cannot keep a signing key: {status.reason}")
    passphrase = _passphrase(stdin=args.stdin)
    key = create_key(passphrase=passphrase)
    SigningKeyring().put(handle=args.user, key=key)
    commands.register_signing_key(uow, actor_id=actor, public_key=key.public_key)
    out.write(f"signing key for {args.user} made and kept in {status.backend}; public key {key.public_key}\n")
    return 0


def _passphrase(*, stdin: bool) -> str:
    if stdin:
        passphrase = sys.stdin.readline().rstrip("\n")
        check_passphrase(passphrase)
        return passphrase
    passphrase = getpass.getpass("New signing passphrase: ")
    check_passphrase(passphrase)
    if getpass.getpass("Again: ") != passphrase:
        raise InvalidInput("the two passphrases differ; nothing was made")
    return passphrase


def verify_decisions(db: Database, *, out: TextIO) -> int:
    """Check every signed decision; print one line per bad one. Exit 0 when all verify, 1 when any does not."""
    bad = checked = 0
    with db.reader() as session:
        for decision, mitigation_id in session.execute(
                select(MitigationDecision, MitigationAsk.mitigation_id)
                .join(MitigationAsk, MitigationAsk.id == MitigationDecision.ask_id).order_by(MitigationDecision.id)):
            checked += 1
            check = check_decision(session, decision=decision)
            if not check.valid:
                bad += 1
                out.write(f"decision #{decision.id} on {mitigation_ref(mitigation_id)}: {check.reason}\n")
    out.write(f"{checked} signed decisions checked: " + (f"{bad} do NOT verify\n" if bad else "all verify\n"))
    return EXIT_BROKEN if bad else 0
