"""`python main.py audit ...`: verify the hash chain, export it for a compliance review, print the role SQL.

Exit status: 0 when the chain (or the export) is intact, 1 when it is broken, 2 for anything else (an
unreachable database, a bad argument), as every other subcommand does.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from console.errors import InvalidInput

EXIT_INTACT = 0
EXIT_BROKEN = 1


def add_parser(sub: argparse._SubParsersAction, *, parents: list[argparse.ArgumentParser]) -> None:
    """Register `audit verify|export|role-sql` on the main parser's subcommands."""
    audit = sub.add_parser("audit", help="the hash-chained audit trail: verify, export, deployment role",
                           parents=parents)
    actions = audit.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    verify = actions.add_parser("verify", help="check every entry's hash and link (exit 0 intact, 1 broken)",
                                parents=parents)
    verify.add_argument("--file", type=Path, default=None, metavar="EXPORT.jsonl",
                        help="verify an export offline instead of a database")
    verify.add_argument("--head", default=None, metavar="ID:HASH",
                        help="a head printed by an earlier verify: say so if it is no longer in the chain")
    export = actions.add_parser("export", help="every entry with its hashes, as JSON lines or CSV", parents=parents)
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    export.add_argument("--since", default=None, metavar="ISO8601",
                        help="entries at or after this time (a zone-less time is UTC)")
    export.add_argument("--incident", default=None, metavar="INC-12",
                        help="only entries about this incident")
    export.add_argument("--out", type=Path, default=None, metavar="FILE", help="write here (default: stdout)")
    role = actions.add_parser("role-sql", help="print SQL for a PostgreSQL role that cannot rewrite the audit trail",
                              parents=parents)
    role.add_argument("--role", required=True, metavar="NAME", help="the role the consoles connect as")
    role.add_argument("--schema", default="public", help="the schema holding the console's tables")


def run(args: argparse.Namespace, *, with_password: Callable[[str], str] = lambda url: url) -> int:
    """Run an `audit` action and return the exit status; expected failures raise ConsoleError."""
    if args.audit_command == "verify":
        return verify(db_url=getattr(args, "db", None), with_password=with_password, out=sys.stdout)
    raise InvalidInput(f"audit {args.audit_command}: not available yet")


def verify(*, db_url: str | None, with_password: Callable[[str], str], out: TextIO) -> int:
    """Verify a database's chain, print one summary line and return the exit status."""
    from console.audit import verify_chain
    from console.db import default_database_url, open_database

    db = open_database(with_password(db_url) if db_url else default_database_url(), must_exist=True)
    try:
        with db.reader() as session:
            verdict = verify_chain(session)
    finally:
        db.dispose()
    if verdict.intact:
        print(f"audit chain intact: {verdict.checked} entries", file=out)
        return EXIT_INTACT
    print(f"audit chain BROKEN at entry #{verdict.first_bad_id}: {verdict.reason}", file=out)
    return EXIT_BROKEN
