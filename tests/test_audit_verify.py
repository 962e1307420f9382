"""The audit chain: one definition of what is hashed, and verification that names the first bad entry and what
happened to it, on SQLite and PostgreSQL, however the table was tampered with."""
from __future__ import annotations

import hashlib
import itertools
import json
import sqlite3
import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import exc, text

from console import audit_verify, commands
from console.audit import (
    GENESIS_HASH,
    BreakKind,
    ChainHead,
    PendingEntry,
    append_entries,
    at_text,
    canonical_json,
    entry_content,
    entry_hash,
    verify_chain,
)
from console.audit_scan import sqlite_at
from console.db import open_database
from console.uow import UnitOfWork
from tests.audit_tamper import audited_commands, entry_count, insert, rehash, row, shift_ids_after, swap, tamper

AWKWARD = ["", "plain", 'say "hi"', "back\\slash", "new\nline\r\ttab", "\x00\x01\x1f\x7f", "\u2028\u2029",
           "naïve café ✓ 日本語 🚑", "100% %s %(x)s %% ';--", "\ud7ff\ue000\uffff", "{\"json\":\"in a string\"}", "a" * 300]


def _content_by_dict(at: str, actor_id, actor, action, subject_type, subject_id, before, after) -> str:  # type: ignore[no-untyped-def]
    # The definition the chain was first written with: canonical_json of a dict (kept here as the reference).
    return canonical_json({"at": at, "actor_id": actor_id, "actor": actor, "action": action,
                           "subject_type": subject_type, "subject_id": subject_id, "before": before, "after": after})


@pytest.mark.parametrize("value", AWKWARD)
@pytest.mark.parametrize("actor_id", [None, 0, 7, 2**40])
def test_the_fast_content_is_byte_identical_to_canonical_json_of_the_dict(value: str, actor_id) -> None:  # type: ignore[no-untyped-def]
    at = at_text(datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc))
    for position in range(7):  # the awkward value in each string field in turn
        fields = [at, "alice", "incident.note", "incident", "12", canonical_json({"v": value}), value]
        fields[position] = value
        args = (fields[0], actor_id, *fields[1:])
        assert entry_content(*args) == _content_by_dict(*args)


def test_every_code_point_is_quoted_as_json_dumps_quotes_it() -> None:
    everything = "".join(chr(c) for c in itertools.chain(range(0x0, 0xD800), range(0xE000, 0x110000)))
    args = ("t", None, everything, "a", "s", "i", "{}", everything)
    assert entry_content(*args) == _content_by_dict(*args)


def test_the_hash_of_an_entry_has_not_changed() -> None:
    at = datetime(2026, 11, 27, 11, 0, 0, 5, tzinfo=timezone(timedelta(hours=1)))  # 10:00:00.000005 UTC
    digest = entry_hash(prev_hash=GENESIS_HASH, at=at, actor_id=3, actor="alice", action="incident.note",
                        subject_type="incident", subject_id="12", before="{}", after='{"note":"ça va ✓"}')
    reference = GENESIS_HASH + _content_by_dict("2026-11-27T10:00:00.000005+00:00", 3, "alice", "incident.note",
                                                "incident", "12", "{}", '{"note":"ça va ✓"}')
    assert digest == hashlib.sha256(reference.encode()).hexdigest()
    assert digest == "db3f8c9dc3b97aee64db969bc4dfb3652720a7505cc2d7c158e3db3890ab50cf"  # by the code before this one


def test_a_sqlite_time_in_another_form_is_read_as_the_orm_reads_it() -> None:
    assert sqlite_at("2026-11-27 10:00:00") == "2026-11-27T10:00:00.000000+00:00"
    assert sqlite_at("2026-11-27T11:00:00.5+01:00") == "2026-11-27T10:00:00.500000+00:00"


