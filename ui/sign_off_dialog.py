"""A leader's sign-off: the request, the incident's facts and the evidence on one screen; who signs, their
passphrase, the reason; Approve or Reject. Lightweight but deliberate: the passphrase opens the leader's own
signing key, kept in this machine's keyring, and the decision is signed with it.

The dialog never checks anything itself: whoever opens it is told `leader_changed` and answers with
`show_standing` (may this person decide, is their key here), and `sign_wanted` carries the passphrase to a
worker that opens the key and signs. A refusal or a wrong passphrase comes back to `show_error`.
"""
from __future__ import annotations

import html

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from console.dto import IncidentDetail, IncidentRow, PersonRef
from console.mitigations.views import MitigationItem
from ui import theme
from ui.mitigations_panel import details_html


def facts_html(row: IncidentRow, detail: IncidentDetail | None) -> str:
    """The incident as the leader needs it to decide: severity, state, what is hit, who owns it."""
    e = html.escape
    lines = [f"<h3>{e(row.ref)} — {e(row.title)}</h3>",
             f"<p><b>{theme.SEVERITY_GLYPH[row.severity]} {row.severity} {theme.SEVERITY_NAME[row.severity]}</b>"
             f" &nbsp; {theme.STATUS_LABEL[row.status]} &nbsp; service {e(row.service)}</p>"]
    if detail is not None and detail.row.id == row.id:
        lines.append(f"<p><b>Impacted</b> {e(', '.join(detail.impacted_services) or row.service)}</p>")
        lines.append(f"<p><b>Customer impact</b> {e(detail.customer_impact or 'not stated')}</p>")
        lines.append(f"<p><b>Owner</b> {e(detail.owner.name if detail.owner else 'nobody')} &nbsp; <b>Commander</b> "
                     f"{e(detail.commander.name if detail.commander else 'nobody')}</p>")
        if detail.next_action:
            lines.append(f"<p><b>Next action</b> {e(detail.next_action)}</p>")
    return "".join(lines)


