"""The audit trail panel: filter by incident, person, action and time; entries newest first, a page at a time;
the selected entry's fields before and after, side by side, with its place in the hash chain."""
from __future__ import annotations

from datetime import datetime, timedelta

from PySide6.QtCore import QDateTime, QItemSelection, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateTimeEdit,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from console.audit_dto import AuditChoices, AuditFilter, AuditPage, AuditRow
from ui import theme
from ui.audit_models import AuditDiffModel, AuditEntriesModel
from ui.timefmt import local_time

ANYONE, ANY_ACTION = "Anyone", "Any action"


class AuditPanel(QWidget):
    filter_changed = Signal(object)  # AuditFilter
    more_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.stale = True
        self.entries = AuditEntriesModel(self)
        self.diff = AuditDiffModel(self)
        self.incident_edit = QLineEdit(objectName="AuditIncident", placeholderText="INC-12", clearButtonEnabled=True)
        self.incident_edit.setMinimumWidth(90)
        self.incident_edit.setMaximumWidth(120)
        self.person_combo = QComboBox(objectName="AuditPerson")
        self.action_combo = QComboBox(objectName="AuditAction")
        self.person_combo.addItem(ANYONE)
        self.action_combo.addItem(ANY_ACTION)
        self.since_check, self.since_edit = self._time_filter("From", hours_back=24)
        self.until_check, self.until_edit = self._time_filter("Until", hours_back=0)
        self.problem_label = QLabel("", objectName="AuditProblem")
        self.problem_label.setStyleSheet(f"color: {theme.WARN_FG};")
        # Two short rows rather than one long one: the dock is often half the window's width.
        filters, times = QHBoxLayout(), QHBoxLayout()
        for widget in (QLabel("Incident"), self.incident_edit, QLabel("Person"), self.person_combo, QLabel("Action"),
                       self.action_combo):
            filters.addWidget(widget)
        for widget in (self.since_check, self.since_edit, self.until_check, self.until_edit, self.problem_label):
            times.addWidget(widget)
        filters.addStretch(1)
        times.addStretch(1)
        self.count_label = QLabel("", objectName="AuditCount")
        self.more_button = QPushButton("Load older entries", objectName="AuditMore", enabled=False)
        self.more_button.clicked.connect(self.more_requested)
        counts = QHBoxLayout()
        counts.addWidget(self.count_label, 1)
        counts.addWidget(self.more_button)
        self.table = self._table(self.entries, "AuditEntries")
        self.table.horizontalHeader().setStretchLastSection(True)
        for column, width in enumerate((60, 150, 90, 190, 80)):
            self.table.setColumnWidth(column, width)
        self.entry_label = QLabel("Select an entry to see what it changed.", objectName="AuditEntryTitle",
                                  wordWrap=True)
        self.diff_table = self._table(self.diff, "AuditDiff")
        self.diff_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.diff_table.setWordWrap(True)
        self.hash_label = QLabel("", objectName="AuditHashes", wordWrap=True,
                                 textInteractionFlags=Qt.TextInteractionFlag.TextSelectableByMouse)
        self.hash_label.setStyleSheet(f"color: {theme.MUTED_FG}; font-family: monospace;")
        detail = QWidget()
        detail_layout = QVBoxLayout(detail)
        detail_layout.setContentsMargins(6, 0, 0, 0)
        for widget in (self.entry_label, self.diff_table, self.hash_label):
            detail_layout.addWidget(widget, 1 if widget is self.diff_table else 0)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.table)
        split.addWidget(detail)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(filters)
        layout.addLayout(times)
        layout.addLayout(counts)
        layout.addWidget(split, 1)
        # One query per pause in typing or clicking through dates, not one per keystroke.
        self._debounce = QTimer(self, singleShot=True, interval=250)
        self._debounce.timeout.connect(self._emit_filter)
        self.incident_edit.textChanged.connect(lambda _text: self._debounce.start())
        for combo in (self.person_combo, self.action_combo):
            combo.currentIndexChanged.connect(lambda _i: self._debounce.start())
        for check, edit in ((self.since_check, self.since_edit), (self.until_check, self.until_edit)):
            check.toggled.connect(edit.setEnabled)
            check.toggled.connect(lambda _on: self._debounce.start())
            edit.dateTimeChanged.connect(lambda _when: self._debounce.start())
        self.table.selectionModel().selectionChanged.connect(self._on_table_selection_changed)

    def _time_filter(self, label: str, *, hours_back: int) -> tuple[QCheckBox, QDateTimeEdit]:
        check = QCheckBox(label, objectName=f"Audit{label}Check")
        edit = QDateTimeEdit(QDateTime.currentDateTime().addSecs(-3600 * hours_back), objectName=f"Audit{label}",
                             calendarPopup=True, displayFormat="yyyy-MM-dd HH:mm", enabled=False)
        return check, edit

    def _table(self, model, name: str) -> QTableView:  # type: ignore[no-untyped-def]
        view = QTableView(objectName=name)
        view.setModel(model)
        view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        view.setAlternatingRowColors(True)
        view.verticalHeader().hide()
        view.verticalHeader().setDefaultSectionSize(22)
        return view

    # --- what the controller shows -------------------------------------------------------------------

    def current_filter(self) -> AuditFilter | None:
        """Return the filter as set, or None (saying why) when the incident field cannot be read."""
        text = self.incident_edit.text().strip().upper().removeprefix("INC-")
        if text and not text.isdigit():
            self.problem_label.setText("⚠ an incident is INC-12 or 12")
            return None
        self.problem_label.setText("")
        person, action = self.person_combo.currentText(), self.action_combo.currentText()
        return AuditFilter(incident_id=int(text) if text else None, actor=None if person == ANYONE else person,
                           action=None if action == ANY_ACTION else action,
                           since=_aware(self.since_edit) if self.since_check.isChecked() else None,
                           until=_aware(self.until_edit) + timedelta(minutes=1) if self.until_check.isChecked() else None)

    def show_choices(self, choices: AuditChoices) -> None:
        """Offer everyone and every action in the trail, keeping what is picked."""
        for combo, first, values in ((self.person_combo, ANYONE, choices.actors),
                                     (self.action_combo, ANY_ACTION, choices.actions)):
            picked = combo.currentText()
            combo.blockSignals(True)
            combo.clear()
            combo.addItems([first, *values])
            combo.setCurrentIndex(max(0, combo.findText(picked)))
            combo.blockSignals(False)

    def show_page(self, page: AuditPage, *, first: bool) -> None:
        """Show a first page (keeping the selected entry if it is still there) or append an older one."""
        selected = self.selected_entry()
        if first:
            self.entries.set_rows(page.rows)
        else:
            self.entries.append_rows(page.rows)
        self.stale = False
        count = self.entries.row_count()
        self.count_label.setText(f"{count} entr{'y' if count == 1 else 'ies'}, newest first"
                                 + (" — older ones match too" if page.more else ""))
        self.more_button.setEnabled(page.more)
        if first and selected is not None:
            for position in range(count):
                if self.entries.row_at(position).id == selected.id:  # type: ignore[union-attr]
                    self.table.selectRow(position)
                    return
            self.diff.show_entry(None)
            self._show_title(None)

    def selected_entry(self) -> AuditRow | None:
        rows = self.table.selectionModel().selectedRows()
        return self.entries.row_at(rows[0].row()) if rows else None

    def _emit_filter(self) -> None:
        where = self.current_filter()
        if where is not None:
            self.filter_changed.emit(where)

    def _on_table_selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        entry = self.selected_entry()
        self.diff.show_entry(entry)
        self._show_title(entry)

    def _show_title(self, entry: AuditRow | None) -> None:
        if entry is None:
            self.entry_label.setText("Select an entry to see what it changed.")
            self.hash_label.setText("")
            return
        self.entry_label.setText(f"<b>#{entry.id} {entry.action}</b> on {entry.subject} by {entry.actor}, "
                                 f"{local_time(entry.at, with_date=True)}")
        # Shortened to fit; the full hashes are in the tooltip and in `audit export`.
        self.hash_label.setText(f"prev_hash {_short(entry.prev_hash)}\nhash      {_short(entry.hash)}")
        self.hash_label.setToolTip(f"prev_hash {entry.prev_hash}\nhash {entry.hash}")


def _short(digest: str) -> str:
    return f"{digest[:20]}…{digest[-8:]}"


def _aware(edit: QDateTimeEdit) -> datetime:
    """The edit's local time as an aware datetime (the operator picks times in their own zone)."""
    return edit.dateTime().toPython().astimezone()  # type: ignore[union-attr]
