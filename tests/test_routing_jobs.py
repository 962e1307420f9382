"""A running console routes what other clients write straight into the signals table, within about a second."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.test_main_window import WAIT, make_window, settings  # noqa: F401 - fixtures


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    return sqlite_url


def test_a_row_inserted_by_psql_or_a_script_becomes_an_incident_on_screen(make_window, db, org, qtbot) -> None:  # type: ignore[no-untyped-def]
    window = make_window(user="alice")
    assert window.queue_model.rowCount() == 0
    with db.engine.begin() as conn:  # not through the console: any client may write a signal
        conn.execute(text("INSERT INTO signals (source, dedup_key, kind, service_id, summary, value, observed_at, "
                          "severity_hint, attributes) VALUES ('nagios', 'disk-full', 'alert', :service, "
                          "'identity disk 97% full', NULL, '2026-11-27 10:00:00.000000', 'warning', '{}')"),
                     {"service": org.identity})
    qtbot.waitUntil(lambda: window.queue_model.rowCount() == 1, timeout=WAIT)
    row = window.queue_model.row_at(0)
    assert (row.title, row.service, row.severity.value) == ("identity disk 97% full", "identity", "SEV3")
    window.queue_panel.select_incident(row.id)
    qtbot.waitUntil(lambda: window.detail_panel.detail is not None, timeout=WAIT)
    assert "rated it 'warning', which the taxonomy maps to SEV3" in window.detail_panel.why.toPlainText()
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM signals WHERE routed_at IS NULL")).scalar() == 0
