"""The incident's Updates tab: when each audience is next due an update (counting down, red once overdue), the
one-click due update, every message sent with each channel's delivery state, and what to do about a failure."""
from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTextBrowser,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from console.comms.cadence import due_times
from console.comms.dto import AUDIENCE_WORDS, CommsView, DeliveryItem, DeliveryState, MessageItem
from ui.timefmt import format_countdown, local_time

STATE_TEXT = {DeliveryState.QUEUED: "◔ queued", DeliveryState.SENDING: "➚ sending",
              DeliveryState.DELIVERED: "✔ delivered", DeliveryState.FAILED: "✖ FAILED"}
DELIVERY_ROLE = Qt.ItemDataRole.UserRole
MESSAGE_ROLE = Qt.ItemDataRole.UserRole + 1


def delivery_text(delivery: DeliveryItem, *, now: datetime | None) -> str:
    """Say where one delivery is, with the reason when it is waiting to retry or failed."""
    text = STATE_TEXT[delivery.state]
    if delivery.state is DeliveryState.DELIVERED and delivery.delivered_at:
        text += f" {local_time(delivery.delivered_at)}"
    if delivery.state is DeliveryState.QUEUED and delivery.attempts and now is not None:
        left = (delivery.next_attempt_at - now).total_seconds()
        text += f" — retry {'in ' + format_countdown(left) if left > 0 else 'now'} ({delivery.last_error})"
    if delivery.state is DeliveryState.FAILED:
        text += f": {delivery.last_error}" + (" (dismissed)" if delivery.dismissed else "")
    if delivery.interrupted:
        text += " · sent again after an interrupted attempt"
    return text


