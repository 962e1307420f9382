"""The severity queue as a table model, kept sorted in Python and updated as a diff by incident id.

Order: severity, then awaiting acknowledgement first, then ack deadline, then age. Rows move with
beginMoveRows so selection and scroll position survive every update; the model is reset only on first load.
"""
from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from operator import attrgetter

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QFont

from console.comms.cadence import due_times, soonest
from console.dto import IncidentRow, QueueKey, Severity
from ui import theme
from ui.table_model import NO_PARENT, ColumnsTableModel
from ui.timefmt import format_age, format_countdown

# Role lookups on the Qt namespace cost ~10 µs each inside data(); cached constants cost ~0.1 µs.
DISPLAY = Qt.ItemDataRole.DisplayRole
FOREGROUND = Qt.ItemDataRole.ForegroundRole
BACKGROUND = Qt.ItemDataRole.BackgroundRole
FONT = Qt.ItemDataRole.FontRole
TOOLTIP = Qt.ItemDataRole.ToolTipRole
ALIGN = Qt.ItemDataRole.TextAlignmentRole
ID_ROLE = Qt.ItemDataRole.UserRole
ALIGN_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter

COLUMNS = ("Severity", "ID", "Title", "Service", "Status", "Owner", "Age", "Ack deadline", "Next update")
(COL_SEVERITY, COL_ID, COL_TITLE, COL_SERVICE, COL_STATUS, COL_OWNER, COL_AGE, COL_DEADLINE,
 COL_UPDATE) = range(len(COLUMNS))
AUDIENCE_SHORT = {"internal": "Internal", "customers": "Customers", "executives": "Execs"}
SOON = 300  # seconds: an update due this soon is shown in amber
Cadence = dict[Severity, tuple[tuple[str, int], ...]]
# Most severe, then unacknowledged, then nearest ack deadline, then oldest (see IncidentRow.queue_key).
sort_key = attrgetter("queue_key")


