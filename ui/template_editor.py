"""Edit the communication templates: pick one, change its subject and body, see it rendered with sample facts,
and save a new version with a reason (audited). Old versions stay readable in the history list."""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from console.comms.dto import AUDIENCE_WORDS, TemplateInfo
from ui.timefmt import local_time


class TemplateEditorDialog(QDialog):
    history_wanted = Signal(str)  # template name
    preview_wanted = Signal(str, str, str)  # name, subject, body
    save_wanted = Signal(str, str, str, str)  # name, subject, body, reason

    def __init__(self, *, templates: tuple[TemplateInfo, ...], parent: QWidget | None = None) -> None:
        super().__init__(parent, objectName="TemplateEditorDialog")
        self.setWindowTitle("Communication templates")
        self.resize(980, 680)
        self._templates = {t.name: t for t in templates}
        self.names = QListWidget(objectName="TemplateNames")
        for info in templates:
            self.names.addItem(info.name)
        self.history = QListWidget(objectName="TemplateHistory")
        self.about = QLabel(wordWrap=True, objectName="TemplateAbout")
        self.subject = QLineEdit(objectName="TemplateSubject")
        self.body = QPlainTextEdit(objectName="TemplateBody")
        self.reason = QLineEdit(objectName="TemplateReason", placeholderText="Why this change (kept in the audit trail)")
        self.result = QPlainTextEdit(objectName="TemplatePreview", readOnly=True)
        self.message = QLabel(wordWrap=True, objectName="TemplateMessage")
        preview = QPushButton("Preview with sample facts", objectName="TemplatePreviewButton")
        preview.clicked.connect(self._on_preview_clicked)
        self.save = QPushButton("Save as new version", objectName="TemplateSaveButton")
        self.save.clicked.connect(self._on_save_clicked)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        left = QVBoxLayout()
        left.addWidget(QLabel("Templates"))
        left.addWidget(self.names, 2)
        left.addWidget(QLabel("Versions"))
        left.addWidget(self.history, 1)
        form = QFormLayout()
        form.addRow("Subject:", self.subject)
        right = QVBoxLayout()
        right.addWidget(self.about)
        right.addLayout(form)
        right.addWidget(self.body, 3)
        right.addWidget(self.message)
        right.addWidget(self.result, 2)
        actions = QHBoxLayout()
        actions.addWidget(preview)
        actions.addWidget(self.reason, 1)
        actions.addWidget(self.save)
        right.addLayout(actions)
        top = QHBoxLayout()
        top.addLayout(left, 1)
        top.addLayout(right, 3)
        layout = QVBoxLayout(self)
        layout.addLayout(top, 1)
        layout.addWidget(close)
        self.names.currentTextChanged.connect(self._on_names_current_text_changed)
        if templates:
            self.names.setCurrentRow(0)

    def current_name(self) -> str:
        item = self.names.currentItem()
        return item.text() if item else ""

    def show_history(self, name: str, versions: tuple[TemplateInfo, ...]) -> None:
        if name != self.current_name():
            return
        self.history.clear()
        for info in versions:
            when = local_time(info.created_at, with_date=True) if info.created_at else "shipped"
            self.history.addItem(f"v{info.version} · {when} · {info.created_by}" + (f" — {info.reason}" if info.reason
                                                                                       else ""))

    def show_result(self, *, text: str, error: str = "") -> None:
        """Show a rendered preview, or why the template is refused (name, line, reason)."""
        self.message.setText(f"⚠ {error}" if error else "")
        self.message.setStyleSheet("color: #ff6b6b; font-weight: bold;" if error else "")
        self.result.setPlainText(text)

    def saved(self, info: TemplateInfo) -> None:
        self._templates[info.name] = info
        self.reason.clear()
        self.message.setText(f"Saved {info.name} as version {info.version}.")
        self.message.setStyleSheet("")
        self.history_wanted.emit(info.name)

    def _on_names_current_text_changed(self, name: str) -> None:
        info = self._templates.get(name)
        if info is None:
            return
        self.about.setText(f"<b>{info.title}</b> — to {AUDIENCE_WORDS.get(info.audience, info.audience)}. "
                           f"{info.purpose}<br>Version {info.version}")
        self.subject.setText(info.subject)
        self.body.setPlainText(info.body)
        self.show_result(text="")
        self.history_wanted.emit(name)

    def _on_preview_clicked(self) -> None:
        self.preview_wanted.emit(self.current_name(), self.subject.text(), self.body.toPlainText())

    def _on_save_clicked(self) -> None:
        self.save_wanted.emit(self.current_name(), self.subject.text(), self.body.toPlainText(), self.reason.text())
