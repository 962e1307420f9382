"""The Mitigations tab of an incident: each request and its state with the expiry countdown, the selected one in
full (scope, risk, evidence, revert plan, signed decisions), who could approve what is waiting and whether they
are on call now, and the buttons to request, review and sign, page an approver, extend, revert or withdraw."""
from __future__ import annotations

import html
from datetime import datetime

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from console.mitigations.views import MitigationItem, MitigationsView
from ui.timefmt import format_countdown, local_time

STATE_TEXT = {"requested": "◔ awaiting approval", "active": "● active", "expired": "⚠ EXPIRED — revert",
              "reverted": "○ reverted", "rejected": "✖ rejected", "withdrawn": "○ withdrawn"}
COLUMNS = ("Ref", "State", "Expires", "Action", "Class", "Asked by")


def expiry_text(item: MitigationItem, *, now: datetime) -> str:
    """Say how long an approved mitigation has left, or how long ago it expired."""
    if item.expires_at is None or not item.live:
        return ""
    left = (item.expires_at - now).total_seconds()
    return f"in {format_countdown(left)}" if left >= 0 else f"{format_countdown(-left)} ago"


class MitigationsPanel(QWidget):
    request_wanted = Signal()
    review_wanted = Signal(int)  # ask id
    page_wanted = Signal(int, int)  # mitigation id, person id
    extend_wanted = Signal(int)
    revert_wanted = Signal(int)
    withdraw_wanted = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view: MitigationsView | None = None
        self.notice = QLabel("", objectName="MitigationNotice", wordWrap=True)
        self.notice.hide()
        self.request = QPushButton("Request a mitigation…  [Ctrl+M]", objectName="RequestMitigationButton")
        self.request.clicked.connect(self.request_wanted)
        self.tree = QTreeWidget(objectName="MitigationTree")
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setRootIsDecorated(False)
        for column, width in enumerate((60, 150, 90, 260, 100)):
            self.tree.setColumnWidth(column, width)
        self.tree.currentItemChanged.connect(lambda *_: self._show_selected())
        self.details = QTextBrowser(objectName="MitigationDetails")
        self.details.setOpenExternalLinks(False)
        self.review = QPushButton("Review && sign…", objectName="ReviewButton")
        self.review.clicked.connect(self._on_review_clicked)
        self.approvers = QComboBox(objectName="ApproverCombo")
        self.page = QPushButton("Page", objectName="PageApproverButton")
        self.page.clicked.connect(self._on_page_clicked)
        self.extend = QPushButton("Extend…", objectName="ExtendButton")
        self.extend.clicked.connect(lambda: self._emit_selected(self.extend_wanted))
        self.revert = QPushButton("Reverted…", objectName="RevertButton")
        self.revert.setToolTip("Record that the revert plan was carried out")
        self.revert.clicked.connect(lambda: self._emit_selected(self.revert_wanted))
        self.withdraw = QPushButton("Withdraw…", objectName="WithdrawButton")
        self.withdraw.clicked.connect(lambda: self._emit_selected(self.withdraw_wanted))
        buttons = QHBoxLayout()
        for widget in (self.review, QLabel("Approver:"), self.approvers, self.page, self.extend, self.revert,
                       self.withdraw):
            buttons.addWidget(widget)
        buttons.addStretch(1)
        top = QHBoxLayout()
        top.addWidget(self.request)
        top.addStretch(1)
        lower = QWidget()
        lower_layout = QVBoxLayout(lower)
        lower_layout.setContentsMargins(0, 0, 0, 0)
        lower_layout.addLayout(buttons)
        lower_layout.addWidget(self.details)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.tree)
        split.addWidget(lower)
        split.setSizes([140, 260])
        layout = QVBoxLayout(self)
        layout.addWidget(self.notice)
        layout.addLayout(top)
        layout.addWidget(split)
        self._update_buttons()

    # --- showing ------------------------------------------------------------------------------------

    def show_view(self, view: MitigationsView, *, now: datetime) -> None:
        """Show an incident's mitigations, keeping the selection where it was."""
        keep = self.selected()
        self.view = view
        self.notice.setText(f"⚠ {view.no_rights}")
        self.notice.setVisible(bool(view.no_rights))
        self.tree.clear()
        for item in view.items:
            row = QTreeWidgetItem([item.ref, STATE_TEXT.get(item.state.value, item.state.value),
                                   expiry_text(item, now=now), item.action, item.action_class,
                                   item.requested_by.name if item.requested_by else "?"])
            row.setData(0, Qt.ItemDataRole.UserRole, item.id)
            row.setToolTip(3, item.action)
            self.tree.addTopLevelItem(row)
            if keep is not None and item.id == keep.id:
                self.tree.setCurrentItem(row)
        if self.tree.currentItem() is None and self.tree.topLevelItemCount():
            self.tree.setCurrentItem(self.tree.topLevelItem(0))
        self._show_selected()

    def update_countdown(self, *, now: datetime) -> None:
        """Count every approved mitigation's expiry down (called every second)."""
        if self.view is None:
            return
        for index, item in enumerate(self.view.items):
            row = self.tree.topLevelItem(index)
            if row is not None and item.live:
                row.setText(2, expiry_text(item, now=now))
                expired = item.expires_at is not None and item.expires_at <= now
                row.setText(1, STATE_TEXT["expired" if expired else item.state.value])

    def selected(self) -> MitigationItem | None:
        current = self.tree.currentItem()
        if current is None or self.view is None:
            return None
        wanted = current.data(0, Qt.ItemDataRole.UserRole)
        return next((i for i in self.view.items if i.id == wanted), None)

    def select_mitigation(self, mitigation_id: int) -> bool:
        for index in range(self.tree.topLevelItemCount()):
            row = self.tree.topLevelItem(index)
            if row.data(0, Qt.ItemDataRole.UserRole) == mitigation_id:
                self.tree.setCurrentItem(row)
                return True
        return False

    def _show_selected(self) -> None:
        item = self.selected()
        self.approvers.clear()
        if item is None:
            self.details.setHtml("<p>No mitigation requested on this incident. A temporary action (roll back, "
                                 "disable a flag, fail over, rate-limit) is requested here and approved by a leader "
                                 "who holds the decision right.</p>")
        else:
            self.details.setHtml(details_html(item))
            for approver in item.approvers:
                state = "on call now" if approver.on_call else approver.away or "not on call"
                self.approvers.addItem(f"{approver.person.name} — {state}", approver.person.id)
        self._update_buttons()

    def _update_buttons(self) -> None:
        item = self.selected()
        pending = item is not None and item.pending is not None
        self.review.setEnabled(pending)
        self.page.setEnabled(pending and self.approvers.count() > 0)
        self.approvers.setEnabled(pending and self.approvers.count() > 0)
        self.extend.setEnabled(item is not None and item.live and item.pending is None)
        self.revert.setEnabled(item is not None and item.live)
        self.withdraw.setEnabled(item is not None and item.state.value == "requested")

    # --- asking -------------------------------------------------------------------------------------

    def _emit_selected(self, signal) -> None:  # type: ignore[no-untyped-def]
        item = self.selected()
        if item is not None:
            signal.emit(item.id)

    def _on_review_clicked(self) -> None:
        item = self.selected()
        if item is not None and item.pending is not None:
            self.review_wanted.emit(item.pending.id)

    def _on_page_clicked(self) -> None:
        item = self.selected()
        person = self.approvers.currentData()
        if item is not None and person is not None:
            self.page_wanted.emit(item.id, int(person))


