"""The sandbox outbox: every message the demo or a training session "sent", exactly as it would have gone out,
kept on this machine. Nothing in it ever reached Slack, Teams, a status page, a webhook or a mailbox."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSplitter, QTextBrowser, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from console.comms.dto import AUDIENCE_WORDS, MessageItem
from console.dto import incident_ref
from ui.timefmt import local_time

MESSAGE_ROLE = Qt.ItemDataRole.UserRole


class SandboxPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.stale = True
        self._messages: dict[int, MessageItem] = {}
        self.header = QLabel("Sandbox outbox — nothing here left this machine.", objectName="PanelHeader")
        self.tree = QTreeWidget(objectName="SandboxView", columnCount=4)
        self.tree.setHeaderLabels(["Sent", "Incident", "To", "Subject"])
        for column, width in enumerate((150, 80, 230)):
            self.tree.header().resizeSection(column, width)
        self.tree.setRootIsDecorated(False)
        self.preview = QTextBrowser(objectName="SandboxPreview")
        self.tree.currentItemChanged.connect(self._on_tree_current_item_changed)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.tree)
        split.addWidget(self.preview)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.header)
        layout.addWidget(split, 1)

    def show_messages(self, messages: tuple[MessageItem, ...]) -> None:
        """Show the sandbox outbox, newest first, keeping the selected message."""
        current = self.tree.currentItem()
        keep = current.data(0, MESSAGE_ROLE) if current is not None else None
        self.stale = False
        self._messages = {m.id: m for m in messages}
        self.tree.clear()
        for message in messages:
            channels = ", ".join(d.channel for d in message.deliveries)
            item = QTreeWidgetItem([local_time(message.created_at, with_date=True), incident_ref(message.incident_id),
                                    f"{AUDIENCE_WORDS.get(message.audience, message.audience)} via {channels}",
                                    message.subject])
            item.setData(0, MESSAGE_ROLE, message.id)
            self.tree.addTopLevelItem(item)
            if message.id == keep:
                self.tree.setCurrentItem(item)
        self.header.setText(f"Sandbox outbox — {len(messages)} message(s); nothing here left this machine.")

    def _on_tree_current_item_changed(self, current, _previous) -> None:  # type: ignore[no-untyped-def]
        message = self._messages.get(current.data(0, MESSAGE_ROLE)) if current is not None else None
        if message is None:
            self.preview.clear()
            return
        self.preview.setPlainText(f"To: {message.audience} via {', '.join(d.channel for d in message.deliveries)}\n"
                                  f"From: {message.created_by}\nSubject: {message.subject}\n\n{message.body}")
