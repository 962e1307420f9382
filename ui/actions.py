"""The incident actions: each a QAction with a shortcut, a dialog where input is needed, and a command
submitted to the writer thread with the version the operator saw (a lost race becomes a visible conflict)."""
from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialog, QMessageBox, QWidget

from console import commands
from console.changes import Changes
from console.dto import IncidentRow, IncidentStatus, PersonRef
from console.errors import Conflict, ConsoleError
from console.uow import UnitOfWork
from ui.dialogs import PersonPickerDialog, SeverityDialog, TextDialog
from ui.new_incident_dialog import NewIncidentDialog
from ui.tasks import TaskRunner

_IN_FLIGHT = sys.maxsize
# name: (menu text, shortcut, tooltip)
ACTION_SPECS: dict[str, tuple[str, str, str]] = {
    "acknowledge": ("&Acknowledge", "A", "Acknowledge the selected incident (stops its ack clock)"),
    "take": ("&Take ownership", "T", "Make yourself the owner of the selected incident"),
    "assign": ("Assign &owner…", "O", "Make someone else the owner"),
    "commander": ("Assign &commander…", "C", "Name the incident commander"),
    "severity": ("Change &severity…", "S", "Raise or lower the severity, with a reason"),
    "mitigating": ("Mark &mitigating", "M", "A mitigation is under way"),
    "monitoring": ("Mark mo&nitoring", "Shift+M", "The fix is in; watching for recurrence"),
    "note": ("Add &note…", "N", "Add a note to the timeline"),
    "next_action": ("Set ne&xt action…", "X", "Say what happens next"),
    "resolve": ("&Resolve…", "R", "Resolve with a summary of what fixed it"),
    "declare": ("&Declare incident…", "Ctrl+N", "Open a new incident by hand"),
}