def details_html(item: MitigationItem) -> str:
    """Describe one mitigation in full: what, where, how risky, why, how to undo, and every decision."""
    e = html.escape
    scope = "; ".join(f"{label}: {', '.join(values)}" for label, values in (
        ("services", item.services), ("regions", item.regions), ("tenants", item.tenants)) if values)
    parts = [f"<h3>{e(item.ref)} — {e(item.action)}</h3>",
             f"<p><b>Class</b> {e(item.action_class)} &nbsp; <b>Risk</b> {e(item.risk)} &nbsp; "
             f"<b>For</b> {item.minutes} min &nbsp; <b>Scope</b> {e(scope)}</p>",
             f"<p><b>Evidence</b><br>{e(item.evidence)}</p>", f"<p><b>Revert plan</b><br>{e(item.revert_plan)}</p>",
             f"<p><b>Asked by</b> {e(item.requested_by.name if item.requested_by else '?')} at "
             f"{local_time(item.requested_at)}</p>"]
    if item.expires_at is not None and item.live:
        parts.append(f"<p><b>Expires</b> {local_time(item.expires_at)}</p>")
    if item.end_reason:
        parts.append(f"<p><b>Ended</b> {local_time(item.ended_at) if item.ended_at else ''}: {e(item.end_reason)}</p>")
    for decision in item.decisions:
        mark = "✔ signature verified" if decision.valid else f"✖ SIGNATURE DOES NOT VERIFY: {e(decision.problem)}"
        what = "extension " if decision.kind == "extension" else ""
        parts.append(f"<p><b>{e(what + decision.verdict).capitalize()}</b> by "
                     f"{e(decision.by.name if decision.by else '?')} at {local_time(decision.at)}: “{e(decision.reason)}”"
                     f" — {mark}</p>")
    if item.pending is not None:
        pending = item.pending
        what = (f"an extension of {pending.minutes} min ({e(pending.reason)})" if pending.kind == "extension"
                else "approval")
        parts.append(f"<p><b>Waiting for</b> {what}, asked by "
                     f"{e(pending.requested_by.name if pending.requested_by else '?')}.</p>")
        if item.approvers:
            rows = "".join(f"<li>{e(a.person.name)} ({e(a.person.title or a.person.handle)}) — "
                           f"{'<b>on call now</b> for ' + e(a.on_call) if a.on_call else e(a.away or 'not on call')}"
                           f"{'' if a.has_key else ', no signing key yet'}</li>" for a in item.approvers)
            parts.append(f"<p><b>Who can approve</b></p><ul>{rows}</ul>")
        else:
            parts.append("<p><b>Nobody holds the right to approve this</b> at this severity and scope.</p>")
    return "".join(parts)
