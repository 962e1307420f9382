"""Loading the impact policy: versioned, audited with who and why, applied to the impact levels, and refused
with its line when broken (leaving everything as it was)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from console import commands
from console.audit import verify_chain
from console.errors import InvalidInput
from console.routing.policy import DEFAULT_PATH
from models.audit import AuditEntry
from models.enums import Severity
from models.policy import ImpactLevel
from models.routing import PolicyVersion

ROOT = Path(__file__).resolve().parent.parent


def _versions(db) -> list[tuple[str, str, int | None]]:  # type: ignore[no-untyped-def]
    with db.reader() as s:
        return [(v.version, v.reason, v.loaded_by)
                for v in s.execute(select(PolicyVersion).order_by(PolicyVersion.id)).scalars()]


def test_policy_versions_are_audited_and_drive_the_impact_levels(db, uow, org, tmp_path) -> None:  # type: ignore[no-untyped-def]
    commands.load_policy(uow, actor_id=org.alice, reason="first load")
    assert commands.load_policy(uow, actor_id=org.alice, reason="again").entities == frozenset()  # same text
    text = DEFAULT_PATH.read_text(encoding="utf-8")
    changed = tmp_path / "impact.toml"
    sev4 = text.index("[severity.SEV4]")
    start = text.index("ack_minutes", sev4)
    end = text.index("\n", start)
    changed.write_text(text[:start] + "ack_minutes = 480" + text[end:], encoding="utf-8")
    commands.load_policy(uow, actor_id=org.bob, reason="SEV4 can wait a working day", path=changed)
    assert [v[1:] for v in _versions(db)] == [("first load", org.alice), ("SEV4 can wait a working day", org.bob)]
    with db.reader() as s:
        assert s.get(ImpactLevel, Severity.SEV4).ack_minutes == 480
        entries = s.execute(select(AuditEntry).where(AuditEntry.action == "policy.load")).scalars().all()
        assert [e.actor for e in entries] == ["alice", "bob"] and "working day" in entries[-1].after
        assert verify_chain(s).intact


def test_a_broken_policy_is_refused_with_its_line_and_nothing_changes(db, uow, org, tmp_path) -> None:  # type: ignore[no-untyped-def]
    commands.load_policy(uow, actor_id=org.alice, reason="first load")
    broken = tmp_path / "impact.toml"
    broken.write_text(DEFAULT_PATH.read_text(encoding="utf-8").replace("ack_minutes = 5", 'ack_minutes = "soon"', 1),
                      encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"impact\.toml:\d+: .*ack_minutes"):
        commands.load_policy(uow, actor_id=org.alice, reason="oops", path=broken)
    assert len(_versions(db)) == 1


def test_the_demo_seed_loads_the_shipped_policy(db, uow) -> None:  # type: ignore[no-untyped-def]
    commands.seed_demo(uow)
    assert [v[1] for v in _versions(db)] == ["demo organisation seeded"]


def test_policy_load_from_the_command_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'p.db'}"
    env = {"QT_QPA_PLATFORM": "offscreen", "XDG_STATE_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=60)

    assert run("seed-demo", "--db", url).returncode == 0
    unchanged = run("policy", "load", "--db", url, "--reason", "check", "--user", "jcarter")
    assert unchanged.returncode == 0 and "unchanged" in unchanged.stdout
    nobody = run("policy", "load", "--db", url, "--reason", "x", "--user", "nobody")
    assert nobody.returncode == 2 and "--user 'nobody'" in nobody.stderr


def test_readers_follow_the_policy_loaded_in_the_database(db, uow, org, clock, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from console.queries import Reader

    reader = Reader(db, clock)
    assert reader.current_policy().version == "2026-11-27.1"  # nothing loaded yet: the shipped policy
    commands.load_policy(uow, actor_id=org.alice, reason="first load")
    loaded = reader.current_policy()
    assert reader.current_policy(known_digest=loaded.digest) is None  # unchanged: nothing to re-read
    changed = tmp_path / "impact.toml"
    changed.write_text(DEFAULT_PATH.read_text(encoding="utf-8").replace('version = "2026-11-27.1"',
                                                                       'version = "2026-12-01.1"'), encoding="utf-8")
    commands.load_policy(uow, actor_id=org.bob, reason="new version", path=changed)
    assert reader.current_policy(known_digest=loaded.digest).version == "2026-12-01.1"
