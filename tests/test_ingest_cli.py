"""python main.py ingest-server as an operator runs it: a real process, real HTTP, rows in the database."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from sqlalchemy import select

from console.db import open_database
from models.incident import Incident, Signal
from models.routing import Decision

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "a-long-enough-test-token"
ALERT = {"version": "4", "status": "firing", "receiver": "console", "groupKey": "{}:{}",
         "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am",
         "truncatedAlerts": 0,
         "alerts": [{"status": "firing", "labels": {"alertname": "CardAuth5xx", "service": "payments-api",
                                                    "severity": "critical"},
                     "annotations": {"summary": "Card authorisation 5xx above 20%"},
                     "startsAt": "2026-11-28T00:10:00Z", "endsAt": "0001-01-01T00:00:00Z",
                     "generatorURL": "http://prom/graph", "fingerprint": "f00d"}]}


def test_the_ingest_server_needs_a_token(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ICC_INGEST_TOKEN"} | {"XDG_STATE_HOME": str(tmp_path),
                                                                          "DBUS_SESSION_BUS_ADDRESS": "disabled:"}
    result = subprocess.run([sys.executable, "main.py", "ingest-server", "--db", f"sqlite:///{tmp_path}/x.db"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and result.stderr.startswith("error: no ingest token")


def _post_alert(*, server: subprocess.Popen[str]) -> int:
    """Read the port the server printed, post one Alertmanager webhook, return the HTTP status."""
    line = server.stdout.readline()  # type: ignore[union-attr]
    assert line.startswith("listening on http://127.0.0.1:"), server.stderr.read()  # type: ignore[union-attr]
    port = int(line.split(":")[2].split()[0])
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/alertmanager", data=json.dumps(ALERT).encode(),
                                     headers={"Content-Type": "application/json",
                                              "Authorization": f"Bearer {TOKEN}"}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status


def test_an_alertmanager_webhook_opens_an_incident(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'war-room.db'}"
    env = dict(os.environ, ICC_INGEST_TOKEN=TOKEN, XDG_STATE_HOME=str(tmp_path), QT_QPA_PLATFORM="offscreen")
    assert subprocess.run([sys.executable, "main.py", "seed-demo", "--db", url], cwd=ROOT, env=env,
                          capture_output=True, timeout=60).returncode == 0
    with subprocess.Popen([sys.executable, "main.py", "ingest-server", "--db", url, "--port", "0"], cwd=ROOT,
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as server:
        try:
            assert _post_alert(server=server) == 202
        finally:
            server.terminate()
            server.wait(timeout=30)
        assert server.returncode == 0, server.stderr.read()  # type: ignore[union-attr]
    db = open_database(url)
    with db.reader() as s:
        signal = s.execute(select(Signal).where(Signal.dedup_key == "f00d")).scalar_one()
        incident = s.get(Incident, signal.incident_id)
        reasons = s.execute(select(Decision.summary).where(Decision.incident_id == incident.id)).scalars().all()
    db.dispose()
    # The demo has primary-db (foundational) degraded; payments-api depends on it: the alert joins that incident.
    assert incident.title.startswith("Replica lag on primary-db")
    assert any("payments-api depends on primary-db (foundational)" in r for r in reasons)