def test_awkward_entries_written_by_append_entries_verify_on_both_backends(db, org) -> None:  # type: ignore[no-untyped-def]
    times = [datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc), datetime(1999, 12, 31, 23, 59, 59, 999999,
                                                                          tzinfo=timezone(timedelta(hours=-5))),
             datetime(2026, 3, 29, 1, 0, 0, 1, tzinfo=timezone.utc)]
    # PostgreSQL text cannot hold NUL; inside before/after it is JSON-escaped, so it is kept there.
    raw = [value.replace("\x00", "") if db.backend == "postgresql" else value for value in AWKWARD]
    entries = [PendingEntry(at=times[n % 3], actor_id=(None, org.alice)[n % 2], actor=raw[n][:64] or "system",
                            action="test.awkward", subject_type="incident", subject_id=raw[n][:60],
                            before={"v": value}, after={"v": value, "n": n, "nested": {"list": [1, None, True]}})
               for n, value in enumerate(AWKWARD)]
    with db.writer() as s:
        append_entries(s, entries)
        s.commit()
    with db.reader() as s:
        verdict = verify_chain(s)
    assert verdict.intact and verdict.checked == len(AWKWARD), verdict.reason
    assert audit_verify.verify_database(db).intact


def test_the_fast_loop_and_entry_content_agree_on_every_awkward_entry(db, org) -> None:  # type: ignore[no-untyped-def]
    """The walk writes content out itself for speed; each awkward entry must verify through it, on both backends."""
    raw = [value.replace("\x00", "") if db.backend == "postgresql" else value for value in AWKWARD]
    with db.writer() as s:
        append_entries(s, [PendingEntry(at=datetime(2026, 11, 27, 10, 0, n, n, tzinfo=timezone.utc), actor_id=org.bob,
                                        actor=raw[n][:64], action=raw[n][:64], subject_type=raw[n][:32],
                                        subject_id=raw[n][:64], before={"v": value}, after={"k": [value, None]})
                           for n, value in enumerate(AWKWARD)])
        s.commit()
    verdict = _verdict(db)
    assert verdict.intact and verdict.checked == len(AWKWARD), verdict.reason


@pytest.mark.parametrize("stored", ["2026-11-27 10:00:00", "2026-11-27T10:00:00.000000", "2026-11-27 11:00:00+01:00"])
def test_a_sqlite_time_stored_in_another_form_of_the_same_instant_still_verifies(sqlite_url, clock, stored) -> None:  # type: ignore[no-untyped-def]
    db = open_database(sqlite_url)
    with db.writer() as s:
        append_entries(s, [PendingEntry(at=datetime(2026, 11, 27, 10, tzinfo=timezone.utc), actor_id=None,
                                        actor="system", action="a", subject_type="s", subject_id="1", before={},
                                        after={})])
        s.commit()
    tamper(db, "UPDATE audit_entries SET at = :at", params=[{"at": stored}])
    assert _verdict(db).intact  # the same instant, read as the ORM reads it
    tamper(db, "UPDATE audit_entries SET at = '2026-11-27 10:00:00.000001'")
    assert _verdict(db).kind is BreakKind.ALTERED
    tamper(db, "UPDATE audit_entries SET at = 'not a time at all!!!!!!!!!'")
    assert _verdict(db).kind is BreakKind.ALTERED
    db.dispose()


def test_an_actor_id_stored_as_text_is_not_taken_for_the_number(sqlite_url) -> None:  # type: ignore[no-untyped-def]
    db = open_database(sqlite_url)
    with db.writer() as s:
        append_entries(s, [PendingEntry(at=datetime(2026, 11, 27, 10, tzinfo=timezone.utc), actor_id=None,
                                        actor="system", action="a", subject_type="s", subject_id="1", before={},
                                        after={})])
        s.commit()
    tamper(db, "SELECT 1")  # drops the append-only triggers
    raw = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))  # foreign keys off: not in a transaction
    raw.execute("UPDATE audit_entries SET actor_id = 'null'")
    raw.commit()
    raw.close()
    assert _verdict(db).kind is BreakKind.ALTERED
    db.dispose()


def test_append_entries_stores_a_time_exactly_as_the_orm_does(db, org) -> None:  # type: ignore[no-untyped-def]
    from models.audit import AuditEntry

    at = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)  # zero microseconds: the case a naive adapter drops
    with db.writer() as s:
        append_entries(s, [PendingEntry(at=at, actor_id=None, actor="system", action="a", subject_type="s",
                                        subject_id="1", before={}, after={})])
        s.add(AuditEntry(at=at, actor_id=None, actor="orm", action="a", subject_type="s", subject_id="2",
                         before="{}", after="{}", prev_hash="1" * 64, hash="2" * 64))
        s.commit()
    with db.reader() as s:
        stored = s.execute(text("SELECT CAST(at AS TEXT) FROM audit_entries ORDER BY id")).scalars().all()
    assert stored[0] == stored[1]


