"""Communications in the window: the Updates tab of the selected incident, the one-click due update (U),
the composer (Shift+U), the template editor, the failed-update banner, the sandbox outbox, the queue's
"next update" column, and the sender that delivers the outbox in the background.

Every send, retry, dismissal and template save is a command request through the action outbox (on disk
first), like every other operator action.
"""
from __future__ import annotations

import os
import socket
import uuid
from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget

from console.changes import Changes
from console.commands.dispatch import CommandRequest
from console.comms.dto import CommsView, TemplateInfo
from console.comms.endpoints import EndpointStore
from console.dto import ChangeEntity, ConsoleInfo, FeedBatch, IncidentRow, PersonRef
from console.queries import Reader
from console.uow import UnitOfWork
from ui.banners import FailedUpdatesBar
from ui.comms_panel import CommsPanel
from ui.compose_dialog import ComposeDialog
from ui.outbox_controller import OutboxController
from ui.sandbox_panel import SandboxPanel
from ui.tasks import TaskRunner
from ui.template_editor import TemplateEditorDialog

COMMS_COMMANDS = frozenset({"send_message", "send_due_update", "retry_delivery", "dismiss_delivery"})
ACTION_SPECS = {
    "send_update": ("Send the due c&ustomer update", "U", "Send the customer update (or resolution notice) with "
                    "the severity's default channels, now"),
    "compose": ("Compose an &update…", "Shift+U", "Pick a template, read and edit the preview, pick channels, send"),
    "templates": ("Communication &templates…", "Ctrl+Shift+T", "Edit the templates; each save is a new version"),
}