class QueueModel(ColumnsTableModel):
    columns = COLUMNS

    def __init__(self, parent=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent)
        self._rows: list[IncidentRow] = []
        self._keys: list[QueueKey] = []
        self._by_id: dict[int, IncidentRow] = {}
        self._now_ts = 0.0
        self._severity_counts: Counter[Severity] = Counter()
        # Unacknowledged rows and their deadlines, so breaches are counted without scanning the whole queue.
        self._awaiting: dict[int, float] = {}
        # Incidents with actions kept in the outbox (not yet in the database): marked, never faked.
        self._pending: set[int] = set()
        # The update cadence by severity (from the impact policy) and each row's soonest due update.
        self._cadence: Cadence = {}
        self._due: dict[int, tuple[str, float]] = {}
        self._sev_fg = {s: QBrush(QColor(c)) for s, c in theme.SEVERITY_COLOR.items()}
        self._breach_bg = QBrush(QColor(theme.BREACH_BG))
        self._breach_fg = QBrush(QColor(theme.BREACH_FG))
        self._warn_fg = QBrush(QColor(theme.WARN_FG))
        self._muted_fg = QBrush(QColor(theme.MUTED_FG))
        self._bold = QFont()
        self._bold.setBold(True)

    # --- Qt model interface ------------------------------------------------------------------------

    def row_count(self) -> int:
        return len(self._rows)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = DISPLAY):  # type: ignore[no-untyped-def]
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        column = index.column()
        if role == DISPLAY:
            return self._display(row, column)
        if role == FOREGROUND:
            if column == COL_SEVERITY:
                return self._sev_fg[row.severity]
            if column == COL_DEADLINE:
                if not row.awaiting_ack:
                    return self._muted_fg
                left = row.ack_deadline.timestamp() - self._now_ts
                return self._breach_fg if left < 0 else (self._warn_fg if left < 120 else None)
            if column == COL_UPDATE:
                left = self._update_left(row)
                if row.failed_updates or (left is not None and left < 0):
                    return self._breach_fg
                return self._warn_fg if left is not None and left < SOON else (None if left is not None else
                                                                                self._muted_fg)
            return None
        if role == BACKGROUND:
            if column == COL_DEADLINE and row.awaiting_ack and row.ack_deadline.timestamp() < self._now_ts:
                return self._breach_bg
            if column == COL_UPDATE and (row.failed_updates or (self._update_left(row) or 0) < 0):
                return self._breach_bg
            return None
        if role == FONT:
            if column == COL_SEVERITY and row.severity is Severity.SEV1:
                return self._bold
            if column == COL_DEADLINE and row.awaiting_ack and row.ack_deadline.timestamp() < self._now_ts:
                return self._bold
            return None
        if role == ID_ROLE:
            return row.id
        if role == TOOLTIP and column == COL_TITLE:
            return row.title
        if role == TOOLTIP and column == COL_UPDATE and row.failed_updates:
            return f"{row.failed_updates} update delivery(ies) failed: open the incident's Updates tab"
        if role == ALIGN and column in (COL_AGE, COL_DEADLINE):
            return ALIGN_RIGHT
        return None

    def _display(self, row: IncidentRow, column: int) -> str:
        if column == COL_SEVERITY:
            return theme.severity_text(row.severity)
        if column == COL_ID:
            return f"◔ {row.ref}" if row.id in self._pending else row.ref
        if column == COL_TITLE:
            return row.title
        if column == COL_SERVICE:
            return row.service
        if column == COL_STATUS:
            return theme.STATUS_LABEL[row.status]
        if column == COL_OWNER:
            return row.owner or "— unowned —"
        if column == COL_AGE:
            return format_age(self._now_ts - row.opened_at.timestamp())
        if column == COL_DEADLINE:
            if not row.awaiting_ack:
                return "acknowledged"
            left = row.ack_deadline.timestamp() - self._now_ts
            return f"⚠ BREACHED {format_countdown(-left)}" if left < 0 else format_countdown(left)
        if column == COL_UPDATE:
            return self._update_text(row)
        return ""

    def _update_left(self, row: IncidentRow) -> float | None:
        due = self._due.get(row.id)
        return None if due is None else due[1] - self._now_ts

    def _update_text(self, row: IncidentRow) -> str:
        if row.failed_updates:
            return "✖ UPDATE FAILED"
        due = self._due.get(row.id)
        if due is None:
            return "—"
        left = due[1] - self._now_ts
        who = AUDIENCE_SHORT.get(due[0], due[0])
        return f"⚠ {who} OVERDUE {format_countdown(-left)}" if left < 0 else f"{who} in {format_countdown(left)}"

    def _soonest_due(self, row: IncidentRow) -> tuple[str, float] | None:
        first = soonest(due=due_times(opened_at=row.opened_at, resolved=not row.is_open,
                                      cadence=self._cadence.get(row.severity, ()), last=dict(row.last_updates)))
        return None if first is None else (first[0], first[1].timestamp())

    # --- our interface ------------------------------------------------------------------------------

    def row_at(self, position: int) -> IncidentRow:
        return self._rows[position]

    def row_by_id(self, incident_id: int) -> IncidentRow | None:
        return self._by_id.get(incident_id)

    def position_of(self, incident_id: int) -> int | None:
        """Return the row number of an incident, found by binary search on its sort key."""
        row = self._by_id.get(incident_id)
        if row is None:
            return None
        return bisect_left(self._keys, sort_key(row))

    def severity_counts(self) -> dict[Severity, int]:
        return {s: self._severity_counts.get(s, 0) for s in Severity}

    def awaiting_count(self) -> int:
        return len(self._awaiting)

    def breached_count(self) -> int:
        return sum(1 for deadline in self._awaiting.values() if deadline < self._now_ts)

    def set_pending(self, incident_ids: set[int]) -> None:
        """Mark the incidents that have actions waiting in the outbox."""
        changed = self._pending ^ incident_ids
        self._pending = set(incident_ids)
        for incident_id in changed:
            position = self.position_of(incident_id)
            if position is not None:
                self.dataChanged.emit(self.index(position, COL_ID), self.index(position, COL_ID))

    def set_now(self, now: datetime) -> None:
        """Move the model's notion of now and repaint the time columns (the view repaints visible rows only)."""
        self._now_ts = now.timestamp()
        if self._rows:
            self.dataChanged.emit(self.index(0, COL_AGE), self.index(len(self._rows) - 1, COL_UPDATE))

    def set_cadence(self, cadence: Cadence) -> None:
        """Take the impact policy's update cadence by severity and recount every row's next update."""
        self._cadence = dict(cadence)
        self._due = {r.id: due for r in self._rows if (due := self._soonest_due(r)) is not None}
        if self._rows:
            self.dataChanged.emit(self.index(0, COL_UPDATE), self.index(len(self._rows) - 1, COL_UPDATE))

    def due_update(self, incident_id: int) -> tuple[str, float] | None:
        """Return the audience due an update soonest on an incident and when (a timestamp), if any."""
        return self._due.get(incident_id)

    def load(self, rows: Iterable[IncidentRow]) -> None:
        """Replace everything (first load only: it resets the view)."""
        open_rows = sorted((r for r in rows if r.is_open), key=sort_key)
        self.beginResetModel()
        self._rows = open_rows
        self._keys = [sort_key(r) for r in open_rows]
        self._by_id = {r.id: r for r in open_rows}
        self._severity_counts = Counter(r.severity for r in open_rows)
        self._awaiting = {r.id: r.ack_deadline.timestamp() for r in open_rows if r.awaiting_ack}
        self._due = {r.id: due for r in open_rows if (due := self._soonest_due(r)) is not None}
        self.endResetModel()

    def resort(self) -> None:
        """Re-sort every row, keeping persistent indexes (selection) attached to their incidents."""
        self.layoutAboutToBeChanged.emit()
        persistent = self.persistentIndexList()
        keys = self._keys
        order = sorted(range(len(keys)), key=keys.__getitem__)
        self._rows = [self._rows[i] for i in order]
        self._keys = [keys[i] for i in order]
        if persistent:
            new_position = {old: new for new, old in enumerate(order)}
            self.changePersistentIndexList(
                persistent, [self.index(new_position[p.row()], p.column()) for p in persistent]
            )
        self.layoutChanged.emit()

    def apply(self, rows: Iterable[IncidentRow]) -> None:
        """Apply fresh rows as a diff: insert, update, move, or remove (a resolved incident leaves the queue)."""
        for row in rows:
            current = self._by_id.get(row.id)
            if current is None:
                if row.is_open:
                    self._insert(row)
            elif not row.is_open:
                self._remove(current)
            elif row != current:
                self._update(current, row)

    def remove_ids(self, ids: Iterable[int]) -> None:
        """Drop incidents that no longer exist (deleted by another client)."""
        for incident_id in ids:
            row = self._by_id.get(incident_id)
            if row is not None:
                self._remove(row)

    def _insert(self, row: IncidentRow) -> None:
        key = sort_key(row)
        position = bisect_left(self._keys, key)
        self.beginInsertRows(NO_PARENT, position, position)
        self._rows.insert(position, row)
        self._keys.insert(position, key)
        self._track(row)
        self.endInsertRows()

    def _remove(self, row: IncidentRow) -> None:
        position = bisect_left(self._keys, sort_key(row))
        self.beginRemoveRows(NO_PARENT, position, position)
        del self._rows[position]
        del self._keys[position]
        self._untrack(row)
        self.endRemoveRows()

    def _update(self, old: IncidentRow, new: IncidentRow) -> None:
        source = bisect_left(self._keys, sort_key(old))
        new_key = sort_key(new)
        # Where the row lands once it is taken out of its old place.
        landing = bisect_left(self._keys, new_key, 0, source) if new_key <= self._keys[source] else (
            bisect_left(self._keys, new_key, source + 1) - 1
        )
        self._untrack(old)
        self._track(new)
        if landing == source:
            self._rows[source] = new
            self._keys[source] = new_key
            self.dataChanged.emit(self.index(source, 0), self.index(source, len(COLUMNS) - 1))
            return
        destination = landing if landing < source else landing + 1
        self.beginMoveRows(NO_PARENT, source, source, NO_PARENT, destination)
        del self._rows[source]
        del self._keys[source]
        self._rows.insert(landing, new)
        self._keys.insert(landing, new_key)
        self.endMoveRows()
        self.dataChanged.emit(self.index(landing, 0), self.index(landing, len(COLUMNS) - 1))

    def _track(self, row: IncidentRow) -> None:
        self._by_id[row.id] = row
        self._severity_counts[row.severity] += 1
        if row.awaiting_ack:
            self._awaiting[row.id] = row.ack_deadline.timestamp()
        if (due := self._soonest_due(row)) is not None:
            self._due[row.id] = due

    def _untrack(self, row: IncidentRow) -> None:
        del self._by_id[row.id]
        self._severity_counts[row.severity] -= 1
        self._awaiting.pop(row.id, None)
        self._due.pop(row.id, None)