@pytest.fixture
def chain(db, uow, org):  # type: ignore[no-untyped-def]
    """Twelve entries written by real commands: #1 the opening, then pages and notes."""
    audited_commands(uow, org, notes=12)
    with db.reader() as s:
        ids = [r[0] for r in s.execute(text("SELECT id FROM audit_entries ORDER BY id"))]
    assert ids == list(range(1, len(ids) + 1)) and len(ids) >= 12
    return ids


def _verdict(db, **kw):  # type: ignore[no-untyped-def]
    with db.reader() as s:
        return verify_chain(s, **kw)


def test_an_untouched_chain_is_intact_and_names_its_head(db, chain) -> None:  # type: ignore[no-untyped-def]
    verdict = _verdict(db)
    assert verdict.intact and verdict.checked == len(chain) and verdict.first_bad_id is None
    assert verdict.head == ChainHead(chain[-1], row(db, chain[-1])["hash"])
    assert ChainHead.parse(str(verdict.head)) == verdict.head


def test_an_altered_field_is_found_at_its_entry(db, chain) -> None:  # type: ignore[no-untyped-def]
    tamper(db, "UPDATE audit_entries SET \"after\" = '{\"note\":\"nothing happened\"}' WHERE id = 5")
    verdict = _verdict(db)
    assert (verdict.intact, verdict.first_bad_id, verdict.kind, verdict.checked) == (False, 5, BreakKind.ALTERED, 4)
    assert "#5 does not match its hash" in verdict.reason


@pytest.mark.parametrize("change", ["actor = 'mallory'", "actor_id = CASE WHEN actor_id IS NULL THEN 1 ELSE NULL END",
                                    "prev_hash = '" + "1" * 64 + "'", "action = 'incident.resolve'",
                                    "subject_type = 'service'", "subject_id = '999'", "\"before\" = '[1]'"])
def test_each_hashed_field_is_covered(db, chain, change) -> None:  # type: ignore[no-untyped-def]
    tamper(db, f"UPDATE audit_entries SET {change} WHERE id = 6")
    verdict = _verdict(db)
    assert (verdict.first_bad_id, verdict.kind) == (6, BreakKind.ALTERED)


def test_a_changed_time_is_found(db, chain) -> None:  # type: ignore[no-untyped-def]
    fields = row(db, 3)
    tamper(db, "UPDATE audit_entries SET at = :at WHERE id = 3",
           params=[{"at": (fields["at"] + timedelta(microseconds=1)).strftime("%Y-%m-%d %H:%M:%S.%f")
                    if db.backend == "sqlite" else fields["at"] + timedelta(microseconds=1)}])
    assert (_verdict(db).first_bad_id, _verdict(db).kind) == (3, BreakKind.ALTERED)


def test_an_entry_rewritten_with_a_recomputed_hash_is_found_at_that_entry(db, chain) -> None:  # type: ignore[no-untyped-def]
    fields = {**row(db, 5), "after": '{"note":"rewritten"}'}
    tamper(db, "UPDATE audit_entries SET \"after\" = :after, hash = :hash WHERE id = 5",
           params=[{"after": fields["after"], "hash": rehash(fields)}])
    verdict = _verdict(db)
    assert (verdict.first_bad_id, verdict.kind, verdict.checked) == (5, BreakKind.ALTERED, 4)
    assert "recomputed" in verdict.reason


def test_a_deleted_entry_is_found_at_the_entry_after_it(db, chain) -> None:  # type: ignore[no-untyped-def]
    tamper(db, "DELETE FROM audit_entries WHERE id = 7")
    verdict = _verdict(db)
    assert (verdict.first_bad_id, verdict.kind, verdict.checked) == (8, BreakKind.DELETED, 6)
    assert "#7–#7 are missing" in verdict.reason


def test_deleting_the_oldest_entries_is_found(db, chain) -> None:  # type: ignore[no-untyped-def]
    tamper(db, "DELETE FROM audit_entries WHERE id <= 2")
    assert (_verdict(db).first_bad_id, _verdict(db).kind) == (3, BreakKind.DELETED)


