"""The ownership tree in the console: it follows the selected incident's blast radius, and a coverage gap coming
in the next days is in the status bar before it happens."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from console import commands
from models.incident import Incident
from models.org import Service
from tests.test_main_window import WAIT, make_window, settings  # noqa: F401 - fixtures


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    return sqlite_url


def test_selecting_an_incident_marks_its_blast_radius_and_gaps_are_warned_of(make_window, db, uow, qtbot) -> None:  # type: ignore[no-untyped-def]
    commands.seed_demo(uow)
    with db.reader() as s:
        primary_db = s.execute(select(Incident.id).join(Service, Service.id == Incident.service_id)
                               .where(Service.name == "primary-db")).scalar_one()
    window = make_window(user="inaidoo")
    panel = window.ownership_panel
    qtbot.waitUntil(lambda: panel.model.tree is not None, timeout=WAIT)
    # data-secondary's two people are both away from day 4.5 to day 5 of the demo: flagged days ahead.
    qtbot.waitUntil(lambda: "nobody on call for data-secondary" in window.status.coverage_label.text(), timeout=WAIT)
    assert "Rachel Adler (holiday), Tove Lindqvist (PTO)" in window.status.coverage_label.toolTip()
    window.queue_panel.select_incident(primary_db)
    qtbot.waitUntil(lambda: panel.radius is not None and panel.radius.incident_id == primary_db, timeout=WAIT)
    # primary-db is foundational: everything that depends on it is in the radius.
    assert {"primary-db", "ledger", "payments-api", "identity"} <= set(panel.radius.names)
    assert "Blast radius of INC-" in panel.radius_line.text()
