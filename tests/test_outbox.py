"""The outbox file: an action written down survives crashes, torn writes and a second console process."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from console.db import open_database
from console.sync.outbox import EntryState, Outbox, OutboxEntry

ROOT = Path(__file__).resolve().parent.parent


def _entry(key: str) -> OutboxEntry:
    return OutboxEntry(request={"key": key, "command": "add_note", "label": f"Note {key}", "args": {}},
                       created_at="2026-11-27T10:00:00+00:00")


def test_entries_survive_a_restart_and_changes_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "outbox.jsonl"
    outbox = Outbox(path)
    for key in ("a", "b", "c"):
        outbox.add(_entry(key))
    outbox.mark("b", state=EntryState.NEEDS_DECISION, reason="changed meanwhile")
    outbox.remove("a")
    again = Outbox(path)
    assert [(e.key, e.state, e.reason) for e in again.entries()] == [
        ("b", EntryState.NEEDS_DECISION, "changed meanwhile"), ("c", EntryState.PENDING, "")]


def test_a_line_torn_by_a_crash_is_set_aside_once_and_later_actions_are_safe(tmp_path: Path) -> None:
    path = tmp_path / "outbox.jsonl"
    Outbox(path).add(_entry("kept"))
    with open(path, "a", encoding="utf-8") as file:
        file.write('{"request": {"key": "torn"')  # the crash: no end, no newline
    after_crash = Outbox(path)
    after_crash.add(_entry("next"))  # must not be glued onto the torn line
    assert [e.key for e in Outbox(path).entries()] == ["kept", "next"]
    Outbox(path)  # another start: the torn line is not set aside twice
    assert path.with_suffix(".damaged").read_text(encoding="utf-8").count("torn") == 1


def test_two_console_processes_share_one_outbox_without_losing_entries(tmp_path: Path) -> None:
    path = tmp_path / "outbox.jsonl"
    script = (
        "import sys; from console.sync.outbox import Outbox, OutboxEntry\n"
        "o = Outbox(__import__('pathlib').Path(sys.argv[1]))\n"
        "for n in range(40):\n"
        "    k = f'{sys.argv[2]}{n}'\n"
        "    o.add(OutboxEntry(request={'key': k, 'command': 'add_note', 'label': k, 'args': {}},"
        " created_at='2026-11-27T10:00:00+00:00'))\n"
        "    if n % 2: o.remove(k)\n"
    )
    workers = [subprocess.Popen([sys.executable, "-c", script, str(path), name], cwd=ROOT) for name in ("p", "q")]
    assert all(w.wait(timeout=60) == 0 for w in workers)
    keys = {e.key for e in Outbox(path).entries()}
    assert keys == {f"{name}{n}" for name in ("p", "q") for n in range(0, 40, 2)}


def test_the_outbox_belongs_to_the_database_however_its_url_is_written(tmp_path: Path) -> None:
    spellings = ["postgresql+psycopg://postgres@127.0.0.1/test", "postgresql://postgres@127.0.0.1:5432/test",
                 "postgresql+psycopg://postgres:secret@127.0.0.1:5432/test"]
    identities = set()
    for url in spellings:
        db = open_database(url)
        identities.add(db.identity)
        db.dispose()
    assert len(identities) == 1 and "secret" not in identities.pop()
    (tmp_path / "sub").mkdir()
    a = open_database(f"sqlite:///{tmp_path}/sub/../x.db", create_parent=True)
    b = open_database(f"sqlite:///{tmp_path}/x.db")
    assert a.identity == b.identity
    a.dispose()
    b.dispose()
