"""Reading the audit trail on both backends: filters, pages newest first, the background check's verdict."""
from __future__ import annotations

from console import commands
from console.audit_dto import AuditFilter
from console.audit_queries import AuditReader
from tests.audit_tamper import entry_count, tamper


def test_pages_filter_by_incident_person_action_and_time(db, uow, org, clock) -> None:  # type: ignore[no-untyped-def]
    reader = AuditReader(db, clock)
    first = commands.open_incident(uow, actor_id=org.alice, title="A", severity="SEV4",
                                   service_id=org.identity).created_incident
    commands.add_note(uow, actor_id=org.bob, incident_id=first, text="one")
    clock.advance(minutes=10)
    middle = clock.now()
    second = commands.open_incident(uow, actor_id=org.carol, title="B", severity="SEV4",
                                    service_id=org.identity).created_incident
    commands.add_note(uow, actor_id=org.bob, incident_id=second, text="two")

    everything = reader.page(where=AuditFilter())
    assert [r.id for r in everything.rows] == list(range(entry_count(db), 0, -1)) and not everything.more
    assert {r.subject_id for r in reader.page(where=AuditFilter(incident_id=second)).rows} == {str(second)}
    assert [r.after for r in reader.page(where=AuditFilter(actor="bob", action="incident.note")).rows] == [
        '{"note":"two"}', '{"note":"one"}']
    later = reader.page(where=AuditFilter(since=middle)).rows
    assert later and all(r.at >= middle for r in later) and all(r.subject_id == str(second) for r in later)
    earlier = reader.page(where=AuditFilter(until=middle)).rows
    assert earlier and all(r.at < middle for r in earlier)
    page = reader.page(where=AuditFilter(), limit=2)
    older = reader.page(where=AuditFilter(), before_id=page.rows[-1].id, limit=2)
    assert page.more and [r.id for r in page.rows + older.rows] == [r.id for r in everything.rows][:4]
    choices = reader.choices()
    assert {"alice", "bob", "carol"} <= set(choices.actors) and "incident.note" in choices.actions


def test_the_background_check_names_its_chain_and_uses_the_head_remembered_for_it(db, uow, org, clock) -> None:  # type: ignore[no-untyped-def]
    reader = AuditReader(db, clock)
    incident = commands.open_incident(uow, actor_id=org.alice, title="A", severity="SEV4",
                                      service_id=org.identity).created_incident
    for n in range(3):
        commands.add_note(uow, actor_id=org.bob, incident_id=incident, text=f"n{n}")
    check = reader.check_chain()
    assert check.intact and check.entries == entry_count(db) and check.checked_at == clock.now()
    assert check.head.startswith(f"{entry_count(db)}:") and len(check.name) == 16
    tamper(db, f"DELETE FROM audit_entries WHERE id = {entry_count(db)}")
    assert reader.check_chain().intact
    assert reader.check_chain(known_heads={"another chain": check.head}).intact
    cut = reader.check_chain(known_heads={check.name: check.head})
    assert (cut.intact, cut.kind, cut.first_bad_id) == (False, "truncated", int(check.head.split(":")[0]))
