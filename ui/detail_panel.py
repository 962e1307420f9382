"""One incident in depth: who owns it, who is on call, customer impact, the next action; then tabs for its
timeline, why it has this severity and these people, everyone engaged (with fatigue), and the escalation ladder."""
from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QFrame,
    QHeaderView,
    QLabel,
    QScrollArea,
    QStackedLayout,
    QTableView,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from console.dto import IncidentDetail
from ui import theme
from ui.engaged_model import COL_FATIGUE, EngagedModel
from ui.explain import engaged_line, ladder_html, not_escalating, severity_line, why_html
from ui.timefmt import format_countdown, local_time
from ui.timeline_model import TimelineModel

FIELDS = ("status", "owner", "commander", "team", "service", "on_call", "customer_impact", "next_action", "opened",
          "escalation", "why_severity", "engaged")
LABELS = {"why_severity": "Why this severity", "engaged": "People", "on_call": "On call"}
TAB_TIMELINE, TAB_WHY, TAB_PEOPLE, TAB_ESCALATION = range(4)


def _table(model, *, widths: tuple[int, ...], stretch: int) -> QTableView:  # type: ignore[no-untyped-def]
    view = QTableView()
    view.setModel(model)
    view.verticalHeader().hide()
    # Tens to hundreds of rows: fitting rows to wrapped text is affordable here (never in the queue).
    view.setWordWrap(True)
    view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    header = view.horizontalHeader()
    for column, width in enumerate(widths):
        header.resizeSection(column, width)
    header.setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)
    return view


class IncidentDetailPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.incident_id: int | None = None
        self.detail: IncidentDetail | None = None
        self.stale = False
        self._last_ladder = ""
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
            label = LABELS.get(key, key.replace("_", " ").capitalize())
            form.addRow(QLabel(label + ":", objectName="FieldName"), value)
        self.timeline_model = TimelineModel(self)
        self.timeline = _table(self.timeline_model, widths=(80, 100, 130), stretch=3)
        self.timeline.setObjectName("TimelineView")
        self.engaged_model = EngagedModel(self)
        self.engaged = _table(self.engaged_model, widths=(85, 125, 135, 75), stretch=COL_FATIGUE)
        self.engaged.setObjectName("EngagedView")
        self.engaged_why = QLabel("Select someone to see why they were engaged.", wordWrap=True,
                                  objectName="EngagedWhy")
        self.engaged_why.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.engaged.selectionModel().currentRowChanged.connect(self._on_engaged_current_row_changed)
        people = QWidget()
        people_layout = QVBoxLayout(people)
        people_layout.setContentsMargins(0, 0, 0, 0)
        people_layout.addWidget(self.engaged, 1)
        people_layout.addWidget(self.engaged_why)
        self.why = QTextBrowser(objectName="WhyView", openExternalLinks=False)
        self.ladder = QTextBrowser(objectName="LadderView", openExternalLinks=False)
        self.tabs = QTabWidget(objectName="DetailTabs")
        self.tabs.addTab(self.timeline, "Timeline")
        self.tabs.addTab(self.why, "Why")
        self.tabs.addTab(people, "People")
        self.tabs.addTab(self.ladder, "Escalation")

        content = QWidget()
        layout = QVBoxLayout(content)
        layout.addWidget(self.title)
        layout.addLayout(form)
        layout.addWidget(self.tabs, 1)
        # Scrolls rather than forcing its height on the window: a small screen or a short dock still works.
        scroller = QScrollArea(widgetResizable=True, frameShape=QFrame.Shape.NoFrame)
        scroller.setWidget(content)
        self._stack = QStackedLayout(self)
        self._stack.addWidget(self.empty)
        self._stack.addWidget(scroller)

    def update_countdown(self, *, now: datetime | None) -> None:
        """Show where the escalation is and how long until the next tier is paged (called every second)."""
        detail = self.detail
        if detail is None:
            return
        info = detail.escalation
        if info is None:
            text = not_escalating(detail)
        elif info.running and info.next_due_at is not None:
            left = (info.next_due_at - now).total_seconds() if now else None
            when = f" in {format_countdown(left)}" if left is not None and left > 0 else (" now" if now else "")
            text = f"{info.policy}: next {info.next_tier}{when}"
        else:
            text = f"{info.policy}: stopped — {info.stop_reason}"
        if self.values["escalation"].text() != text:
            self.values["escalation"].setText(text)
        ladder = ladder_html(detail, now=now)
        if ladder != self._last_ladder:  # re-laid out only when a second of the countdown changed
            self._last_ladder = ladder
            self.ladder.setHtml(ladder)

    def _on_engaged_current_row_changed(self, current, _previous) -> None:  # type: ignore[no-untyped-def]
        if current.isValid():
            page = self.engaged_model.page_at(current.row())
            self.engaged_why.setText(f"{page.person}: {page.why}" + (f" — ⚠ {page.fatigue}" if page.over_limit else ""))

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
        for key, text in _texts(detail).items():
            self.values[key].setText(text)
        tired = bool(detail.over_limit)
        self.values["engaged"].setStyleSheet(f"color: {theme.WARN_FG};" if tired else "")
        self.why.setHtml(why_html(detail))
        self.engaged_model.set_pages(detail.pages)
        self.tabs.setTabText(TAB_PEOPLE, f"People ({len({p.person for p in detail.pages})})" + (" ⚠" if tired else ""))
        self.update_countdown(now=None)
        self.timeline_model.set_items(detail.timeline)
        self.timeline.scrollToBottom()
        self._stack.setCurrentIndex(1)


def _texts(detail: IncidentDetail) -> dict[str, str]:
    row = detail.row
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
    return {
        "status": status,
        "owner": detail.owner.name if detail.owner else "⚠ unowned",
        "commander": detail.commander.name if detail.commander else "— none —",
        "team": f"{detail.team} (lead: {detail.team_lead or '—'})",
        "service": service,
        "on_call": on_call,
        "customer_impact": detail.customer_impact or "— not stated —",
        "next_action": detail.next_action or "⚠ no next action set",
        "opened": f"{local_time(row.opened_at, with_date=True)} · {detail.signal_count} signal(s)",
        "why_severity": severity_line(detail),
        "engaged": engaged_line(detail),
    }
