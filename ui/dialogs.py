"""Small dialogs the actions use: pick a person, change severity with a reason, enter a text, override with a reason."""
from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from console.dto import PersonRef, PersonRole, Severity
from ui import theme

ROLE_LABEL = {
    PersonRole.RESPONDER: "responder",
    PersonRole.INCIDENT_COMMANDER: "incident commander",
    PersonRole.SUPPORT_LEAD: "support lead",
    PersonRole.LEADER: "leader",
    PersonRole.TRAINER: "trainer",
    PersonRole.CUSTOMER_SUCCESS: "customer success",
}
PERSON_ID = Qt.ItemDataRole.UserRole


class _FormDialog(QDialog):
    """A dialog with a prompt, a body and OK/Cancel, OK enabled only when the input is valid."""

    def __init__(self, title: str, prompt: str, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setMinimumWidth(460)
        self.layout_ = QVBoxLayout(self)
        self.prompt = QLabel(prompt, wordWrap=True)
        self.layout_.addWidget(self.prompt)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

    @property
    def ok_button(self):  # type: ignore[no-untyped-def]
        return self.buttons.button(QDialogButtonBox.StandardButton.Ok)

    def finish_layout(self) -> None:
        self.layout_.addWidget(self.buttons)
        self.validate()

    def validate(self) -> None:
        self.ok_button.setEnabled(self.is_valid())

    def is_valid(self) -> bool:
        return True

    def accept(self) -> None:
        if self.is_valid():
            super().accept()


class TextDialog(_FormDialog):
    def __init__(self, *, title: str, prompt: str, initial: str = "", parent: QWidget | None = None) -> None:
        super().__init__(title, prompt, parent)
        self.editor = QPlainTextEdit(initial, objectName="TextInput")
        self.editor.setTabChangesFocus(True)
        self.editor.textChanged.connect(self.validate)
        self.layout_.addWidget(self.editor)
        self.finish_layout()

    def is_valid(self) -> bool:
        return bool(self.text())

    def text(self) -> str:
        return self.editor.toPlainText().strip()


class SeverityDialog(_FormDialog):
    def __init__(self, *, current: Severity, parent: QWidget | None = None) -> None:
        super().__init__("Change severity", f"Currently {theme.severity_text(current)}. A reason is required.", parent)
        self.current = current
        self.combo = QComboBox(objectName="SeverityChoice")
        for severity in Severity:
            self.combo.addItem(f"{theme.severity_text(severity)} — {theme.SEVERITY_NAME[severity]}", severity)
        self.combo.setCurrentIndex(list(Severity).index(current))
        self.reason = QLineEdit(objectName="SeverityReason", placeholderText="Why? (goes on the timeline)")
        self.combo.currentIndexChanged.connect(self.validate)
        self.reason.textChanged.connect(self.validate)
        self.layout_.addWidget(self.combo)
        self.layout_.addWidget(self.reason)
        self.finish_layout()
        self.reason.setFocus()

    def severity(self) -> Severity:
        # Item data comes back from Qt as a plain str; turn it back into the enum before comparing.
        return Severity(self.combo.currentData())

    def reason_text(self) -> str:
        return self.reason.text().strip()

    def is_valid(self) -> bool:
        return self.severity() is not self.current and bool(self.reason_text())


class ChoiceReasonDialog(_FormDialog):
    """Choose one of a few options and say why (an override of what automation decided)."""

    def __init__(self, *, title: str, prompt: str, options: Sequence[tuple[str, object]],
                 parent: QWidget | None = None) -> None:
        super().__init__(title, prompt, parent)
        self.combo = QComboBox(objectName="OverrideChoice")
        for label, value in options:
            self.combo.addItem(label, value)
        self.reason = QLineEdit(objectName="OverrideReason", placeholderText="Why? (goes on the timeline and the audit)")
        self.reason.textChanged.connect(self.validate)
        self.layout_.addWidget(self.combo)
        self.layout_.addWidget(self.reason)
        self.finish_layout()
        self.reason.setFocus()

    def choice(self) -> object:
        return self.combo.currentData()

    def reason_text(self) -> str:
        return self.reason.text().strip()

    def is_valid(self) -> bool:
        return self.combo.count() > 0 and bool(self.reason_text())


class PersonPickerDialog(_FormDialog):
    """Choose one person from the roster, filtered by typing a name, handle or role."""

    def __init__(self, *, people: Sequence[PersonRef], title: str, prompt: str, preselect: int | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(title, prompt, parent)
        self.filter = QLineEdit(objectName="PersonFilter", placeholderText="Type to filter by name, handle or role")
        self.list = QListWidget(objectName="PersonList")
        for person in people:
            roles = ", ".join(sorted(ROLE_LABEL[r] for r in person.roles))
            item = QListWidgetItem(f"{person.name}  ({person.handle}){'  —  ' + roles if roles else ''}")
            item.setData(PERSON_ID, person.id)
            self.list.addItem(item)
            if person.id == preselect:
                self.list.setCurrentItem(item)
        self.filter.textChanged.connect(self._on_filter_text_changed)
        self.list.currentItemChanged.connect(self.validate)
        self.list.itemDoubleClicked.connect(self.accept)
        self.layout_.addWidget(self.filter)
        self.layout_.addWidget(self.list)
        self.finish_layout()
        self.filter.setFocus()

    def person_id(self) -> int | None:
        item = self.list.currentItem()
        return None if item is None or item.isHidden() else item.data(PERSON_ID)

    def is_valid(self) -> bool:
        return self.person_id() is not None

    def _on_filter_text_changed(self, text: str) -> None:
        needle = text.strip().lower()
        first_visible = None
        for i in range(self.list.count()):
            item = self.list.item(i)
            hidden = bool(needle) and needle not in item.text().lower()
            item.setHidden(hidden)
            if not hidden and first_visible is None:
                first_visible = item
        current = self.list.currentItem()
        if (current is None or current.isHidden()) and first_visible is not None:
            self.list.setCurrentItem(first_visible)
        self.validate()
