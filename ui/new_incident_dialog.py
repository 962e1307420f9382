"""Declare an incident by hand: title, severity, service and customer impact."""
from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtWidgets import QComboBox, QFormLayout, QLineEdit, QPlainTextEdit, QWidget

from console.dto import ServiceRef, Severity
from ui import theme
from ui.dialogs import _FormDialog


class NewIncidentDialog(_FormDialog):
    def __init__(self, *, services: Sequence[ServiceRef], parent: QWidget | None = None) -> None:
        super().__init__("Declare incident", "You will be its commander; the owner is set when someone takes it.",
                         parent)
        self.title = QLineEdit(objectName="IncidentTitle", placeholderText="What is broken, in a few words")
        self.severity_box = QComboBox(objectName="IncidentSeverity")
        for severity in Severity:
            self.severity_box.addItem(f"{theme.severity_text(severity)} — {theme.SEVERITY_NAME[severity]}", severity)
        self.severity_box.setCurrentIndex(1)
        self.service_box = QComboBox(objectName="IncidentService")
        for service in services:
            self.service_box.addItem(f"{service.name} ({service.tier}, {service.team})", service.id)
        self.impact = QPlainTextEdit(objectName="IncidentImpact")
        self.impact.setPlaceholderText("Who is affected and how (customers, regions, features)")
        self.impact.setTabChangesFocus(True)
        self.impact.setFixedHeight(80)
        form = QFormLayout()
        form.addRow("Title:", self.title)
        form.addRow("Severity:", self.severity_box)
        form.addRow("Service:", self.service_box)
        form.addRow("Customer impact:", self.impact)
        self.layout_.addLayout(form)
        self.title.textChanged.connect(self.validate)
        self.finish_layout()
        self.title.setFocus()

    def title_text(self) -> str:
        return self.title.text().strip()

    def severity(self) -> Severity:
        return Severity(self.severity_box.currentData())  # Qt hands item data back as a plain str

    def service_id(self) -> int | None:
        return self.service_box.currentData()

    def impact_text(self) -> str:
        return self.impact.toPlainText().strip()

    def is_valid(self) -> bool:
        return bool(self.title_text()) and self.service_id() is not None
