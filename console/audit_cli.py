"""`python main.py audit ...`: verify the hash chain, export it for a compliance review, print the role SQL.

Exit status: 0 when the chain (or the export) is intact, 1 when it is broken, 2 for anything else (an
unreachable database, a bad argument), as every other subcommand does.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from console.audit_dto import AuditFilter
from console.errors import InvalidInput

EXIT_INTACT = 0
EXIT_BROKEN = 1
EXIT_ERROR = 2


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
    if args.audit_command == "role-sql":
        from console.audit_role import role_sql

        sys.stdout.write(role_sql(role=args.role, schema=args.schema))
        return EXIT_INTACT
    if args.audit_command == "verify" and args.file is not None:
        return verify_file(path=args.file, out=sys.stdout)
    url = getattr(args, "db", None)
    if args.audit_command == "verify":
        return verify(url=url, head=args.head, with_password=with_password, out=sys.stdout)
    where = AuditFilter(incident_id=parse_incident(args.incident), since=parse_time(args.since, option="--since"))
    if args.out is None:
        try:
            return export(url=url, where=where, fmt=args.format, with_password=with_password, out=sys.stdout)
        except BrokenPipeError:
            # The reader stopped reading (`| head`): say nothing more, and keep Python from complaining at exit.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return EXIT_ERROR
    if not args.out.parent.is_dir():
        raise InvalidInput(f"--out {args.out}: folder {args.out.parent} does not exist")
    # Written beside the target and renamed at the end: a failed export never leaves half a file under its name.
    partial = args.out.with_name(args.out.name + ".partial")
    with partial.open("w", encoding="utf-8", newline="") as out:
        status = export(url=url, where=where, fmt=args.format, with_password=with_password, out=out,
                        report=sys.stderr)
    partial.replace(args.out)
    return status


def parse_incident(value: str | None) -> int | None:
    """Read an incident reference, "INC-12" or "12"; raise InvalidInput for anything else."""
    if value is None:
        return None
    digits = value.strip().upper().removeprefix("INC-")
    if not digits.isdigit():
        raise InvalidInput(f"--incident {value!r}: expected an incident reference such as INC-12 (or just 12)")
    return int(digits)


def parse_time(value: str | None, *, option: str) -> datetime | None:
    """Read an ISO 8601 time (a date alone is its midnight; no zone means UTC); raise InvalidInput if it is not one."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(f"{option} {value!r}: not an ISO 8601 time; write it like 2026-11-27T10:00:00Z, "
                           "2026-11-27T11:00+01:00 or 2026-11-27 (no zone means UTC)") from None
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed


def _open(url: str | None, with_password: Callable[[str], str]):  # type: ignore[no-untyped-def]
    """Open a database only to read it: never created, migrated or seeded here."""
    from sqlalchemy import inspect

    from console.db import default_database_url, open_database

    db = open_database(with_password(url) if url else default_database_url(), must_exist=True)
    with db.engine.connect() as conn:
        if not inspect(conn).has_table("audit_entries"):
            db.dispose()
            raise InvalidInput(f"{db.display_url} has no audit trail: it is not a console database")
    return db


def verify(*, url: str | None, head: str | None, with_password: Callable[[str], str], out: TextIO) -> int:
    """Verify a database's chain, print one summary line and return the exit status."""
    from console.audit_chain import ChainHead
    from console.audit_verify import verify_database

    try:
        known = ChainHead.parse(head) if head else None
    except ValueError as error:
        raise InvalidInput(f"--head {error}") from None
    from console.mitigations.cli import verify_decisions

    db = _open(url, with_password)
    try:
        verdict = verify_database(db, known_head=known)
        # The signed decisions too: each signature over its text, and that text against the rows as they are.
        signed = io.StringIO()
        signatures = verify_decisions(db, out=signed)
    finally:
        db.dispose()
    if not verdict.intact:
        print(f"audit chain BROKEN at entry #{verdict.first_bad_id}: {verdict.reason} [{verdict.kind}; "
              f"{verdict.checked} entries before it are intact]", file=out)
        out.write(signed.getvalue())
        return EXIT_BROKEN
    if signatures != EXIT_INTACT:
        print(f"audit chain intact: {verdict.checked} entries, but a signed decision does not verify:", file=out)
        out.write(signed.getvalue())
        return EXIT_BROKEN
    if verdict.head is None:
        print("audit chain intact: 0 entries (the trail is empty)", file=out)
    else:
        print(f"audit chain intact: {verdict.checked} entries, head #{verdict.head.id} {verdict.head.hash}", file=out)
        print(f"keep the head: a later `audit verify --head {verdict.head}` says if entries after it were removed",
              file=out)
    out.write(signed.getvalue())
    return EXIT_INTACT


def export(*, url: str | None, where: AuditFilter, fmt: str, with_password: Callable[[str], str], out: TextIO,
           report: TextIO | None = None) -> int:
    """Write the matching entries as JSON lines or CSV, oldest first."""
    from console.audit_export import write_export
    from console.audit_queries import iter_entries

    db = _open(url, with_password)
    try:
        with db.reader() as session:
            count = write_export(iter_entries(session, where=where), fmt=fmt, out=out)
    finally:
        db.dispose()
    if report is not None:
        print(f"exported {count} entries", file=report)
    return EXIT_INTACT


def verify_file(*, path: Path, out: TextIO) -> int:
    """Verify an export offline: each entry's hash, and the links the file can show."""
    from console.audit_export import read_export, verify_export

    if not path.is_file():
        raise InvalidInput(f"--file {path}: no such file")
    fmt = "csv" if path.suffix.lower() == ".csv" else "jsonl"
    problems: list[str] = []
    signed = [0]
    with path.open(encoding="utf-8", newline="") as lines:
        verdict = verify_export(_checking_signatures(read_export(lines, fmt=fmt), problems=problems, signed=signed))
    for problem in problems:
        print(f"signed decision in {problem}", file=out)
    if not verdict.intact:
        print(f"export BROKEN at entry #{verdict.bad_id}: {verdict.reason} [{verdict.entries} entries before it "
              "are intact]", file=out)
        return EXIT_BROKEN
    span = f" (#{verdict.first_id} to #{verdict.last_id})" if verdict.entries else ""
    print(f"export intact: {verdict.entries} entries{span}, every hash recomputes; {verdict.links} links checked, "
          f"{verdict.gaps} gaps (entries not in this file: expected in a filtered export, in a full one each is a "
          "missing entry)", file=out)
    print(f"{signed[0]} signed decisions: " + (f"{len(problems)} do NOT verify" if problems else "every signature "
                                               "verifies with the public key it carries"), file=out)
    return EXIT_BROKEN if problems else EXIT_INTACT


SIGNED_ACTIONS = ("mitigation.approve", "mitigation.reject")


def _checking_signatures(records: Iterator[dict[str, Any]], *, problems: list[str],
                         signed: list[int]) -> Iterator[dict[str, Any]]:
    """Pass records through, checking the signature each signed decision carries on the way."""
    from console.mitigations.signed import check_exported

    for record in records:
        if record.get("action") in SIGNED_ACTIONS:
            signed[0] += 1
            try:
                check = check_exported(after=json.loads(record["after"]))
            except (TypeError, ValueError):
                problems.append(f"entry #{record['id']}: its after is not JSON")
            else:
                if not check.valid:
                    problems.append(f"entry #{record['id']}: {check.reason}")
        yield record
