"""Mitigations in the window: the Mitigations tab of the selected incident, requesting one (Ctrl+M), the
leader's sign-off (Ctrl+Shift+M), paging a leader who could approve, extending, reverting, withdrawing, and
the banner for approved mitigations about to expire or past it.

Requests, pages, extensions, reverts and signed decisions are command requests through the action outbox
(on disk first). The passphrase goes no further than the worker call that opens the key and signs: only the
signature goes on.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget

from console import commands
from console.commands.dispatch import CommandRequest
from console.dto import ChangeEntity, FeedBatch, IncidentRow, PersonRef
from console.mitigations.sign_off import sign_decision
from console.mitigations.views import LiveMitigation, MitigationReader, MitigationsView
from console.signing import SigningKeyring, create_key
from console.uow import UnitOfWork
from ui.banners import MitigationExpiryBar
from ui.mitigation_dialogs import ReasonDialog, RequestMitigationDialog
from ui.mitigations_panel import MitigationsPanel
from ui.outbox_controller import OutboxController
from ui.sign_off_dialog import SignOffDialog
from ui.tasks import TaskRunner

ACTION_SPECS = {
    "request": ("Request a &mitigation…", "Ctrl+M", "Ask for a temporary mitigation; a leader with the right "
                "approves it"),
    "review": ("Re&view and sign a mitigation…", "Ctrl+Shift+M", "The waiting request, the incident and the "
               "evidence on one screen; approve or reject with your signing key"),
}


class MitigationController(QObject):
    def __init__(self, *, uow: UnitOfWork, clock: Any, runner: TaskRunner, outbox: OutboxController,
                 keyring: SigningKeyring | None, parent: QWidget) -> None:
        super().__init__(parent)
        self.uow, self.runner, self.outbox = uow, runner, outbox
        self.reader = MitigationReader(uow.db, clock)
        self.keyring = keyring or SigningKeyring()
        self._window = parent
        self.panel = MitigationsPanel()
        self.banner = MitigationExpiryBar(parent)
        self.operator: PersonRef | None = None
        self.row: IncidentRow | None = None
        self.view: MitigationsView | None = None
        self.dialog: Any = None
        self.live: tuple[LiveMitigation, ...] = ()
        self._focus_mitigation: int | None = None  # the banner's mitigation, selected once its incident is shown
        self._request = 0
        self.actions: dict[str, QAction] = {}
        for name, (text, shortcut, tip) in ACTION_SPECS.items():
            action = QAction(text, parent, objectName=f"action_mitigation_{name}", shortcut=QKeySequence(shortcut))
            action.setToolTip(f"{tip} ({shortcut})")
            self.actions[name] = action
        self.actions["request"].triggered.connect(self.request)
        self.actions["review"].triggered.connect(self._on_review_action)
        self.panel.request_wanted.connect(self.request)
        self.panel.review_wanted.connect(self.review)
        self.panel.page_wanted.connect(self._on_page_wanted)
        self.panel.extend_wanted.connect(self.extend)
        self.panel.revert_wanted.connect(lambda mid: self._ask_reason(
            mid, "revert_mitigation", "Record the revert", "What was done to undo it (the revert plan, or what "
            "was done instead)?"))
        self.panel.withdraw_wanted.connect(lambda mid: self._ask_reason(
            mid, "withdraw_mitigation", "Withdraw the request", "Why is it no longer wanted?"))
        self.banner.show_button.clicked.connect(self._on_banner_show_clicked)
        self.update_enabled()

    # --- what the window tells us -------------------------------------------------------------------

    def start(self) -> None:
        self.reload_live()

    def set_operator(self, person: PersonRef) -> None:
        self.operator = person
        self.update_enabled()

    def set_incident(self, row: IncidentRow | None) -> None:
        changed = (row.id if row else None) != (self.row.id if self.row else None)
        self.row = row
        if changed:
            self.view = None
            self.reload_view()
        self.update_enabled()

    def on_feed_changed(self, batch: FeedBatch) -> None:
        if self.row is not None and self.row.id in batch.incident_ids:
            self.row = next((r for r in batch.rows if r.id == self.row.id), self.row)
            self.reload_view()
        if batch.incident_ids:
            self.reload_live()
        elif ChangeEntity.ORGANISATION in batch.other_entities:  # rights or keys changed
            self.reload_view()

    def tick(self, now: datetime) -> None:
        self.panel.update_countdown(now=now)
        self.banner.show_live(self.live, now=now)

    # --- reads --------------------------------------------------------------------------------------

    def reload_view(self) -> None:
        row = self.row
        if row is None:
            return
        self._request += 1
        request = self._request
        self.runner.read(lambda: self.reader.view(incident_id=row.id),
                         on_done=lambda view: self._on_view_loaded(view, request))

    def _on_view_loaded(self, view: MitigationsView, request: int) -> None:
        if request != self._request or self.row is None or view.incident_id != self.row.id:
            return
        self.view = view
        self.panel.show_view(view, now=self.reader.clock.now())
        if self._focus_mitigation is not None and self.panel.select_mitigation(self._focus_mitigation):
            self._focus_mitigation = None
        tabs = self._window.detail_panel.tabs  # type: ignore[attr-defined]
        waiting = sum(1 for i in view.items if i.pending is not None)
        tabs.setTabText(tabs.indexOf(self.panel), f"Mitigations ({waiting} waiting)" if waiting else "Mitigations")
        self.update_enabled()

    def reload_live(self) -> None:
        self.runner.read(self.reader.live_mitigations, on_done=self._on_live_loaded)

    def _on_live_loaded(self, live: tuple[LiveMitigation, ...]) -> None:
        self.live = live
        self.banner.show_live(live, now=self.reader.clock.now())

    # --- actions ------------------------------------------------------------------------------------

    def update_enabled(self) -> None:
        ready = self.operator is not None and self.row is not None and self.row.is_open
        self.actions["request"].setEnabled(ready and self.view is not None and bool(self.view.classes))
        self.panel.request.setEnabled(self.actions["request"].isEnabled())
        self.actions["review"].setEnabled(self.row is not None and self.view is not None
                                          and any(i.pending for i in self.view.items))

    def _submit(self, command: str, label: str, *, actor_id: int, args: dict[str, object]) -> None:
        row = self.row
        self.outbox.submit(CommandRequest(command=command, args={"actor_id": actor_id, **args}, label=label,
                                          incident_id=row.id if row else None))

    def request(self) -> None:
        if self.operator is None or self.row is None or self.view is None or self.dialog is not None:
            return
        row, operator = self.row, self.operator
        dialog = RequestMitigationDialog(incident_ref=row.ref, view=self.view, parent=self._window)
        dialog.accepted.connect(lambda: self._submit("request_mitigation", f"mitigation request on {row.ref}",
                                                     actor_id=operator.id,
                                                     args={"incident_id": row.id, **dialog.values()}))
        self._open(dialog)

    def extend(self, mitigation_id: int) -> None:
        item = self._item(mitigation_id)
        if item is None or self.operator is None or self.dialog is not None or self.view is None:
            return
        limit = next((c.max_minutes for c in self.view.classes if c.name == item.action_class), 60)
        dialog = ReasonDialog(title=f"Extend {item.ref}", prompt=f"How much longer must {item.action} stay, and "
                              "why? A leader must approve the extension.", minutes_limit=limit, parent=self._window)
        operator = self.operator
        dialog.accepted.connect(lambda: self._submit(
            "request_extension", f"extension of {item.ref}", actor_id=operator.id,
            args={"mitigation_id": mitigation_id, "minutes": dialog.minutes.value(),
                  "reason": dialog.reason.toPlainText().strip()}))
        self._open(dialog)

    def _ask_reason(self, mitigation_id: int, command: str, title: str, prompt: str) -> None:
        item = self._item(mitigation_id)
        if item is None or self.operator is None or self.dialog is not None:
            return
        dialog = ReasonDialog(title=f"{title}: {item.ref}", prompt=prompt, parent=self._window)
        operator = self.operator
        dialog.accepted.connect(lambda: self._submit(command, f"{title.lower()} {item.ref}", actor_id=operator.id,
                                                     args={"mitigation_id": mitigation_id,
                                                           "reason": dialog.reason.toPlainText().strip()}))
        self._open(dialog)

    def _on_page_wanted(self, mitigation_id: int, person_id: int) -> None:
        item = self._item(mitigation_id)
        if item is None or self.operator is None:
            return
        who = next((a.person.name for a in item.approvers if a.person.id == person_id), f"#{person_id}")
        self._submit("page_approver", f"page {who} to decide {item.ref}", actor_id=self.operator.id,
                     args={"mitigation_id": mitigation_id, "person_id": person_id})

    def _on_review_action(self) -> None:
        item = self.panel.selected()
        if item is None or item.pending is None:
            item = next((i for i in (self.view.items if self.view else ()) if i.pending is not None), None)
        if item is not None and item.pending is not None:
            self.panel.select_mitigation(item.id)
            self.review(item.pending.id)

    def review(self, ask_id: int) -> None:
        """Open the sign-off on one waiting request: facts, evidence, leader, passphrase, decision."""
        item = next((i for i in (self.view.items if self.view else ()) if i.pending and i.pending.id == ask_id), None)
        row = self.row
        if item is None or row is None or self.dialog is not None:
            return
        # The incident's facts as they are now, whatever the detail panel has loaded so far.
        self.runner.read(lambda: self._window.reader.incident_detail(incident_id=row.id),  # type: ignore[attr-defined]
                         on_done=lambda detail: self._open_review(item, detail))

    def _open_review(self, item: Any, detail: Any) -> None:
        if self.dialog is not None:
            return
        ask_id = item.pending.id
        leaders = tuple(a.person for a in item.approvers)
        if self.operator is not None and all(p.id != self.operator.id for p in leaders):
            leaders = (self.operator, *leaders)  # shown, and told plainly why they may not
        dialog = SignOffDialog(item=item, row=detail.row, detail=detail, leaders=leaders, operator=self.operator,
                               parent=self._window)
        handles = {p.id: p.handle for p in leaders}
        dialog.leader_changed.connect(lambda leader: self._check_standing(dialog, ask_id, leader, handles[leader]))
        dialog.sign_wanted.connect(lambda verdict, leader, passphrase, reason: self._sign(
            dialog, ask_id, verdict, leader, handles[leader], passphrase, reason))
        dialog.create_key_wanted.connect(lambda leader, passphrase: self._make_key(dialog, leader, handles[leader],
                                                                                   passphrase))
        self._open(dialog)
        dialog.start()

    def _check_standing(self, dialog: SignOffDialog, ask_id: int, leader: int, handle: str) -> None:
        def look() -> tuple[str | None, bool, bool]:
            here = self.keyring.public_key_of(handle=handle)
            registered = {k.public_key for k in self.reader.registered_keys(person_id=leader)}
            return self.reader.precheck(ask_id=ask_id, leader_id=leader), here is not None, here in registered

        self.runner.read(look, on_done=lambda r: dialog.show_standing(leader, refusal=r[0], key_here=r[1],
                                                                       key_registered=r[2]),
                         on_error=lambda error: dialog.show_error(str(error)))

    def _sign(self, dialog: SignOffDialog, ask_id: int, verdict: str, leader: int, handle: str, passphrase: str,
              reason: str) -> None:
        def work() -> Any:
            draft = self.reader.draft(ask_id=ask_id)
            return sign_decision(draft=draft, verdict=verdict, reason=reason, leader_id=leader, handle=handle,
                                 passphrase=passphrase, keyring=self.keyring, now=self.reader.clock.now())

        def signed(decision: Any) -> None:
            ref = dialog.item.ref
            self._submit("decide_mitigation", f"{decision.verdict} {ref} (signed by {handle})", actor_id=leader,
                         args=decision.command_args())
            dialog.accept()

        self.runner.read(work, on_done=signed, on_error=lambda error: dialog.show_error(str(error)))

    def _make_key(self, dialog: SignOffDialog, leader: int, handle: str, passphrase: str) -> None:
        def work() -> bool:
            key = create_key(passphrase=passphrase)
            kept = self.keyring.put(handle=handle, key=key)
            commands.register_signing_key(self.uow, actor_id=leader, public_key=key.public_key)
            return kept

        def made(kept: bool) -> None:
            dialog.key_created()
            if not kept:
                dialog.show_error("No OS keyring here: your key is kept for this session only. Sign now, or make a "
                                  "key on a machine with a keyring.")

        self.runner.write(work, on_done=made, on_error=lambda error: dialog.show_error(str(error)))

    # --- helpers ------------------------------------------------------------------------------------

    def _item(self, mitigation_id: int):  # type: ignore[no-untyped-def]
        return next((i for i in (self.view.items if self.view else ()) if i.id == mitigation_id), None)

    def _open(self, dialog: Any) -> None:
        self.dialog = dialog
        dialog.finished.connect(lambda _result: self._forget(dialog))
        dialog.open()

    def _forget(self, dialog: Any) -> None:
        if self.dialog is dialog:
            self.dialog = None
        dialog.deleteLater()

    def _on_banner_show_clicked(self) -> None:
        if not self.live:
            return
        first = self.live[0]
        window = self._window
        window.detail_dock.show()  # type: ignore[attr-defined]
        window.detail_panel.tabs.setCurrentWidget(self.panel)  # type: ignore[attr-defined]
        if window.queue_panel.select_incident(first.incident_id):  # type: ignore[attr-defined]
            # Selected now if its incident's view is shown already, else when that view arrives.
            if not (self.view is not None and self.view.incident_id == first.incident_id
                    and self.panel.select_mitigation(first.id)):
                self._focus_mitigation = first.id
