"""`python main.py audit ...` as an operator or an auditor runs it (a subprocess): verify says intact (0) or
where it broke (1); an export carries every field, so each hash recomputes offline with a few lines of Python."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from console.audit import PendingEntry, append_entries
from tests.audit_tamper import audited_commands, entry_count, row, tamper

ROOT = Path(__file__).resolve().parent.parent
HASHED = ("at", "actor_id", "actor", "action", "subject_type", "subject_id", "before", "after")


@pytest.fixture
def run(tmp_path: Path):  # type: ignore[no-untyped-def]
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_DATA_HOME=str(tmp_path / "data"),
               XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_STATE_HOME=str(tmp_path / "state"))

    def call(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "main.py", "audit", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=120)

    return call


def _one_error_line(result: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], result.stderr


def _recomputes(record: dict) -> bool:  # type: ignore[type-arg]
    """What docs/AUDIT.md tells an auditor to do, written from the documentation, not from the console's code."""
    content = json.dumps({name: record[name] for name in HASHED}, sort_keys=True, separators=(",", ":"),
                         ensure_ascii=False)
    return hashlib.sha256((record["prev_hash"] + content).encode("utf-8")).hexdigest() == record["hash"]


def test_verify_says_intact_with_the_head_then_where_it_broke(run, db, db_url, uow, org) -> None:  # type: ignore[no-untyped-def]
    audited_commands(uow, org, notes=6)
    count = entry_count(db)
    intact = run("verify", "--db", db_url)
    assert intact.returncode == 0, intact.stderr
    assert intact.stdout.startswith(f"audit chain intact: {count} entries, head #{count} ")
    head = intact.stdout.split("--head ")[1].split("`")[0]
    actor = row(db, 4)["actor"]
    tamper(db, "UPDATE audit_entries SET actor = 'mallory' WHERE id = 4")
    broken = run("verify", "--db", db_url)
    assert broken.returncode == 1
    assert broken.stdout.startswith("audit chain BROKEN at entry #4: entry #4 does not match its hash")
    assert "[altered; 3 entries before it are intact]" in broken.stdout
    tamper(db, "UPDATE audit_entries SET actor = :actor WHERE id = 4", f"DELETE FROM audit_entries WHERE id > {count - 2}",
           params=[{"actor": actor}, {}])
    assert run("verify", "--db", db_url).returncode == 0  # a cut-off tail leaves a valid chain by itself
    cut = run("verify", "--db", db_url, "--head", head)
    assert cut.returncode == 1 and f"BROKEN at entry #{count}:" in cut.stdout and "[truncated;" in cut.stdout


@pytest.mark.parametrize("args, fragment", [
    (("verify", "--db", "postgresql+psycopg://postgres@127.0.0.1:1/test"), "cannot connect to"),
    (("verify", "--db", "sqlite:////no/such/file.db"), "no database file /no/such/file.db"),
    (("verify", "--file", "/no/such/export.jsonl"), "no such file"),
    (("export", "--db", "sqlite:////no/such/file.db"), "no database file"),
    (("role-sql", "--role", "x; DROP TABLE audit_entries"), "--role"),
])
def test_failures_are_one_line_and_status_2(run, args, fragment) -> None:  # type: ignore[no-untyped-def]
    _one_error_line(run(*args), fragment)


def test_an_unparseable_time_or_incident_is_named(run, sqlite_url) -> None:  # type: ignore[no-untyped-def]
    _one_error_line(run("export", "--db", sqlite_url, "--since", "last tuesday"),
                    "--since 'last tuesday': not an ISO 8601 time")
    _one_error_line(run("export", "--db", sqlite_url, "--incident", "PRB-4"), "--incident 'PRB-4'")


def test_an_export_has_every_field_and_each_hash_recomputes_offline(run, db, db_url, uow, org) -> None:  # type: ignore[no-untyped-def]
    audited_commands(uow, org, notes=3)
    result = run("export", "--db", db_url)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == entry_count(db) and [r["id"] for r in records] == list(range(1, len(records) + 1))
    assert all(list(r) == ["id", *HASHED, "prev_hash", "hash"] for r in records)
    assert all(_recomputes(r) for r in records)
    assert all(later["prev_hash"] == earlier["hash"] for earlier, later in zip(records, records[1:]))
    assert records[-1]["after"] == json.dumps({"note": 'note 2: "quoted"\nsecond line ✓'}, ensure_ascii=False,
                                              separators=(",", ":"))


