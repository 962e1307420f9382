"""One incident in depth: who owns it, who is on call, customer impact, the next action, and its timeline."""
from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QHeaderView,
    QLabel,
    QStackedLayout,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from console.dto import IncidentDetail
from ui import theme
from ui.timefmt import format_countdown, local_time
from ui.timeline_model import TimelineModel

FIELDS = ("status", "owner", "commander", "team", "service", "on_call", "customer_impact", "next_action", "opened",
          "escalation", "paged", "why")
WHY_SHOWN = 8  # the latest decisions; the timeline and the audit trail keep every one


class IncidentDetailPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.incident_id: int | None = None
        self.detail: IncidentDetail | None = None
        self.stale = False
        self.empty = QLabel("Select an incident in the queue.", objectName="EmptyState",
                            alignment=Qt.AlignmentFlag.AlignCenter)
        self.title = QLabel(objectName="DetailTitle", wordWrap=True)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.values: dict[str, QLabel] = {}
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        for key in FIELDS:
            value = QLabel(wordWrap=True, objectName=f"detail_{key}")
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.values[key] = value
            form.addRow(QLabel(key.replace("_", " ").capitalize() + ":", objectName="FieldName"), value)
        self.timeline_model = TimelineModel(self)
        self.timeline = QTableView(objectName="TimelineView")
        self.timeline.setModel(self.timeline_model)
        self.timeline.verticalHeader().hide()
        # A timeline is tens to hundreds of rows: fitting rows to wrapped text is affordable here (never in the queue).
        self.timeline.setWordWrap(True)
        self.timeline.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.timeline.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.timeline.horizontalHeader()
        for column, width in enumerate((80, 100, 130)):
            header.resizeSection(column, width)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)

        content = QWidget()
        layout = QVBoxLayout(content)
        layout.addWidget(self.title)
        layout.addLayout(form)
        layout.addWidget(QLabel("Timeline", objectName="PanelHeader"))
        layout.addWidget(self.timeline, 1)
        self._stack = QStackedLayout(self)
        self._stack.addWidget(self.empty)
        self._stack.addWidget(content)

    def update_countdown(self, *, now: datetime | None) -> None:
        """Show where the escalation is and how long until the next tier is paged (called every second)."""
        detail = self.detail
        if detail is None:
            return
        info = detail.escalation
        if info is None:
            text = "— no escalation policy for this service —"
        elif info.running and info.next_due_at is not None:
            left = (info.next_due_at - now).total_seconds() if now else None
            when = f" in {format_countdown(left)}" if left is not None and left > 0 else (" now" if now else "")
            text = f"{info.policy}: next {info.next_tier}{when}"
        else:
            text = f"{info.policy}: stopped — {info.stop_reason}"
        if self.values["escalation"].text() != text:
            self.values["escalation"].setText(text)

    def show_empty(self, text: str = "Select an incident in the queue.") -> None:
        self.incident_id = None
        self.detail = None
        self.empty.setText(text)
        self._stack.setCurrentIndex(0)

    def show_detail(self, detail: IncidentDetail) -> None:
        """Fill the panel from a fresh detail record."""
        self.detail = detail
        self.incident_id = detail.row.id
        self.stale = False
        row = detail.row
        sev = f"{theme.severity_text(row.severity)} {theme.SEVERITY_NAME[row.severity]}"
        self.title.setText(f"{row.ref}  ·  {sev}\n{row.title}")
        self.title.setStyleSheet(f"color: {theme.SEVERITY_COLOR[row.severity]};")
        status = theme.STATUS_LABEL[row.status]
        if row.awaiting_ack:
            status += f" — acknowledge by {local_time(row.ack_deadline)}"
        elif detail.acknowledged_at:
            status += f" (acknowledged {local_time(detail.acknowledged_at)})"
        if detail.resolved_at:
            status += f" — resolved {local_time(detail.resolved_at)}: {detail.resolution}"
        on_call = "; ".join(
            f"{e.person.name} ({e.rotation}, until {local_time(e.until, with_date=True)})"
            + (f" — {e.note}" if e.note else "")
            for e in detail.on_call
        ) or "⚠ nobody on call for this team"
        service = f"{row.service} ({detail.service_tier})"
        if detail.impacted_services:
            service += "; also impacted: " + ", ".join(detail.impacted_services)
        texts = {
            "status": status,
            "owner": detail.owner.name if detail.owner else "⚠ unowned",
            "commander": detail.commander.name if detail.commander else "— none —",
            "team": f"{detail.team} (lead: {detail.team_lead or '—'})",
            "service": service,
            "on_call": on_call,
            "customer_impact": detail.customer_impact or "— not stated —",
            "next_action": detail.next_action or "⚠ no next action set",
            "opened": f"{local_time(row.opened_at, with_date=True)} · {detail.signal_count} signal(s)",
        }
        for key, text in texts.items():
            self.values[key].setText(text)
        self.values["paged"].setText(_pages_text(detail) or "— nobody paged —")
        self.values["why"].setText("\n".join(
            f"{local_time(d.at)} {d.summary}" + (f" — by {d.by}" if d.by else "")
            for d in detail.decisions[-WHY_SHOWN:]) or "—")
        self.update_countdown(now=None)
        self.timeline_model.set_items(detail.timeline)
        self.timeline.scrollToBottom()
        self._stack.setCurrentIndex(1)


def _pages_text(detail: IncidentDetail) -> str:
    lines = []
    for page in detail.pages:
        state = f"acknowledged {local_time(page.acknowledged_at)}" if page.acknowledged_at else "⚠ not acknowledged"
        night = " · at night" if page.night else ""
        lines.append(f"{local_time(page.paged_at)} {page.person} — {state}{night}")
    return "\n".join(lines)