class IncidentActions(QObject):
    command_succeeded = Signal(object, str)  # Changes, what was done
    command_failed = Signal(str)

    def __init__(self, *, runner: TaskRunner, uow: UnitOfWork, parent_widget: QWidget) -> None:
        super().__init__(parent_widget)
        self._runner = runner
        self._uow = uow
        self._parent = parent_widget
        self.operator: PersonRef | None = None
        self.roster: tuple[PersonRef, ...] = ()
        self.services: tuple[Any, ...] = ()
        self.current: IncidentRow | None = None
        self.active_dialog: QDialog | None = None
        self.actions: dict[str, QAction] = {}
        # incident id -> the version its actions wait for (_IN_FLIGHT while the command runs)
        self._settling: dict[int, int] = {}
        handlers: dict[str, Callable[[], None]] = {
            "acknowledge": self.acknowledge, "take": self.take, "assign": self.assign, "commander": self.commander,
            "severity": self.severity, "mitigating": lambda: self.set_status(IncidentStatus.MITIGATING),
            "monitoring": lambda: self.set_status(IncidentStatus.MONITORING), "note": self.note,
            "next_action": self.next_action, "resolve": self.resolve, "declare": self.declare,
        }
        for name, (text, shortcut, tip) in ACTION_SPECS.items():
            action = QAction(text, parent_widget, objectName=f"action_{name}")
            action.setShortcut(QKeySequence(shortcut))
            # Toolbar buttons show their key, so the shortcuts are learnt by looking, not by reading a manual.
            action.setIconText(f"{text.replace('&', '').rstrip('…')}  [{shortcut}]")
            action.setToolTip(f"{tip} ({shortcut})")
            action.setStatusTip(tip)
            action.triggered.connect(handlers[name])
            self.actions[name] = action
        self.update_enabled()

    def set_current(self, row: IncidentRow | None) -> None:
        self.current = row
        if row is not None and row.version >= self._settling.get(row.id, _IN_FLIGHT):
            del self._settling[row.id]
        self.update_enabled()

    def update_enabled(self) -> None:
        row, me = self.current, self.operator
        has = row is not None and me is not None and row.id not in self._settling
        is_open = has and row.is_open  # type: ignore[union-attr]
        enabled = {
            "acknowledge": has and row.awaiting_ack,  # type: ignore[union-attr]
            "take": is_open and row.owner != me.name,  # type: ignore[union-attr]
            "assign": is_open, "commander": is_open, "severity": is_open,
            "mitigating": is_open and row.status is not IncidentStatus.MITIGATING,  # type: ignore[union-attr]
            "monitoring": is_open and row.status is not IncidentStatus.MONITORING,  # type: ignore[union-attr]
            "note": has, "next_action": is_open, "resolve": is_open, "declare": me is not None,
        }
        for name, action in self.actions.items():
            action.setEnabled(bool(enabled[name]))

    # --- actions -----------------------------------------------------------------------------------

    def acknowledge(self) -> None:
        row, me = self._target()
        if row:
            self._submit(f"Acknowledged {row.ref}", row, lambda: commands.acknowledge(
                self._uow, actor_id=me.id, incident_id=row.id, expected_version=row.version))

    def take(self) -> None:
        row, me = self._target()
        if row:
            self._submit(f"You own {row.ref}", row, lambda: commands.take_ownership(
                self._uow, actor_id=me.id, incident_id=row.id, expected_version=row.version))

    def assign(self) -> None:
        self._pick_person("owner", commands.assign_owner, "owner_id")

    def commander(self) -> None:
        self._pick_person("commander", commands.assign_commander, "commander_id")

    def severity(self) -> None:
        row, me = self._target()
        if not row:
            return
        dialog = SeverityDialog(current=row.severity, parent=self._parent)

        def submit() -> None:
            severity, reason = dialog.severity(), dialog.reason_text()
            self._submit(f"{row.ref} is now {severity}", row, lambda: commands.change_severity(
                self._uow, actor_id=me.id, incident_id=row.id, severity=severity, reason=reason,
                expected_version=row.version))

        self.show_dialog(dialog, submit)

    def set_status(self, status: IncidentStatus) -> None:
        row, me = self._target()
        if row:
            self._submit(f"{row.ref} is {status}", row, lambda: commands.change_status(
                self._uow, actor_id=me.id, incident_id=row.id, status=status, expected_version=row.version))

    def note(self) -> None:
        self._text_action(title="Note on {ref}", prompt="What happened, what you saw, what you did:",
                          done="Note added to {ref}", call=lambda row, me, text: commands.add_note(
                              self._uow, actor_id=me.id, incident_id=row.id, text=text))

    def next_action(self) -> None:
        self._text_action(title="Next action on {ref}", prompt="What happens next, and who does it:",
                          done="Next action set on {ref}", call=lambda row, me, text: commands.set_next_action(
                              self._uow, actor_id=me.id, incident_id=row.id, text=text, expected_version=row.version))

    def resolve(self) -> None:
        self._text_action(title="Resolve {ref}", prompt="What fixed it? (goes on the timeline and the record)",
                          done="Resolved {ref}", call=lambda row, me, text: commands.resolve(
                              self._uow, actor_id=me.id, incident_id=row.id, summary=text, expected_version=row.version))

    def declare(self) -> None:
        me = self.operator
        if me is None:
            return
        dialog = NewIncidentDialog(services=self.services, parent=self._parent)

        def submit() -> None:
            values = dict(title=dialog.title_text(), severity=dialog.severity(), service_id=dialog.service_id(),
                          customer_impact=dialog.impact_text())
            self._submit(f"Incident declared: {values['title']}", None, lambda: commands.open_incident(
                self._uow, actor_id=me.id, commander_id=me.id, **values))

        self.show_dialog(dialog, submit)

    # --- plumbing ----------------------------------------------------------------------------------

    def _target(self) -> tuple[IncidentRow | None, PersonRef]:
        return self.current, self.operator  # type: ignore[return-value]

    def _pick_person(self, role: str, command: Callable[..., Changes], argument: str) -> None:
        row, me = self._target()
        if not row:
            return
        dialog = PersonPickerDialog(people=self.roster, title=f"Assign {role} of {row.ref}",
                                    prompt=f"Who is the {role} of {row.ref} — {row.title}?", parent=self._parent)

        def submit() -> None:
            person_id = dialog.person_id()
            name = next((p.name for p in self.roster if p.id == person_id), "?")
            self._submit(f"{name} is {role} of {row.ref}", row, lambda: command(
                self._uow, actor_id=me.id, incident_id=row.id, expected_version=row.version,
                **{argument: person_id}))

        self.show_dialog(dialog, submit)

    def _text_action(self, *, title: str, prompt: str, done: str,
                     call: Callable[[IncidentRow, PersonRef, str], Changes]) -> None:
        """Ask for a text about the selected incident, then run the command with it."""
        row, me = self._target()
        if not row:
            return
        dialog = TextDialog(title=title.format(ref=row.ref), prompt=prompt, parent=self._parent)

        def submit() -> None:
            text = dialog.text()  # read on the GUI thread now: the dialog is gone by the time the writer runs
            self._submit(done.format(ref=row.ref), row, lambda: call(row, me, text), entered=text)

        self.show_dialog(dialog, submit)

    def show_dialog(self, dialog: QDialog, on_accepted: Callable[[], None]) -> None:
        # open(), not exec(): the window keeps painting and the live queue keeps moving behind the dialog.
        self.active_dialog = dialog
        dialog.accepted.connect(on_accepted)
        dialog.finished.connect(lambda _result: self._forget(dialog))
        dialog.open()

    def _forget(self, dialog: QDialog) -> None:
        if self.active_dialog is dialog:
            self.active_dialog = None
        dialog.deleteLater()

    def _submit(self, done_text: str, row: IncidentRow | None, call: Callable[[], Changes], *,
                entered: str = "") -> None:
        if row is not None:
            # Hold this incident's actions until its new version is on screen: a second quick action would
            # otherwise carry the old version and conflict with the operator's own first one.
            self._settling[row.id] = _IN_FLIGHT
            self.update_enabled()
        self._runner.write(call, on_done=lambda changes: self._on_command_done(changes, done_text, row),
                           on_error=lambda error: self._on_command_error(error, row, entered))

    def _on_command_done(self, changes: Changes, done_text: str, row: IncidentRow | None) -> None:
        if row is not None:
            self._settling.pop(row.id, None)
            self._settling.update(dict(changes.versions))
            self.set_current(self.current)  # the fresh row may already be here
        self.command_succeeded.emit(changes, done_text)

    def _on_command_error(self, error: BaseException, row: IncidentRow | None, entered: str) -> None:
        if row is not None:
            self._settling.pop(row.id, None)
            self.update_enabled()
        message = str(error) if isinstance(error, ConsoleError) else f"Unexpected error: {error}"
        self.command_failed.emit(message)
        box = QMessageBox(QMessageBox.Icon.Warning, "Conflict" if isinstance(error, Conflict) else "Not done",
                          message, QMessageBox.StandardButton.Ok, self._parent)
        box.setObjectName("CommandErrorBox")
        if entered:
            # Nothing the operator typed is lost: show it, selectable, to copy into a retry.
            box.setInformativeText(f"What you entered was not saved:\n\n{entered}")
            box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
