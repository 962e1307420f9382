"""The severity queue panel: counts per severity in its header and the sorted, live-ticking queue table."""
from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, QTimer, Signal
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QSizePolicy, QTableView, QVBoxLayout, QWidget

from console.dto import Severity
from ui import theme
from ui.queue_model import (
    COL_AGE,
    COL_DEADLINE,
    COL_ID,
    COL_OWNER,
    COL_SERVICE,
    COL_SEVERITY,
    COL_STATUS,
    COL_TITLE,
    COL_UPDATE,
    QueueModel,
)

# Fixed widths: ResizeToContents on a big table costs seconds per update (DESIGN.md).
COLUMN_WIDTHS = {COL_SEVERITY: 90, COL_ID: 80, COL_TITLE: 300, COL_SERVICE: 130, COL_STATUS: 110, COL_OWNER: 150,
                 COL_AGE: 80, COL_DEADLINE: 150, COL_UPDATE: 190}


class QueuePanel(QWidget):
    incident_selected = Signal(object)  # int | None

    def __init__(self, model: QueueModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.header = QLabel(objectName="PanelHeader")
        # The counts line must never force the window wider than the operator made it.
        self.header.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.view = QTableView(objectName="QueueView")
        self.view.setModel(model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setAlternatingRowColors(True)
        self.view.setWordWrap(False)
        self.view.verticalHeader().hide()
        self.view.verticalHeader().setDefaultSectionSize(26)
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for column, width in COLUMN_WIDTHS.items():
            header.resizeSection(column, width)
        header.setSectionResizeMode(COL_TITLE, QHeaderView.ResizeMode.Stretch)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.header)
        layout.addWidget(self.view)
        self.view.selectionModel().currentRowChanged.connect(self._on_view_current_changed)
        # One header refresh per burst of model changes, not one per row.
        self._header_timer = QTimer(self, singleShot=True, interval=0)
        self._header_timer.timeout.connect(self.update_header)
        for signal in (model.rowsInserted, model.rowsRemoved, model.modelReset, model.dataChanged):
            signal.connect(self._header_timer.start)
        self.update_header()

    def selected_id(self) -> int | None:
        index = self.view.selectionModel().currentIndex()
        if not index.isValid() or not self.view.selectionModel().isRowSelected(index.row()):
            return None
        return self.model.row_at(index.row()).id

    def select_incident(self, incident_id: int) -> bool:
        """Select an incident's row and scroll to it; False when it is not in the queue."""
        position = self.model.position_of(incident_id)
        if position is None:
            return False
        index = self.model.index(position, 0)
        flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        self.view.selectionModel().setCurrentIndex(index, flags)
        self.view.scrollTo(index)
        return True

    def update_header(self) -> None:
        counts = self.model.severity_counts()
        parts = [f"{theme.SEVERITY_GLYPH[s]} {s.value} {counts[s]}" for s in Severity]
        breached = self.model.breached_count()
        summary = f"{self.model.rowCount()} open  ·  {self.model.awaiting_count()} awaiting ack"
        if breached:
            summary += f"  ·  ⚠ {breached} BREACHED"
        text = "   ".join(parts) + "     " + summary
        if text != self.header.text():
            self.header.setText(text)

    def _on_view_current_changed(self, current, _previous) -> None:  # type: ignore[no-untyped-def]
        self.incident_selected.emit(self.model.row_at(current.row()).id if current.isValid() else None)
