"""`main.py rights`, `signing-key` and `mitigation verify` as a person runs them."""
from __future__ import annotations

import io
import sys

import pytest
from sqlalchemy import text

from console import commands
from console.credentials import keyring_status
from console.signing import SigningKeyring
from main import main
from tests.test_credentials import REQUIRE_KEYRING
from tests.mitigation_helpers import RIGHTS, ScratchKeyring, decide, enrol, load_test_rights, request


def _run(capsys, *argv: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_signed_approval(uow, org, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Bob asks for a rollback on a SEV1 of identity; Alice approves it with her key."""
    keyring = ScratchKeyring()
    try:
        load_test_rights(uow, tmp_path)
        enrol(uow, keyring, person_id=org.alice, handle="alice")
        incident = commands.open_incident(uow, actor_id=org.bob, title="x", severity="SEV1",
                                          service_id=org.identity).created_incident
        decide(uow, keyring, ask_id=request(uow, incident=incident, by=org.bob), leader=org.alice, handle="alice")
    finally:
        keyring.cleanup()


def test_rights_load_show_and_a_broken_file(capsys, db_url, db, org, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "rights.toml"
    path.write_text(RIGHTS, encoding="utf-8")
    code, out, err = _run(capsys, "rights", "load", "--db", db_url, "--file", str(path), "--reason", "first", "--user",
                        "alice")
    assert code == 0 and "decision rights loaded as a new version" in out, err
    code, out, _ = _run(capsys, "rights", "show", "--db", db_url)
    assert code == 0 and "rollback" in out and "carol        rollback, failover | identity | SEV1" in out
    path.write_text(RIGHTS.replace('leader = "carol"', 'leader = "zed"'), encoding="utf-8")
    code, _, err = _run(capsys, "rights", "load", "--db", db_url, "--file", str(path), "--reason", "typo")
    assert code != 0 and f"{path}:" in err and 'nobody with the handle "zed"' in err


def test_mitigation_verify_passes_then_names_a_tampered_decision(capsys, db_url, db, uow, org, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _one_signed_approval(uow, org, tmp_path)
    code, out, _ = _run(capsys, "mitigation", "verify", "--db", db_url)
    assert code == 0 and "1 signed decisions checked: all verify" in out
    with db.writer() as s:
        s.execute(text("UPDATE mitigations SET revert_plan = 'none'"))
        s.commit()
    code, out, _ = _run(capsys, "mitigation", "verify", "--db", db_url)
    assert code == 1 and "decision #1 on MIT-1: the request was changed after it was signed" in out


def test_signing_key_create_keeps_the_key_in_the_os_keyring(capsys, monkeypatch, db_url, db, org) -> None:  # type: ignore[no-untyped-def]
    status = keyring_status()
    if not status.available:
        message = f"needs a real OS keyring: {status.reason}"
        if REQUIRE_KEYRING:
            pytest.fail(message + " (REQUIRE_KEYRING=1)")
        pytest.skip(message)
    monkeypatch.setattr(sys, "stdin", io.StringIO("too short\n"))
    code, _, err = _run(capsys, "signing-key", "create", "--db", db_url, "--user", "alice", "--stdin")
    assert code != 0 and "at least 10 characters" in err
    monkeypatch.setattr(sys, "stdin", io.StringIO("a long enough passphrase\n"))
    try:
        code, out, _ = _run(capsys, "signing-key", "create", "--db", db_url, "--user", "alice", "--stdin")
        assert code == 0 and "made and kept in" in out
        public = SigningKeyring().public_key_of(handle="alice")  # a new instance: read back from the keyring
        assert public is not None and public in out
        SigningKeyring().unlock(handle="alice", passphrase="a long enough passphrase")
        code, out, _ = _run(capsys, "signing-key", "list", "--db", db_url)
        assert f"alice        {public[:16]}" in out and "active" in out
    finally:
        SigningKeyring().forget(handle="alice")


def test_audit_verify_checks_the_signed_decisions_too_in_the_database_and_in_an_export(
        capsys, db_url, db, uow, org, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _one_signed_approval(uow, org, tmp_path)
    export = tmp_path / "audit.jsonl"
    code, _, err = _run(capsys, "audit", "export", "--db", db_url, "--format", "jsonl", "--out", str(export))
    assert code == 0, err
    code, out, _ = _run(capsys, "audit", "verify", "--file", str(export))
    assert code == 0 and "1 signed decisions: every signature verifies with the public key it carries" in out
    code, out, _ = _run(capsys, "audit", "verify", "--db", db_url)
    assert code == 0 and "1 signed decisions checked: all verify" in out and "audit chain intact" in out
    with db.writer() as s:
        s.execute(text("UPDATE mitigations SET risk = 'low'"))  # an ordinary table: the chain itself stays intact
        s.commit()
    code, out, _ = _run(capsys, "audit", "verify", "--db", db_url)
    assert code == 1 and "but a signed decision does not verify" in out
    assert "decision #1 on MIT-1: the request was changed after it was signed" in out
