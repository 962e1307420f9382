"""The incident actions: each a QAction with a shortcut, a dialog where input is needed, and a command request
carrying the version the operator saw, handed to the outbox controller (written down first, sent in order).
A request the database cannot take yet is kept; a lost race is held for the operator's decision."""
from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialog, QWidget

from console.changes import Changes
from console.commands.dispatch import CommandRequest
from console.dto import IncidentDetail, IncidentRow, IncidentStatus, PersonRef
from ui import theme
from ui.dialogs import ChoiceReasonDialog, PersonPickerDialog, SeverityDialog, TextDialog
from ui.new_incident_dialog import NewIncidentDialog
from ui.outbox_controller import OutboxController

_NEVER = sys.maxsize
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
    "escalate": ("&Escalate now", "E", "Page the next tier of the escalation now, without waiting"),
    "stop_escalation": ("Stop esca&lation…", "Shift+E", "Stop paging further tiers, with a reason (an override)"),
    "ungroup": ("S&plit off a grouped service…", "G",
                "Take a service out of this incident's blast radius: it gets its own incident and its own team"),
    "declare": ("&Declare incident…", "Ctrl+N", "Open a new incident by hand"),
}


class IncidentActions(QObject):
    command_succeeded = Signal(object, str)  # Changes, what was done
    command_failed = Signal(str)
    command_kept = Signal(str)  # what was kept in the outbox

    def __init__(self, *, outbox: OutboxController, parent_widget: QWidget) -> None:
        super().__init__(parent_widget)
        self._outbox = outbox
        outbox.applied.connect(self._on_outbox_applied)
        outbox.kept.connect(self._on_outbox_kept)
        outbox.held.connect(self._on_outbox_held)
        self._mine: dict[str, int | None] = {}  # key of an action sent from here -> its incident
        self._parent = parent_widget
        self.operator: PersonRef | None = None
        self.roster: tuple[PersonRef, ...] = ()
        self.services: tuple[Any, ...] = ()
        self.current: IncidentRow | None = None
        self.detail: IncidentDetail | None = None  # the incident panel's, for actions that need more than the row
        self.active_dialog: QDialog | None = None
        self.actions: dict[str, QAction] = {}
        # incident id -> the version its actions wait to see on screen
        self._settling: dict[int, int] = {}
        handlers: dict[str, Callable[[], None]] = {
            "acknowledge": self.acknowledge, "take": self.take, "assign": self.assign, "commander": self.commander,
            "severity": self.severity, "mitigating": lambda: self.set_status(IncidentStatus.MITIGATING),
            "monitoring": lambda: self.set_status(IncidentStatus.MONITORING), "note": self.note,
            "next_action": self.next_action, "resolve": self.resolve, "declare": self.declare,
            "escalate": self.escalate, "stop_escalation": self.stop_escalation, "ungroup": self.ungroup,
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
        if row is not None and row.version >= self._settling.get(row.id, _NEVER):
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
            "escalate": is_open,
            "stop_escalation": is_open and self._escalating(),
            "ungroup": is_open and bool(self._grouped()),
        }
        for name, action in self.actions.items():
            action.setEnabled(bool(enabled[name]))

    # --- actions -----------------------------------------------------------------------------------

    def acknowledge(self) -> None:
        row, me = self._target()
        if row:
            self._submit(self._request("acknowledge", row, f"Acknowledge {row.ref}"), row)

    def take(self) -> None:
        row, me = self._target()
        if row:
            self._submit(self._request("take_ownership", row, f"Take ownership of {row.ref}"), row)

    def assign(self) -> None:
        self._pick_person("owner", "assign_owner", "owner_id")

    def commander(self) -> None:
        self._pick_person("commander", "assign_commander", "commander_id")

    def severity(self) -> None:
        row, me = self._target()
        if not row:
            return
        dialog = SeverityDialog(current=row.severity, parent=self._parent)

        def submit() -> None:
            severity, reason = dialog.severity(), dialog.reason_text()
            self._submit(self._request("change_severity", row, f"{row.ref} → {severity.value}: {reason}",
                                       severity=severity.value, reason=reason), row)

        self.show_dialog(dialog, submit)

    def set_status(self, status: IncidentStatus) -> None:
        row, me = self._target()
        if row:
            self._submit(self._request("change_status", row, f"Mark {row.ref} {status.value}", status=status.value), row)

    def escalate(self) -> None:
        row, me = self._target()
        if row:
            self._submit(self._request("escalate_now", row, f"Escalate {row.ref} now", versioned=False), row)

    def stop_escalation(self) -> None:
        row, me = self._target()
        if not row:
            return
        dialog = TextDialog(title=f"Stop the escalation of {row.ref}",
                            prompt="Nobody further will be paged. Why? (the right people are on it, a false alarm…)",
                            parent=self._parent)

        def submit() -> None:
            reason = dialog.text()
            self._submit(self._request("stop_escalation", row, f"Stop escalating {row.ref}: {reason}",
                                       versioned=False, reason=reason), row)

        self.show_dialog(dialog, submit)

    def ungroup(self) -> None:
        row, me = self._target()
        grouped = self._grouped()
        if not row or not grouped:
            return
        dialog = ChoiceReasonDialog(
            title=f"Split a service off {row.ref}",
            prompt="Automation grouped these services under this incident (they depend on its service). The one "
                   "you choose gets its own incident, paged to its own team; its alerts are no longer grouped here.",
            options=grouped, parent=self._parent)

        def submit() -> None:
            service_id, reason = dialog.choice(), dialog.reason_text()
            name = next(label for label, value in grouped if value == service_id)
            self._submit(self._request("ungroup_service", row, f"Split {name} off {row.ref}: {reason}",
                                       versioned=False, service_id=service_id, reason=reason), row)

        self.show_dialog(dialog, submit)

    def set_detail(self, detail: IncidentDetail | None) -> None:
        """Take the incident panel's detail: which services are grouped, whether it escalates."""
        self.detail = detail
        self.update_enabled()

    def _escalating(self) -> bool:
        detail, row = self.detail, self.current
        return bool(detail and row and detail.row.id == row.id and detail.escalation and detail.escalation.running)

    def _grouped(self) -> list[tuple[str, object]]:
        detail, row = self.detail, self.current
        if not (detail and row and detail.row.id == row.id):
            return []
        ids = {s.name: s.id for s in self.services}
        return [(name, ids[name]) for name in detail.impacted_services if name in ids]

    def note(self) -> None:
        self._text_action(title="Note on {ref}", prompt="What happened, what you saw, what you did:",
                          command="add_note", label="Note on {ref}: {text}", argument="text", versioned=False)

    def next_action(self) -> None:
        self._text_action(title="Next action on {ref}", prompt="What happens next, and who does it:",
                          command="set_next_action", label="Next action on {ref}: {text}", argument="text")

    def resolve(self) -> None:
        self._text_action(title="Resolve {ref}", prompt="What fixed it? (goes on the timeline and the record)",
                          command="resolve", label="Resolve {ref}: {text}", argument="summary")

    def declare(self) -> None:
        me = self.operator
        if me is None:
            return
        dialog = NewIncidentDialog(services=self.services, parent=self._parent)

        def submit() -> None:
            title = dialog.title_text()
            self._submit(CommandRequest(
                command="open_incident", label=f"Declare: {title}",
                args={"actor_id": me.id, "commander_id": me.id, "title": title, "severity": dialog.severity().value,
                      "service_id": dialog.service_id(), "customer_impact": dialog.impact_text()}), None)

        self.show_dialog(dialog, submit)

    # --- plumbing ----------------------------------------------------------------------------------

    def _target(self) -> tuple[IncidentRow | None, PersonRef]:
        return self.current, self.operator  # type: ignore[return-value]

    def _request(self, command: str, row: IncidentRow, label: str, *, versioned: bool = True,
                 **args: object) -> CommandRequest:
        """Describe an action on an incident as data, with the version and state the operator saw."""
        base: dict[str, object] = {"actor_id": self.operator.id, "incident_id": row.id}  # type: ignore[union-attr]
        if versioned:
            base["expected_version"] = row.version
        seen = {"version": row.version, "severity": row.severity.value, "status": theme.STATUS_LABEL[row.status],
                "owner": row.owner}
        return CommandRequest(command=command, args={**base, **args}, label=label, incident_id=row.id, seen=seen)

    def _pick_person(self, role: str, command: str, argument: str) -> None:
        row, me = self._target()
        if not row:
            return
        dialog = PersonPickerDialog(people=self.roster, title=f"Assign {role} of {row.ref}",
                                    prompt=f"Who is the {role} of {row.ref} — {row.title}?", parent=self._parent)

        def submit() -> None:
            person_id = dialog.person_id()
            name = next((p.name for p in self.roster if p.id == person_id), "?")
            self._submit(self._request(command, row, f"{name} as {role} of {row.ref}", **{argument: person_id}), row)

        self.show_dialog(dialog, submit)

    def _text_action(self, *, title: str, prompt: str, command: str, label: str, argument: str,
                     versioned: bool = True) -> None:
        """Ask for a text about the selected incident, then send the command with it."""
        row, me = self._target()
        if not row:
            return
        dialog = TextDialog(title=title.format(ref=row.ref), prompt=prompt, parent=self._parent)

        def submit() -> None:
            text = dialog.text()  # read on the GUI thread now: the dialog is gone by the time the writer runs
            short = text if len(text) <= 60 else text[:57] + "…"
            self._submit(self._request(command, row, label.format(ref=row.ref, text=short), versioned=versioned,
                                       **{argument: text}), row)

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

    def _submit(self, request: CommandRequest, row: IncidentRow | None) -> None:
        if row is not None:
            # Hold this incident's actions until a newer version than the one sent is on screen: a second quick
            # action would otherwise carry the old version and conflict with the operator's own first one.
            # (The new row can arrive before the command's own result does; either releases the hold.)
            self._settling[row.id] = row.version + 1
            self._mine[request.key] = row.id
            self.update_enabled()
        else:
            self._mine[request.key] = None
        self._outbox.submit(request)  # on disk first, then sent in order with anything kept before it

    def _release(self, request: CommandRequest, versions: tuple[tuple[int, int], ...] = ()) -> bool:
        """Stop holding the incident an action of ours was about; False if the action was not ours."""
        if request.key not in self._mine:
            return False
        incident = self._mine.pop(request.key)
        if incident is not None:
            self._settling.pop(incident, None)
            self._settling.update(dict(versions))
            self.set_current(self.current)  # the fresh row may already be here
        return True

    def _on_outbox_applied(self, changes: Changes, request: CommandRequest) -> None:
        if self._release(request, changes.versions):
            self.command_succeeded.emit(changes, request.label)

    def _on_outbox_kept(self, request: CommandRequest, _why: str) -> None:
        self._release(request)
        self.command_kept.emit(request.label)

    def _on_outbox_held(self, request: CommandRequest, why: str) -> None:
        # One wins, this one is told: held with what the operator saw, and the text they typed, to redo or drop.
        self._release(request)
        self.command_failed.emit(why)