class SignOffDialog(QDialog):
    leader_changed = Signal(int)  # person id
    sign_wanted = Signal(str, int, str, str)  # verdict, leader id, passphrase, reason
    create_key_wanted = Signal(int, str)  # leader id, passphrase

    def __init__(self, *, item: MitigationItem, row: IncidentRow, detail: IncidentDetail | None,
                 leaders: tuple[PersonRef, ...], operator: PersonRef | None, parent: QWidget | None = None) -> None:
        super().__init__(parent, objectName="SignOffDialog")
        self.item = item
        what = "extension of " if item.pending is not None and item.pending.kind == "extension" else ""
        self.setWindowTitle(f"Decide the {what}{item.ref} on {row.ref}")
        self.resize(1100, 680)
        self.facts = QTextBrowser(objectName="SignOffFacts")
        self.facts.setHtml(facts_html(row, detail) + "<hr>" + details_html(item))
        self.leader = QComboBox(objectName="SignOffLeader")
        for person in leaders:
            self.leader.addItem(f"{person.name} ({person.handle})", person.id)
        if operator is not None and (index := self.leader.findData(operator.id)) >= 0:
            self.leader.setCurrentIndex(index)
        self.standing = QLabel("", wordWrap=True, objectName="SignOffStanding")
        self.passphrase = QLineEdit(objectName="SignOffPassphrase", echoMode=QLineEdit.EchoMode.Password,
                                    placeholderText="your signing passphrase")
        self.reason = QPlainTextEdit(objectName="SignOffReason")
        self.reason.setPlaceholderText("Why: this is signed with your decision")
        self.approve = QPushButton("Approve and sign", objectName="ApproveButton")
        self.reject_button = QPushButton("Reject and sign", objectName="RejectButton")
        self.error = QLabel("", wordWrap=True, objectName="SignOffError")
        self.error.setStyleSheet("color: #ff6b6b; font-weight: bold;")
        self.approve.clicked.connect(lambda: self._sign("approved"))
        self.reject_button.clicked.connect(lambda: self._sign("rejected"))
        self.new_key = QGroupBox("No signing key for this leader on this machine: make one", objectName="NewKeyBox")
        self.new_passphrase = QLineEdit(objectName="NewKeyPassphrase", echoMode=QLineEdit.EchoMode.Password)
        self.new_again = QLineEdit(objectName="NewKeyAgain", echoMode=QLineEdit.EchoMode.Password)
        self.create_key = QPushButton("Make my signing key", objectName="CreateKeyButton")
        self.create_key.clicked.connect(self._on_create_key_clicked)
        key_form = QFormLayout(self.new_key)
        key_form.addRow("New passphrase:", self.new_passphrase)
        key_form.addRow("Again:", self.new_again)
        key_form.addRow("", self.create_key)
        self.new_key.hide()
        form = QFormLayout()
        form.addRow("Sign as:", self.leader)
        form.addRow("", self.standing)
        form.addRow("Passphrase:", self.passphrase)
        form.addRow("Reason:", self.reason)
        buttons = QHBoxLayout()
        buttons.addWidget(self.approve)
        buttons.addWidget(self.reject_button)
        cancel = QPushButton("Cancel")
        cancel.clicked.connect(self.reject)
        buttons.addWidget(cancel)
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.addLayout(form)
        side_layout.addWidget(self.new_key)
        side_layout.addLayout(buttons)
        side_layout.addWidget(self.error)
        side_layout.addStretch(1)
        split = QSplitter()
        split.addWidget(self.facts)
        split.addWidget(side)
        split.setSizes([640, 440])
        QVBoxLayout(self).addWidget(split)
        self.leader.currentIndexChanged.connect(lambda _i: self._on_leader_changed())
        self._may_sign = False
        self._update_buttons()

    def start(self) -> None:
        """Ask about the leader shown first (call once the dialog is wired)."""
        self._on_leader_changed()

    def leader_id(self) -> int | None:
        data = self.leader.currentData()
        return None if data is None else int(data)

    def _on_leader_changed(self) -> None:
        self._may_sign = False
        self.standing.setText("checking…")
        self.error.setText("")
        self._update_buttons()
        if (leader := self.leader_id()) is not None:
            self.leader_changed.emit(leader)

    def show_standing(self, leader_id: int, *, refusal: str | None, key_here: bool, key_registered: bool) -> None:
        """Say whether the chosen leader may decide, and whether their signing key is on this machine."""
        if leader_id != self.leader_id():
            return
        self._may_sign = refusal is None and key_here and key_registered
        self.new_key.setVisible(refusal is None and not (key_here and key_registered))
        if refusal is not None:
            self.standing.setText(f"✖ {refusal}")
        elif not (key_here and key_registered):
            self.standing.setText("✔ holds the decision right — needs a signing key on this machine first")
        else:
            self.standing.setText("✔ holds the decision right; signing key on this machine")
        self._update_buttons()

    def _update_buttons(self) -> None:
        self.approve.setEnabled(self._may_sign)
        self.reject_button.setEnabled(self._may_sign)
        self.passphrase.setEnabled(self._may_sign)

    def _sign(self, verdict: str) -> None:
        leader = self.leader_id()
        if leader is None:
            return
        if not self.reason.toPlainText().strip():
            self.show_error("Say why: the reason is signed with your decision.")
            return
        if not self.passphrase.text():
            self.show_error("Type your signing passphrase.")
            return
        self.error.setText("signing…")
        self.approve.setEnabled(False)
        self.reject_button.setEnabled(False)
        self.sign_wanted.emit(verdict, leader, self.passphrase.text(), self.reason.toPlainText().strip())

    def _on_create_key_clicked(self) -> None:
        leader = self.leader_id()
        if leader is None:
            return
        if self.new_passphrase.text() != self.new_again.text():
            self.show_error("The two passphrases differ.")
            return
        self.error.setText("making your key…")
        self.create_key_wanted.emit(leader, self.new_passphrase.text())

    def key_created(self) -> None:
        self.new_passphrase.clear()
        self.new_again.clear()
        self.error.setText("Your signing key is made. Type its passphrase to sign.")
        self._on_leader_changed()

    def show_error(self, message: str) -> None:
        self.error.setText(message)
        self.passphrase.clear()  # a wrong passphrase is typed again, never kept in the field
        self._update_buttons()