def test_an_export_filters_by_incident_and_time(run, db, db_url, uow, org, clock) -> None:  # type: ignore[no-untyped-def]
    first = audited_commands(uow, org, notes=2)
    clock.advance(hours=1)
    second = audited_commands(uow, org, notes=2)
    by_ref = run("export", "--db", db_url, "--incident", f"INC-{second}")
    by_number = run("export", "--db", db_url, "--incident", str(second))
    assert by_ref.stdout == by_number.stdout and by_ref.returncode == 0
    records = [json.loads(line) for line in by_ref.stdout.splitlines()]
    assert records and {(r["subject_type"], r["subject_id"]) for r in records} == {("incident", str(second))}
    since = (clock.now() - timedelta(minutes=30)).isoformat()
    later = [json.loads(line) for line in run("export", "--db", db_url, "--since", since).stdout.splitlines()]
    assert later and all(r["subject_id"] == str(second) for r in later if r["subject_type"] == "incident")
    assert not any(r["subject_id"] == str(first) and r["subject_type"] == "incident" for r in later)
    # A date alone is its midnight UTC; a zone-less time is UTC.
    assert run("export", "--db", db_url, "--since", "2100-01-01").stdout == ""


def test_a_csv_export_to_a_file_round_trips_awkward_text(run, db, db_url, uow, org, tmp_path) -> None:  # type: ignore[no-untyped-def]
    audited_commands(uow, org, notes=2)
    out = tmp_path / "audit.csv"
    result = run("export", "--db", db_url, "--format", "csv", "--out", str(out))
    assert result.returncode == 0 and result.stdout == "" and f"exported {entry_count(db)} entries" in result.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert len(rows) == entry_count(db)
    records = [{**r, "actor_id": int(r["actor_id"]) if r["actor_id"] else None} for r in rows]
    assert all(_recomputes(r) for r in records)
    assert run("verify", "--file", str(out)).returncode == 0


def test_signed_decisions_are_exported_as_they_are(run, db, db_url, org, clock) -> None:  # type: ignore[no-untyped-def]
    signed = {"decision": "approved", "mitigation": 3, "at": clock.now().isoformat()}
    with db.writer() as s:
        append_entries(s, [PendingEntry(at=clock.now(), actor_id=org.alice, actor="alice",
                                        action="mitigation.approve", subject_type="incident", subject_id="3",
                                        before={"state": "requested"},
                                        after={"state": "active", "signed": json.dumps(signed), "signature": "ab" * 32,
                                               "public_key": "cd" * 16})])
        s.commit()
    record = json.loads(run("export", "--db", db_url).stdout.splitlines()[-1])
    after = json.loads(record["after"])
    assert record["action"] == "mitigation.approve" and _recomputes(record)
    assert (after["signed"], after["signature"], after["public_key"]) == (json.dumps(signed), "ab" * 32, "cd" * 16)


def test_an_export_verifies_offline_and_tampering_with_the_file_is_found(run, db, db_url, uow, org, tmp_path) -> None:  # type: ignore[no-untyped-def]
    incident = audited_commands(uow, org, notes=4)
    full, part = tmp_path / "full.jsonl", tmp_path / "part.jsonl"
    assert run("export", "--db", db_url, "--out", str(full)).returncode == 0
    assert run("export", "--db", db_url, "--incident", str(incident), "--out", str(part)).returncode == 0
    ok = run("verify", "--file", str(full))
    assert ok.returncode == 0 and f"export intact: {entry_count(db)} entries" in ok.stdout and "0 gaps" in ok.stdout
    assert run("verify", "--file", str(part)).returncode == 0
    lines = full.read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[3])
    edited = tmp_path / "edited.jsonl"
    edited.write_text("\n".join(lines[:3] + [json.dumps({**record, "actor": "mallory"})] + lines[4:]) + "\n")
    altered = run("verify", "--file", str(edited))
    assert altered.returncode == 1 and altered.stdout.startswith(f"export BROKEN at entry #{record['id']}: ")
    dropped = tmp_path / "dropped.jsonl"
    dropped.write_text("\n".join(lines[:3] + lines[4:]) + "\n")
    gap = run("verify", "--file", str(dropped))
    assert gap.returncode == 0 and "1 gaps" in gap.stdout  # an id missing from a file is a gap, said so
    renumbered = tmp_path / "renumbered.jsonl"
    renumbered.write_text("\n".join(lines[:3] + [json.dumps({**json.loads(line), "id": json.loads(line)["id"] - 1})
                                                 for line in lines[4:]]) + "\n")
    broken = run("verify", "--file", str(renumbered))
    assert broken.returncode == 1 and "does not match its hash" not in broken.stdout
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text(lines[0] + "\nnot json\n")
    _one_error_line(run("verify", "--file", str(garbage)), "line 2: not JSON")


def test_role_sql_names_the_role_and_keeps_the_audit_table_append_only(run) -> None:  # type: ignore[no-untyped-def]
    result = run("role-sql", "--role", "icc_console", "--schema", "incidents")
    assert result.returncode == 0
    assert 'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "incidents" TO "icc_console";' in result.stdout
    assert ('REVOKE UPDATE, DELETE, TRUNCATE, TRIGGER, REFERENCES ON "incidents".audit_entries, '
            '"incidents".mitigation_decisions FROM "icc_console";') in result.stdout
