"""Asking for a mitigation (action, class, scope, risk, evidence, revert plan, duration), and the short forms
for extending (minutes and why), reverting (what was done) and withdrawing (why).

The dialogs only collect and check what is typed; the command checks everything again when it runs, and a
refusal comes back through the action outbox like any other.
"""
from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from PySide6.QtCore import Qt

from console.mitigations.views import MitigationsView

RISKS = (("low", "Low — easily undone, little can go wrong"), ("medium", "Medium — undone in minutes"),
         ("high", "High — hard to undo, or touches customer data"))


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]


class RequestMitigationDialog(QDialog):
    def __init__(self, *, incident_ref: str, view: MitigationsView, parent: QWidget | None = None) -> None:
        super().__init__(parent, objectName="RequestMitigationDialog")
        self.setWindowTitle(f"Request a mitigation on {incident_ref}")
        self.resize(640, 640)
        self._classes = {c.name: c for c in view.classes}
        self.action = QLineEdit(objectName="MitigationAction", placeholderText="e.g. Roll back identity to 2026.11.30")
        self.action_class = QComboBox(objectName="MitigationClass")
        for info in view.classes:
            self.action_class.addItem(f"{info.name} — {info.description}", info.name)
        self.services = QListWidget(objectName="MitigationServices")
        self.services.setMaximumHeight(110)
        for name in view.services:
            item = QListWidgetItem(name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if name in view.default_services else Qt.CheckState.Unchecked)
            self.services.addItem(item)
        self.regions = QLineEdit(objectName="MitigationRegions", placeholderText="comma-separated, e.g. eu-west-1")
        self.tenants = QLineEdit(objectName="MitigationTenants", placeholderText="comma-separated; empty: all")
        self.risk = QComboBox(objectName="MitigationRisk")
        for value, text in RISKS:
            self.risk.addItem(text, value)
        self.risk.setCurrentIndex(1)
        self.evidence = QPlainTextEdit(objectName="MitigationEvidence",
                                       placeholderText="What shows this will help: graphs, errors, the deploy that "
                                                       "started it")
        self.revert_plan = QPlainTextEdit(objectName="MitigationRevert", placeholderText="How to undo it, step by step")
        self.minutes = QSpinBox(objectName="MitigationMinutes", minimum=1, suffix=" min")
        self.limit = QLabel(objectName="MitigationLimit")
        self.error = QLabel(wordWrap=True, objectName="MitigationError")
        self.error.setStyleSheet("color: #ff6b6b; font-weight: bold;")
        self.error.hide()
        self.action_class.currentIndexChanged.connect(self._on_class_changed)
        form = QFormLayout()
        form.addRow("Action:", self.action)
        form.addRow("Class:", self.action_class)
        form.addRow("Services:", self.services)
        form.addRow("Regions:", self.regions)
        form.addRow("Tenants:", self.tenants)
        form.addRow("Risk:", self.risk)
        form.addRow("Evidence:", self.evidence)
        form.addRow("Revert plan:", self.revert_plan)
        form.addRow("Temporary for:", self.minutes)
        form.addRow("", self.limit)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.ask = self.buttons.addButton("Ask for approval", QDialogButtonBox.ButtonRole.AcceptRole)
        self.ask.setObjectName("AskForApproval")
        self.buttons.accepted.connect(self._on_accepted)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self._on_class_changed()
        self.minutes.setValue(min(60, self.minutes.maximum()))

    def _on_class_changed(self) -> None:
        info = self._classes.get(self.action_class.currentData())
        if info is not None:
            self.minutes.setMaximum(info.max_minutes)
            self.limit.setText(f"A {info.name} mitigation may last at most {info.max_minutes} min before it needs "
                               "an extension (a new approval).")

    def values(self) -> dict[str, Any]:
        """Return the request as the command's arguments."""
        return {"action": self.action.text().strip(), "action_class": self.action_class.currentData(),
                "services": [self.services.item(i).text() for i in range(self.services.count())
                             if self.services.item(i).checkState() == Qt.CheckState.Checked],
                "regions": _split(self.regions.text()), "tenants": _split(self.tenants.text()),
                "risk": self.risk.currentData(), "evidence": self.evidence.toPlainText().strip(),
                "revert_plan": self.revert_plan.toPlainText().strip(), "minutes": self.minutes.value()}

    def _on_accepted(self) -> None:
        values = self.values()
        missing = [label for key, label in (("action", "the action"), ("services", "at least one service"),
                                            ("evidence", "the evidence"), ("revert_plan", "the revert plan"))
                   if not values[key]]
        if missing:
            self.error.setText("Fill in " + ", ".join(missing) + ": a leader decides on exactly what is written here.")
            self.error.show()
            return
        self.accept()


class ReasonDialog(QDialog):
    """One reason (and, for an extension, the minutes): what an extend, revert or withdraw asks for."""

    def __init__(self, *, title: str, prompt: str, minutes_limit: int | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent, objectName="ReasonDialog")
        self.setWindowTitle(title)
        self.resize(480, 220)
        self.prompt = QLabel(prompt, wordWrap=True)
        self.reason = QPlainTextEdit(objectName="ReasonText")
        self.minutes = QSpinBox(objectName="ReasonMinutes", minimum=1, maximum=minutes_limit or 1, suffix=" min")
        self.minutes.setValue(min(30, minutes_limit or 1))
        self.minutes.setVisible(minutes_limit is not None)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok.setEnabled(False)
        self.reason.textChanged.connect(lambda: self.ok.setEnabled(bool(self.reason.toPlainText().strip())))
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.prompt)
        layout.addWidget(self.minutes)
        layout.addWidget(self.reason)
        layout.addWidget(buttons)