class CommsPanel(QWidget):
    send_due_requested = Signal(str)  # audience
    compose_requested = Signal()
    retry_requested = Signal(int)  # delivery id
    dismiss_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view: CommsView | None = None
        self._opened_at: datetime | None = None
        self._resolved = False
        self.sandbox_notice = QLabel("SANDBOX — updates on this incident stay on this machine (demo or training): "
                                     "see View ▸ Sandbox outbox.", objectName="SandboxNotice", wordWrap=True)
        self.cadence = {a: QLabel(objectName=f"cadence_{a}") for a in AUDIENCE_WORDS}
        cadence_row = QHBoxLayout()
        for label in self.cadence.values():
            cadence_row.addWidget(label)
        cadence_row.addStretch(1)
        self.send_due = QPushButton("Send customer update  [U]", objectName="SendDueButton")
        self.send_due.clicked.connect(lambda: self.send_due_requested.emit("customers"))
        self.compose = QPushButton("Compose…  [Shift+U]", objectName="ComposeButton")
        self.compose.clicked.connect(self.compose_requested)
        self.retry = QPushButton("Send again", objectName="RetryDeliveryButton", enabled=False)
        self.retry.clicked.connect(lambda: self._emit_selected(self.retry_requested))
        self.dismiss = QPushButton("Dismiss failure", objectName="DismissDeliveryButton", enabled=False)
        self.dismiss.clicked.connect(lambda: self._emit_selected(self.dismiss_requested))
        buttons = QHBoxLayout()
        for button in (self.send_due, self.compose):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.retry)
        buttons.addWidget(self.dismiss)
        self.tree = QTreeWidget(objectName="MessagesView", columnCount=3)
        self.tree.setHeaderLabels(["Sent", "Update", "State"])
        self.tree.header().resizeSection(0, 95)
        self.tree.header().resizeSection(1, 330)
        self.tree.currentItemChanged.connect(self._on_tree_current_item_changed)
        self.preview = QTextBrowser(objectName="MessagePreview")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addWidget(self.sandbox_notice)
        layout.addLayout(cadence_row)
        layout.addLayout(buttons)
        layout.addWidget(self.tree, 2)
        layout.addWidget(self.preview, 1)
        self._failed_brush = QBrush(QColor("#ff6b6b"))

    def set_incident_times(self, *, opened_at: datetime, resolved: bool) -> None:
        self._opened_at, self._resolved = opened_at, resolved

    def show_view(self, view: CommsView, *, now: datetime | None) -> None:
        """Fill the tab from a fresh view of the incident's communications, keeping the selection."""
        selected = self._selected_ids()
        self.view = view
        self.sandbox_notice.setVisible(view.sandbox)
        self.send_due.setText("Send resolution notice  [U]" if self._resolved else "Send customer update  [U]")
        self.tree.clear()
        restore = None
        for message in view.messages:
            item = QTreeWidgetItem([local_time(message.created_at),
                                    f"{AUDIENCE_WORDS.get(message.audience, message.audience)}: {message.subject}",
                                    STATE_TEXT[message.state] + (" · sandbox" if message.sandbox else "")])
            item.setData(0, MESSAGE_ROLE, message.id)
            item.setToolTip(1, f"{message.template}{' (edited)' if message.edited else ''} by {message.created_by}")
            for delivery in message.deliveries:
                child = QTreeWidgetItem(["", delivery.channel, delivery_text(delivery, now=now)])
                child.setData(0, DELIVERY_ROLE, delivery.id)
                child.setData(0, MESSAGE_ROLE, message.id)
                child.setToolTip(2, child.text(2))
                if delivery.needs_attention:
                    for column in range(3):
                        child.setForeground(column, self._failed_brush)
                item.addChild(child)
                if selected == (message.id, delivery.id):
                    restore = child
            if message.state is DeliveryState.FAILED:
                item.setForeground(2, self._failed_brush)
            self.tree.addTopLevelItem(item)
            item.setExpanded(message.state is not DeliveryState.DELIVERED)
            if selected == (message.id, None):
                restore = item
        if restore is not None:
            self.tree.setCurrentItem(restore)
        self.update_countdown(now=now)

    def message(self, message_id: int) -> MessageItem | None:
        return next((m for m in (self.view.messages if self.view else ()) if m.id == message_id), None)

    def update_countdown(self, *, now: datetime | None) -> None:
        """Show how long until each audience's next update, red once overdue (called every second)."""
        view = self.view
        due = {} if view is None or self._opened_at is None or now is None else due_times(
            opened_at=self._opened_at, resolved=self._resolved, cadence=view.cadence, last=dict(view.last_update))
        for audience, label in self.cadence.items():
            if audience not in due:
                text, overdue = f"{AUDIENCE_WORDS[audience]}: no scheduled updates", False
            else:
                left = (due[audience] - now).total_seconds()  # type: ignore[operator]
                overdue = left < 0
                text = (f"⚠ {AUDIENCE_WORDS[audience]}: update OVERDUE by {format_countdown(-left)}" if overdue
                        else f"{AUDIENCE_WORDS[audience]}: next update due in {format_countdown(left)}")
            if label.text() != text:
                label.setText(text)
                label.setProperty("overdue", "true" if overdue else "false")
                label.style().unpolish(label)
                label.style().polish(label)

    def _selected_ids(self) -> tuple[int, int | None] | None:
        item = self.tree.currentItem()
        if item is None:
            return None
        return item.data(0, MESSAGE_ROLE), item.data(0, DELIVERY_ROLE)

    def selected_delivery(self) -> DeliveryItem | None:
        ids = self._selected_ids()
        if ids is None or ids[1] is None:
            return None
        message = self.message(ids[0])
        return next((d for d in message.deliveries if d.id == ids[1]), None) if message else None

    def select_delivery(self, delivery_id: int) -> bool:
        """Select a delivery's row (from the failure banner); return whether it is shown here."""
        for index in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(index)
            for child_index in range(item.childCount()):
                child = item.child(child_index)
                if child.data(0, DELIVERY_ROLE) == delivery_id:
                    item.setExpanded(True)
                    self.tree.setCurrentItem(child)
                    return True
        return False

    def _emit_selected(self, signal) -> None:  # type: ignore[no-untyped-def]
        delivery = self.selected_delivery()
        if delivery is not None:
            signal.emit(delivery.id)

    def _on_tree_current_item_changed(self, current, _previous) -> None:  # type: ignore[no-untyped-def]
        delivery = self.selected_delivery()
        failed = delivery is not None and delivery.state is DeliveryState.FAILED
        self.retry.setEnabled(failed)
        self.dismiss.setEnabled(failed and not delivery.dismissed)  # type: ignore[union-attr]
        message = self.message(current.data(0, MESSAGE_ROLE)) if current is not None else None
        if message is None:
            self.preview.clear()
            return
        self.preview.setPlainText(f"{message.subject}\n\n{message.body}")