class CommsController(QObject):
    def __init__(self, *, reader: Reader, uow: UnitOfWork, runner: TaskRunner, outbox: OutboxController,
                 sandbox: bool, endpoints: EndpointStore | None, start_sender: bool, parent: QWidget) -> None:
        super().__init__(parent)
        self.reader, self.uow, self.runner, self.outbox = reader, uow, runner, outbox
        self._asked_sandbox = sandbox
        self.sandbox = sandbox  # and on the demo organisation's database, whatever was asked (set_info)
        self.endpoints = endpoints or EndpointStore()
        self._window = parent
        self.panel = CommsPanel()
        self.sandbox_panel = SandboxPanel()
        self.banner = FailedUpdatesBar(parent)
        self.operator: PersonRef | None = None
        self.row: IncidentRow | None = None
        self.view: CommsView | None = None
        self.dialog: ComposeDialog | TemplateEditorDialog | None = None
        self.sender: Any = None
        self._start_sender = start_sender
        self._request = 0
        self._failing: set[int] = set()
        self._known_endpoints: dict[str, bool] = {}
        self._focus_delivery: int | None = None  # the banner's failure, selected once its incident is shown
        self.failures: tuple = ()  # type: ignore[type-arg]
        self.actions: dict[str, QAction] = {}
        handlers = {"send_update": self.send_due_update, "compose": self.compose, "templates": self.edit_templates}
        for name, (text, shortcut, tip) in ACTION_SPECS.items():
            action = QAction(text, parent, objectName=f"action_{name}", shortcut=QKeySequence(shortcut))
            action.setIconText(f"{text.replace('&', '').rstrip('…')}  [{shortcut}]")
            action.setToolTip(f"{tip} ({shortcut})")
            action.triggered.connect(handlers[name])
            self.actions[name] = action
        self.actions["send_update"].setIconText("Send update  [U]")
        self.panel.send_due_requested.connect(lambda audience: self.send_due_update(audience=audience))
        self.panel.compose_requested.connect(self.compose)
        self.panel.retry_requested.connect(lambda d: self._on_delivery_action("retry_delivery", "send again", d))
        self.panel.dismiss_requested.connect(lambda d: self._on_delivery_action("dismiss_delivery",
                                                                                "dismiss a failed update", d))
        self.banner.show_button.clicked.connect(self._on_banner_show_clicked)
        outbox.applied.connect(self._on_outbox_applied)
        self.update_enabled()

    # --- life cycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Load the failures and the sandbox, learn which endpoints are set, start the sender (off the GUI thread)."""
        self.reload_failures()
        self.reload_sandbox()
        self.reload_cadence()
        self.runner.read(self._endpoint_states, on_done=self._on_endpoint_states)
        if self._start_sender:
            # The adapters import requests (~0.2 s): on a worker, after the window is up.
            self.runner.read(self._make_sender, on_done=self._on_sender_made)

    def shutdown(self) -> None:
        if self.sender is not None:
            self.sender.stop(timeout=2.0)
            self.sender = None

    def _make_sender(self) -> Any:
        from console import commands
        from console.comms.channels import ADAPTERS
        from console.comms.sender import Sender

        sender_id = f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        return Sender(
            claim=lambda skip: commands.claim_deliveries(self.uow, sender_id=sender_id, timeout=10.0, horizon=1.0,
                                                         skip=skip),
            settle=lambda outcomes: commands.settle_deliveries(self.uow, outcomes=outcomes),
            adapters=ADAPTERS, endpoints=self.endpoints.get, clock=self.reader.clock)

    def _on_sender_made(self, sender: Any) -> None:
        if not self._start_sender:
            return
        self.sender = sender
        sender.start()

    def _endpoint_states(self) -> dict[str, bool]:
        policy = self.reader.current_policy()
        return {name: self.endpoints.get(name) is not None for name in (policy.channels if policy else {})}

    def _on_endpoint_states(self, states: dict[str, bool]) -> None:
        self._known_endpoints = states
        self.reload_view()

    # --- what the window tells us -------------------------------------------------------------------

    def set_info(self, info: ConsoleInfo) -> None:
        """A database holding the demo organisation never sends anything anywhere."""
        self.sandbox = self._asked_sandbox or info.is_demo
        self._window.sandbox_dock.setVisible(self.sandbox)  # type: ignore[attr-defined]

    def set_operator(self, person: PersonRef) -> None:
        self.operator = person
        self.update_enabled()

    def set_incident(self, row: IncidentRow | None) -> None:
        """Follow the selected incident."""
        changed = (row.id if row else None) != (self.row.id if self.row else None)
        self.row = row
        if row is not None:
            self.panel.set_incident_times(opened_at=row.opened_at, resolved=not row.is_open)
        if changed:
            self.view = None
            self.reload_view()
        self.update_enabled()

    def on_feed_changed(self, batch: FeedBatch) -> None:
        """Refresh what a batch of changes touched: the open incident's updates, the banner, the sandbox."""
        if ChangeEntity.ORGANISATION in batch.other_entities:  # a policy or template change
            self.reload_cadence()
        if self.row is not None and self.row.id in batch.incident_ids:
            fresh = next((r for r in batch.rows if r.id == self.row.id), None)
            if fresh is not None:
                self.set_incident(fresh)
            self.reload_view()
        failing = {r.id for r in batch.rows if r.failed_updates}
        touched = {r.id for r in batch.rows}
        if failing or (self._failing & touched):
            self._failing = (self._failing - touched) | failing
            self.reload_failures()
        if batch.incident_ids and self.sandbox_panel.isVisible():
            self.reload_sandbox()
        elif batch.incident_ids:
            self.sandbox_panel.stale = True

    def tick(self, now) -> None:  # type: ignore[no-untyped-def]
        self.panel.update_countdown(now=now)

    # --- reads --------------------------------------------------------------------------------------

    def reload_view(self) -> None:
        row = self.row
        if row is None:
            return
        self._request += 1
        request, known = self._request, dict(self._known_endpoints)
        self.runner.read(lambda: self.reader.comms(incident_id=row.id, endpoint_set=lambda n: known.get(n, False),
                                                   sandbox=self.sandbox),
                         on_done=lambda view: self._on_view_loaded(view, request))

    def _on_view_loaded(self, view: CommsView, request: int) -> None:
        if request != self._request or self.row is None or view.incident_id != self.row.id:
            return
        self.view = view
        self.panel.show_view(view, now=self.reader.clock.now())
        if self._focus_delivery is not None and self.panel.select_delivery(self._focus_delivery):
            self._focus_delivery = None
        self._window.detail_panel.tabs.setTabText(  # type: ignore[attr-defined]
            self._window.detail_panel.tabs.indexOf(self.panel),  # type: ignore[attr-defined]
            "Updates ✖" if any(d.needs_attention for m in view.messages for d in m.deliveries) else "Updates")

    def reload_cadence(self) -> None:
        """Give the queue the policy's update cadence by severity (it counts down each row's next update)."""
        self.runner.read(self.reader.current_policy, on_done=lambda policy: self._window.queue_model.set_cadence(  # type: ignore[attr-defined]
            {level.severity: tuple((a.value, m) for a, m in level.updates.items()) for level in policy.levels}))

    def reload_failures(self) -> None:
        self.runner.read(self.reader.failed_updates, on_done=self._on_failures_loaded)

    def _on_failures_loaded(self, failures: tuple) -> None:  # type: ignore[type-arg]
        self.failures = failures
        self._failing = {m.incident_id for _, m in failures}
        self.banner.show_failures(failures)

    def reload_sandbox(self) -> None:
        self.runner.read(self.reader.sandbox_outbox, on_done=self.sandbox_panel.show_messages)

    # --- actions ------------------------------------------------------------------------------------

    def update_enabled(self) -> None:
        ready = self.operator is not None and self.row is not None
        for name in ("send_update", "compose"):
            self.actions[name].setEnabled(ready)
        self.panel.send_due.setEnabled(ready)
        self.panel.compose.setEnabled(ready)
        self.actions["templates"].setEnabled(self.operator is not None)

    def _submit(self, command: str, label: str, *, about: IncidentRow | None, args: dict[str, object]) -> None:
        """Hand an action to the action outbox; `about` is the incident it concerns, as shown when it was asked."""
        if self.operator is None:
            return
        self.outbox.submit(CommandRequest(command=command, args={"actor_id": self.operator.id, **args}, label=label,
                                          incident_id=about.id if about else None))

    def _on_delivery_action(self, command: str, what: str, delivery_id: int) -> None:
        row = self.row
        self._submit(command, f"{what} on {row.ref if row else '?'}", about=row, args={"delivery_id": delivery_id})

    def send_due_update(self, *, audience: str = "customers") -> None:
        """Send the audience's usual update now with the default channels (one click, one key)."""
        if self.row is None or self.operator is None:
            return
        what = "resolution notice" if not self.row.is_open and audience == "customers" else f"{audience} update"
        self._submit("send_due_update", f"{what} on {self.row.ref}", about=self.row,
                     args={"incident_id": self.row.id, "audience": audience, "sandbox": self.sandbox})

    def compose(self) -> None:
        if self.row is None or self.operator is None or self.view is None or self.dialog is not None:
            return
        row, view = self.row, self.view
        dialog = ComposeDialog(incident_ref=row.ref, templates=view.templates, channels=view.channels,
                               sandbox=view.sandbox, parent=self._window)
        dialog.render_wanted.connect(lambda name: self.runner.read(
            lambda: self.reader.draft(incident_id=row.id, template=name, audience=None,
                                      sender_id=self.operator.id if self.operator else None, sandbox=self.sandbox),
            on_done=dialog.set_draft, on_error=lambda error: dialog.show_error(str(error))))

        def send() -> None:
            values = dialog.values()
            # To the incident the dialog was opened on, whatever is selected by the time Send is pressed.
            self._submit("send_message", f"{values['template']} on {row.ref}", about=row,
                         args={"incident_id": row.id, "sandbox": self.sandbox, **values})

        self._open(dialog, send)
        dialog.select_template("customer_update" if row.is_open else "resolution_notice")

    def edit_templates(self) -> None:
        if self.operator is None or self.dialog is not None:
            return
        self.runner.read(self.reader.templates, on_done=self._open_editor)

    def _open_editor(self, templates: tuple[TemplateInfo, ...]) -> None:
        from console.comms.drafts import preview_with_sample

        dialog = TemplateEditorDialog(templates=templates, parent=self._window)
        dialog.history_wanted.connect(lambda name: self.runner.read(
            lambda: self.reader.template_history(name=name), on_done=lambda v: dialog.show_history(name, v)))
        dialog.preview_wanted.connect(lambda name, subject, body: self.runner.read(
            lambda: preview_with_sample(name=name, subject=subject, body=body),
            on_done=lambda text: dialog.show_result(text=text),
            on_error=lambda error: dialog.show_result(text="", error=str(error))))

        def save(name: str, subject: str, body: str, reason: str) -> None:
            if not reason.strip():
                dialog.show_result(text="", error="say why the template changes: the reason goes into the audit trail")
                return
            # Checked on a worker first: a template that is refused is shown here, not held as a pending action.
            self.runner.read(lambda: preview_with_sample(name=name, subject=subject, body=body),
                             on_done=lambda text: (dialog.show_result(text=text), self._submit(
                                 "save_template", f"template {name}", about=None,
                                 args={"name": name, "subject": subject, "body": body, "reason": reason})),
                             on_error=lambda error: dialog.show_result(text="", error=str(error)))

        dialog.save_wanted.connect(save)
        self._open(dialog, None)
        dialog.history_wanted.emit(dialog.current_name())  # the first template's versions, now that it is wired

    def _on_template_saved(self, request: CommandRequest) -> None:
        dialog = self.dialog
        if isinstance(dialog, TemplateEditorDialog):
            name = request.args["name"]
            self.runner.read(lambda: self.reader.template_history(name=name), on_done=lambda v: dialog.saved(v[0]))

    def _open(self, dialog, on_accepted) -> None:  # type: ignore[no-untyped-def]
        self.dialog = dialog
        if on_accepted is not None:
            dialog.accepted.connect(on_accepted)
        dialog.finished.connect(lambda _result: self._forget(dialog))
        dialog.open()

    def _forget(self, dialog) -> None:  # type: ignore[no-untyped-def]
        if self.dialog is dialog:
            self.dialog = None
        dialog.deleteLater()

    def _on_outbox_applied(self, _changes: Changes, request: CommandRequest) -> None:
        if request.command == "save_template":
            self._on_template_saved(request)
        elif request.command in COMMS_COMMANDS and self.sender is not None:
            self.sender.wake()  # the operator is waiting for it to go out: do not wait for the next poll

    def _on_banner_show_clicked(self) -> None:
        if not self.failures:
            return
        _ref, message = self.failures[0]
        window = self._window
        self._focus_delivery = message.deliveries[0].id
        window.detail_dock.show()  # type: ignore[attr-defined]
        window.detail_panel.tabs.setCurrentWidget(self.panel)  # type: ignore[attr-defined]
        if not window.queue_panel.select_incident(message.incident_id):  # type: ignore[attr-defined]
            window.status.showMessage(f"{_ref} has left the queue (resolved); its failed update is still "  # type: ignore[attr-defined]
                                      "waiting: find it in the audit trail", 15000)
        elif self.view is not None and self.view.incident_id == message.incident_id:
            self.panel.select_delivery(self._focus_delivery)

