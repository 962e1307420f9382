"""The queue model: order, diff updates that keep the selection, counts, countdown, and Qt's model contract."""
from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtWidgets import QTableView

from console.dto import IncidentRow, IncidentStatus, Severity
from ui.queue_model import COL_DEADLINE, COL_ID, QueueModel, sort_key

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)


def make_row(i: int, *, sev: Severity = Severity.SEV2, status: IncidentStatus = IncidentStatus.TRIGGERED,
             age_min: float = 10, deadline_min: float = 5, version: int = 1) -> IncidentRow:
    return IncidentRow(id=i, title=f"incident {i}", severity=sev, status=status, service="identity", owner="",
                       opened_at=NOW - timedelta(minutes=age_min), ack_deadline=NOW + timedelta(minutes=deadline_min),
                       version=version)


def ids(model: QueueModel) -> list[int]:
    return [model.row_at(i).id for i in range(model.rowCount())]


def test_order_is_severity_then_unacknowledged_then_deadline_then_age(qtmodeltester) -> None:  # type: ignore[no-untyped-def]
    model = QueueModel()
    model.load([
        make_row(1, sev=Severity.SEV3),
        make_row(2, sev=Severity.SEV1, status=IncidentStatus.ACKNOWLEDGED, age_min=50),
        make_row(3, sev=Severity.SEV1, deadline_min=4),
        make_row(4, sev=Severity.SEV1, deadline_min=2),
        make_row(5, sev=Severity.SEV1, status=IncidentStatus.MITIGATING, age_min=90),
        make_row(6, sev=Severity.SEV2, status=IncidentStatus.RESOLVED),
    ])
    assert ids(model) == [4, 3, 5, 2, 1]  # resolved incidents are not in the queue
    qtmodeltester.check(model)


def test_diff_updates_move_rows_and_keep_the_selection(qtbot, qtmodeltester) -> None:  # type: ignore[no-untyped-def]
    model = QueueModel()
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    model.load([make_row(i, sev=Severity.SEV3, age_min=i) for i in range(1, 6)])
    selected = ids(model)[3]
    view.selectionModel().setCurrentIndex(model.index(3, 0), QItemSelectionModel.SelectionFlag.ClearAndSelect
                                          | QItemSelectionModel.SelectionFlag.Rows)
    resets = []
    model.modelReset.connect(lambda: resets.append(1))
    # Raise the selected one to SEV1: it moves to the top and stays selected.
    model.apply([replace(model.row_by_id(selected), severity=Severity.SEV1, version=2)])
    assert ids(model)[0] == selected
    assert view.selectionModel().currentIndex().row() == 0
    # A new incident, an update in place, and a resolution in one batch.
    model.apply([make_row(99, sev=Severity.SEV4), replace(model.row_by_id(1), title="renamed"),
                 replace(model.row_by_id(3), status=IncidentStatus.RESOLVED)])
    assert 99 in ids(model) and 3 not in ids(model) and selected != 3
    assert model.row_by_id(1).title == "renamed"
    assert model.data(model.index(0, COL_ID)) == f"INC-{selected}"
    assert view.selectionModel().currentIndex().row() == 0
    assert resets == []
    qtmodeltester.check(model)


def test_random_diffs_keep_the_model_sorted_and_consistent(qtmodeltester) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(7)
    model = QueueModel()
    qtmodeltester.check(model)  # attaches the tester to every later change (it re-reads the whole model each time)
    model.load([make_row(i, sev=rng.choice(list(Severity)), age_min=rng.uniform(0, 500)) for i in range(40)])
    for _ in range(150):
        batch = []
        for i in rng.sample(range(60), 4):
            batch.append(make_row(i, sev=rng.choice(list(Severity)), status=rng.choice(list(IncidentStatus)),
                                  age_min=rng.uniform(0, 500), deadline_min=rng.uniform(-30, 30)))
        model.apply(batch)
        rows = [model.row_at(i) for i in range(model.rowCount())]
        assert rows == sorted(rows, key=sort_key)
        assert all(r.is_open for r in rows)
    counts = model.severity_counts()
    assert sum(counts.values()) == model.rowCount()


def test_deadline_counts_down_and_turns_into_a_breach(qtbot) -> None:  # type: ignore[no-untyped-def]
    model = QueueModel()
    model.load([make_row(1, deadline_min=2), make_row(2, status=IncidentStatus.ACKNOWLEDGED)])
    model.set_now(NOW)
    index = model.index(model.position_of(1), COL_DEADLINE)
    assert model.data(index) == "2:00"
    with qtbot.waitSignal(model.dataChanged):
        model.set_now(NOW + timedelta(minutes=3, seconds=5))
    assert model.data(index) == "⚠ BREACHED 1:05"
    assert model.data(index, Qt.ItemDataRole.BackgroundRole) is not None
    assert model.breached_count() == 1
    assert model.data(model.index(model.position_of(2), COL_DEADLINE)) == "acknowledged"


@pytest.mark.parametrize("severity", list(Severity))
def test_severity_is_never_shown_by_colour_alone(severity: Severity) -> None:
    model = QueueModel()
    model.load([make_row(1, sev=severity)])
    text = model.data(model.index(0, 0))
    assert severity.value in text and text.split()[0] in "▲◆●○"