def test_a_cut_off_tail_is_found_only_against_a_remembered_head(db, chain) -> None:  # type: ignore[no-untyped-def]
    head = _verdict(db).head
    tamper(db, f"DELETE FROM audit_entries WHERE id > {chain[-3]}")
    assert _verdict(db).intact  # what is left is a valid chain by itself: the limit docs/AUDIT.md states
    verdict = _verdict(db, known_head=head)
    assert (verdict.intact, verdict.first_bad_id, verdict.kind) == (False, head.id, BreakKind.TRUNCATED)
    assert f"now ends at #{chain[-3]}" in verdict.reason


def test_a_cut_off_tail_written_again_is_found_against_a_remembered_head(db, uow, org, chain) -> None:  # type: ignore[no-untyped-def]
    head = _verdict(db).head
    tamper(db, f"DELETE FROM audit_entries WHERE id > {chain[-3]}")
    if db.backend == "postgresql":  # SQLite hands out the deleted ids again; make PostgreSQL do the same
        tamper(db, f"SELECT setval(pg_get_serial_sequence('audit_entries', 'id'), {chain[-3]})")
    with db.reader() as s:
        incident = s.execute(text("SELECT min(id) FROM incidents")).scalar_one()
    for n in range(3):
        commands.add_note(uow, actor_id=org.alice, incident_id=incident, text=f"replacement {n}")
    verdict = _verdict(db, known_head=head)
    assert (verdict.first_bad_id, verdict.kind) == (head.id, BreakKind.TRUNCATED)
    assert "written again" in verdict.reason
    assert _verdict(db, known_head=_verdict(db).head).intact


def test_a_forged_entry_inserted_in_the_middle_is_found(db, chain) -> None:  # type: ignore[no-untyped-def]
    shift_ids_after(db, 5)
    forged = {**row(db, 5), "actor": "mallory", "prev_hash": "f" * 64, "after": '{"note":"approved"}'}
    insert(db, 6, {**forged, "hash": rehash(forged)})
    verdict = _verdict(db)
    assert (verdict.first_bad_id, verdict.kind, verdict.checked) == (6, BreakKind.INSERTED, 5)
    assert "#5 is followed by #7" in verdict.reason


def test_a_forged_entry_linked_into_the_middle_is_found(db, chain) -> None:  # type: ignore[no-untyped-def]
    """The attacker also drops the unique index that stops two entries claiming one predecessor."""
    tamper(db, "DROP INDEX ux_audit_entries_prev_hash")
    try:
        shift_ids_after(db, 5)
        forged = {**row(db, 5), "actor": "mallory", "prev_hash": row(db, 5)["hash"], "after": '{"note":"ok"}'}
        insert(db, 6, {**forged, "hash": rehash(forged)})
        verdict = _verdict(db)
        assert (verdict.first_bad_id, verdict.kind, verdict.checked) == (6, BreakKind.INSERTED, 5)
    finally:
        tamper(db, "DELETE FROM audit_entries", "CREATE UNIQUE INDEX ux_audit_entries_prev_hash "
                                                 "ON audit_entries (prev_hash)")


def test_a_forged_entry_appended_with_a_made_up_link_is_found(db, chain) -> None:  # type: ignore[no-untyped-def]
    forged = {**row(db, chain[-1]), "prev_hash": "e" * 64, "after": '{"note":"approved"}'}
    insert(db, chain[-1] + 1, {**forged, "hash": rehash(forged)})
    assert (_verdict(db).first_bad_id, _verdict(db).kind) == (chain[-1] + 1, BreakKind.INSERTED)


@pytest.mark.parametrize("a, b", [(4, 9), (4, 5)])
def test_two_entries_swapped_are_found_as_reordered(db, chain, a, b) -> None:  # type: ignore[no-untyped-def]
    swap(db, a, b)
    verdict = _verdict(db)
    assert (verdict.first_bad_id, verdict.kind, verdict.checked) == (a, BreakKind.REORDERED, a - 1)
    assert f"follows #{b - 1 if b - 1 != a else b}" in verdict.reason


