"""`python main.py channel ...` as an operator runs it: endpoints go to the OS keyring only, are checked before
they are stored, and never appear in what the command prints."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.test_credentials import real_keyring  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parent.parent
SECRET_URL = "https://hooks.slack.com/services/T000/B000/" + "s3cr3t" * 4


@pytest.fixture
def channel(tmp_path: Path, sqlite_url: str):  # type: ignore[no-untyped-def]
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_DATA_HOME=str(tmp_path / "data"),
               XDG_STATE_HOME=str(tmp_path / "state"), XDG_CONFIG_HOME=str(tmp_path / "config"))

    def call(*args: str, stdin: str = "", extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "main.py", "channel", *args, "--db", sqlite_url], cwd=ROOT,
                              env={**env, **(extra_env or {})}, input=stdin, capture_output=True, text=True,
                              timeout=120)

    return call


def test_list_names_every_channel_of_the_policy_and_says_where_no_endpoint_is_set(channel) -> None:  # type: ignore[no-untyped-def]
    result = channel("list")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["incidents-slack", "ops-webhook", "status-page", "customer-email",
                                                   "leadership-teams", "executive-email"]
    assert "slack" in lines[0] and "1/s" in lines[0]


def test_a_malformed_endpoint_is_refused_in_one_line_without_echoing_it(channel) -> None:  # type: ignore[no-untyped-def]
    result = channel("set", "incidents-slack", "--stdin", stdin=json.dumps({"url": "http://example.com/" + "x" * 30}))
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "must start with https://" in result.stderr and "x" * 30 not in result.stderr + result.stdout


def test_an_unknown_channel_is_named(channel) -> None:  # type: ignore[no-untyped-def]
    result = channel("check", "nowhere")
    assert result.returncode == 2 and "has no channel 'nowhere'" in result.stderr


def test_without_an_os_keyring_an_endpoint_is_not_stored_anywhere(channel) -> None:  # type: ignore[no-untyped-def]
    result = channel("set", "incidents-slack", "--stdin", stdin=json.dumps({"url": SECRET_URL}),
                     extra_env={"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"})
    assert result.returncode == 2
    assert "endpoints are kept only in an OS keyring" in result.stderr
    assert "s3cr3t" not in result.stderr + result.stdout


def test_set_check_and_forget_through_the_real_keyring(channel, real_keyring) -> None:  # type: ignore[no-untyped-def]
    name = "incidents-slack"
    url = SECRET_URL + uuid.uuid4().hex
    try:
        stored = channel("set", name, "--stdin", stdin=json.dumps({"url": url}))
        assert stored.returncode == 0, stored.stderr
        assert "stored in the OS keyring" in stored.stdout
        checked = channel("check", name)
        assert checked.returncode == 0 and "well-formed" in checked.stdout
        assert "endpoint set" in channel("list").stdout.splitlines()[0]
        assert all("s3cr3t" not in r.stdout + r.stderr for r in (stored, checked))
    finally:
        channel("forget", name)
    assert channel("check", name).returncode == 1
