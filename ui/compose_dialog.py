"""Compose an update: pick a template, read the rendered preview, edit it, pick the channels, send.

The preview is rendered off the GUI thread by whoever opens the dialog (`render_wanted`), so a slow database or
a heavy template never freezes the window; a refused template shows its name, line and reason in place.
"""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from console.comms.dto import AUDIENCE_WORDS, ChannelInfo, Draft, TemplateInfo


class ComposeDialog(QDialog):
    render_wanted = Signal(str)  # template name

    def __init__(self, *, incident_ref: str, templates: tuple[TemplateInfo, ...], channels: tuple[ChannelInfo, ...],
                 sandbox: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent, objectName="ComposeDialog")
        self.setWindowTitle(f"Send an update on {incident_ref}")
        self.resize(760, 640)
        self._rendered: Draft | None = None
        self.template = QComboBox(objectName="ComposeTemplate")
        for info in templates:
            self.template.addItem(f"{info.title} — {AUDIENCE_WORDS.get(info.audience, info.audience)}", info.name)
        self.purpose = QLabel(wordWrap=True, objectName="ComposePurpose")
        self._purposes = {t.name: t.purpose for t in templates}
        self.subject = QLineEdit(objectName="ComposeSubject")
        self.body = QPlainTextEdit(objectName="ComposeBody")
        self.error = QLabel(wordWrap=True, objectName="ComposeError")
        self.error.setStyleSheet("color: #ff6b6b; font-weight: bold;")
        self.error.hide()
        self.checks: dict[str, QCheckBox] = {}
        box = QGroupBox("Send to")
        box_layout = QVBoxLayout(box)
        for channel in channels:
            missing = "" if channel.endpoint_set or sandbox else "  ⚠ no endpoint set on this machine"
            check = QCheckBox(f"{channel.name} ({channel.kind}) — {channel.description}{missing}",
                              objectName=f"channel_{channel.name}")
            self.checks[channel.name] = check
            box_layout.addWidget(check)
        notice = QLabel("SANDBOX: nothing leaves this machine; the message goes to the sandbox outbox.",
                        objectName="SandboxNotice", wordWrap=True)
        notice.setVisible(sandbox)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.send_button = self.buttons.addButton("Send", QDialogButtonBox.ButtonRole.AcceptRole)
        self.send_button.setObjectName("ComposeSend")
        self.send_button.setEnabled(False)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("Template:", self.template)
        form.addRow("", self.purpose)
        form.addRow("Subject:", self.subject)
        layout = QVBoxLayout(self)
        layout.addWidget(notice)
        layout.addLayout(form)
        layout.addWidget(self.body, 1)
        layout.addWidget(self.error)
        layout.addWidget(box)
        layout.addWidget(self.buttons)
        self.template.currentIndexChanged.connect(self._on_template_current_index_changed)
        for check in self.checks.values():
            check.toggled.connect(self._update_send)
        self.subject.textChanged.connect(self._update_send)
        self.body.textChanged.connect(self._update_send)

    def select_template(self, name: str) -> None:
        index = self.template.findData(name)
        if index >= 0 and index != self.template.currentIndex():
            self.template.setCurrentIndex(index)
        elif index >= 0:
            self._on_template_current_index_changed(index)

    def set_draft(self, draft: Draft) -> None:
        """Show a rendered draft and tick its default channels (a newer template choice wins over a late render)."""
        if draft.template != self.template_name():
            return
        self._rendered = draft
        self.error.hide()
        self.subject.setText(draft.subject)
        self.body.setPlainText(draft.body)
        for name, check in self.checks.items():
            check.setChecked(name in draft.channels)
        self._update_send()

    def show_error(self, message: str) -> None:
        """Say why the template could not be rendered; nothing can be sent from it until it is fixed."""
        self._rendered = None
        self.error.setText(f"⚠ {message}")
        self.error.show()
        self._update_send()

    def template_name(self) -> str:
        return self.template.currentData() or ""

    def chosen_channels(self) -> list[str]:
        return [name for name, check in self.checks.items() if check.isChecked()]

    def values(self) -> dict[str, object]:
        """Return what to send, read on the GUI thread when the operator presses Send."""
        draft = self._rendered
        subject, body = self.subject.text(), self.body.toPlainText()
        edited = draft is None or subject != draft.subject or body != draft.body
        return {"template": self.template_name(), "subject": subject, "body": body,
                "channels": self.chosen_channels(), "edited": edited}

    def _on_template_current_index_changed(self, _index: int) -> None:
        name = self.template_name()
        self.purpose.setText(self._purposes.get(name, ""))
        self._rendered = None
        self.subject.clear()
        self.body.setPlainText("Rendering…")
        self._update_send()
        self.render_wanted.emit(name)

    def _update_send(self) -> None:
        ready = (self._rendered is not None and bool(self.subject.text().strip())
                 and bool(self.body.toPlainText().strip()) and bool(self.chosen_channels()))
        self.send_button.setEnabled(ready)