@pytest.mark.parametrize("damage", ["alter", "delete", "swap"])
def test_a_chain_split_across_processes_finds_the_same_entry(db, chain, monkeypatch, damage) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(audit_verify, "PARALLEL_FROM", 0)
    whole = audit_verify.verify_database(db, workers=3)
    assert whole.intact and whole.checked == len(chain) and whole.head == _verdict(db).head
    second_span = 1 + (len(chain) - 1 + 3) // 3  # the first id a second process checks
    if damage == "alter":  # the first entry of a span
        tamper(db, f"UPDATE audit_entries SET actor = 'mallory' WHERE id = {second_span}")
    elif damage == "delete":  # the last entry of the span before
        tamper(db, f"DELETE FROM audit_entries WHERE id = {second_span - 1}")
    else:  # across spans
        swap(db, second_span, second_span + 4)
    expected = {"alter": BreakKind.ALTERED, "delete": BreakKind.DELETED, "swap": BreakKind.REORDERED}[damage]
    one = _verdict(db)
    split = audit_verify.verify_database(db, workers=3)
    assert (one.first_bad_id, one.kind) == (second_span, expected)
    assert (split.first_bad_id, split.kind, split.checked, split.reason) == (one.first_bad_id, one.kind, one.checked,
                                                                             one.reason)


def test_the_database_refuses_update_and_delete_of_an_entry(db, chain) -> None:  # type: ignore[no-untyped-def]
    statements = ["UPDATE audit_entries SET actor = 'mallory' WHERE id = 2", "DELETE FROM audit_entries WHERE id = 2"]
    if db.backend == "postgresql":
        statements.append("TRUNCATE audit_entries")
    for statement in statements:
        with pytest.raises(exc.DBAPIError) as caught, db.engine.begin() as conn:
            conn.execute(text(statement))
        if db.backend == "postgresql":
            assert caught.value.orig.sqlstate == "42501"  # type: ignore[union-attr]
        assert "append-only" in str(caught.value.orig)
    assert entry_count(db) == len(chain) and _verdict(db).intact


def test_two_consoles_appending_at_once_keep_one_linear_chain(db_url, org, clock) -> None:  # type: ignore[no-untyped-def]
    consoles = [UnitOfWork(open_database(db_url), clock) for _ in range(2)]
    incident = commands.open_incident(consoles[0], actor_id=org.alice, title="Shared", severity="SEV4",
                                      service_id=org.identity).created_incident
    start = entry_count(consoles[0].db)
    errors: list[BaseException] = []
    go = threading.Barrier(2)

    def work(uow: UnitOfWork, who: int) -> None:
        try:
            go.wait()
            for n in range(200):
                commands.add_note(uow, actor_id=who, incident_id=incident, text=f"{who}: {n}")
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(uow, who)) for uow, who in zip(consoles, (org.alice, org.bob))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert errors == []
    db = consoles[0].db
    with db.reader() as s:
        verdict = verify_chain(s)
        links = s.execute(text("SELECT prev_hash, hash FROM audit_entries ORDER BY id")).all()
    assert verdict.intact and verdict.checked == start + 400, verdict.reason
    assert all(later.prev_hash == earlier.hash for earlier, later in zip(links, links[1:]))
    notes = [json.loads(entry[0])["note"] for entry in _afters(db, start)]
    assert sorted(notes) == sorted(f"{who}: {n}" for who in (org.alice, org.bob) for n in range(200))
    for uow in consoles:
        uow.db.dispose()


def _afters(db, start: int):  # type: ignore[no-untyped-def]
    with db.reader() as s:
        return s.execute(text(f'SELECT "after" FROM audit_entries WHERE id > {start} ORDER BY id')).all()


def test_without_worker_processes_the_chain_is_still_verified_in_one(db, chain, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def no_processes(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise OSError("no subprocesses in this sandbox")

    monkeypatch.setattr(audit_verify, "PARALLEL_FROM", 0)
    monkeypatch.setattr(audit_verify, "ProcessPoolExecutor", no_processes)
    tamper(db, "UPDATE audit_entries SET actor = 'mallory' WHERE id = 7")
    verdict = audit_verify.verify_database(db, workers=2)
    assert (verdict.first_bad_id, verdict.kind) == (7, BreakKind.ALTERED)
