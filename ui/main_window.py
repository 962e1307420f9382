"""The main window: wires the panels, the actions, the live feed and the operator's identity together.

Each panel owns its own behaviour; the window only connects them and keeps the layout in QSettings.
"""
from __future__ import annotations

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QShowEvent
from PySide6.QtWidgets import QDockWidget, QMainWindow, QWidget

from console.audit_queries import AuditReader
from console.changes import Changes
from console.commands.dispatch import CommandRequest
from console.dto import ChangeEntity, ConsoleInfo, FeedBatch, IncidentDetail, PersonRef, QueueSnapshot
from console.queries import Reader
from console.sync.outbox import Outbox
from console.comms.endpoints import EndpointStore
from console.signing import SigningKeyring
from console.uow import UnitOfWork
from ui.actions import IncidentActions
from ui.audit_controller import AuditController
from ui.demo_driver import DemoDriver
from ui.detail_panel import IncidentDetailPanel
from ui.comms_controller import CommsController
from ui.mitigation_controller import MitigationController
from ui.dialogs import PersonPickerDialog
from ui.menus import build_menus_and_toolbars
from ui.feed import ChangeFeed
from ui.outbox_controller import OutboxController
from ui.ownership_controller import OwnershipController
from ui.ownership_panel import OwnershipPanel
from ui.pending_panel import PendingPanel
from ui.queue_model import QueueModel
from ui.queue_panel import QueuePanel
from ui.routing_jobs import RoutingJobs
from ui.status_bar import ConsoleStatusBar
from ui.tasks import TaskRunner



class MainWindow(QMainWindow):
    operator_changed = Signal(object)  # PersonRef
    connect_requested = Signal()
    info_loaded = Signal(object)  # ConsoleInfo

    def __init__(self, *, reader: Reader, uow: UnitOfWork, runner: TaskRunner, settings: QSettings, outbox: Outbox,
                 demo_feed: bool = True, feed_interval_ms: int = 2000, demo_interval_ms: tuple[int, int] = (2000, 5000),
                 sandbox: bool = False, endpoints: EndpointStore | None = None, sender: bool = False,
                 signing_keyring: SigningKeyring | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("MainWindow")
        self.setWindowTitle("Incident Command Console")
        self.reader, self.uow, self.runner, self.settings = reader, uow, runner, settings
        self.info: ConsoleInfo | None = None
        self.operator: PersonRef | None = None
        self.demo_driver: DemoDriver | None = None
        self._demo_feed = demo_feed
        self._demo_interval_ms = demo_interval_ms
        self._requested_operator: str | None = None
        self._select_when_present: int | None = None
        self._detail_request = 0

        self.queue_model = QueueModel(self)
        self.queue_panel = QueuePanel(self.queue_model)
        self.detail_panel = IncidentDetailPanel()
        self.feed = ChangeFeed(reader, runner, interval_ms=feed_interval_ms, parent=self)
        self.outbox = OutboxController(outbox=outbox, runner=runner, uow=uow, online=lambda: self.feed.healthy,
                                       parent=self)
        self.pending_panel = PendingPanel()
        self.ownership_panel = OwnershipPanel()
        self.ownership = OwnershipController(panel=self.ownership_panel, reader=reader, runner=runner, parent=self)
        self.actions_ = IncidentActions(outbox=self.outbox, parent_widget=self)
        # Demo and training consoles keep every message on this machine (the sandbox outbox).
        self.comms = CommsController(reader=reader, uow=uow, runner=runner, outbox=self.outbox, sandbox=sandbox,
                                     endpoints=endpoints, start_sender=sender, parent=self)
        self.mitigations = MitigationController(uow=uow, clock=reader.clock, runner=runner, outbox=self.outbox,
                                                keyring=signing_keyring, parent=self)
        self.audit = AuditController(reader=AuditReader(uow.db, reader.clock), runner=runner, settings=settings,
                                     parent=self)
        self.status = ConsoleStatusBar(self)
        self.setStatusBar(self.status)
        self.status.set_operator(None)
        # Every console ticks escalation and routes signals written straight into the table: both are idempotent
        # and lock what they take, so several consoles (or none but one) on a shared database act exactly once.
        self.routing_jobs = RoutingJobs(runner=runner, uow=uow, reader=reader, online=lambda: self.feed.healthy,
                                        parent=self)
        self._build_docks()
        build_menus_and_toolbars(self)
        self._connect()
        self._ticker = QTimer(self, interval=1000)
        self._ticker.timeout.connect(self._on_ticker_timeout)
        self._on_ticker_timeout()
        self.restore_layout()

    # --- construction -------------------------------------------------------------------------------

    def _build_docks(self) -> None:
        self.setDockNestingEnabled(True)
        self.queue_dock = self._dock("Severity queue", "QueueDock", self.queue_panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.detail_dock = self._dock("Incident", "DetailDock", self.detail_panel, Qt.DockWidgetArea.RightDockWidgetArea)
        self.pending_dock = self._dock("Pending actions", "PendingDock", self.pending_panel,
                                       Qt.DockWidgetArea.BottomDockWidgetArea)
        self.pending_dock.hide()
        # Under the queue: the commander sees who owns what, and a selected incident's blast radius, at a glance.
        self.ownership_dock = self._dock("Ownership", "OwnershipDock", self.ownership_panel,
                                         Qt.DockWidgetArea.LeftDockWidgetArea)
        self.splitDockWidget(self.queue_dock, self.ownership_dock, Qt.Orientation.Vertical)
        self.detail_panel.tabs.addTab(self.comms.panel, "Updates")
        self.detail_panel.tabs.addTab(self.mitigations.panel, "Mitigations")
        self.sandbox_dock = self._dock("Sandbox outbox", "SandboxDock", self.comms.sandbox_panel,
                                       Qt.DockWidgetArea.BottomDockWidgetArea)
        self.sandbox_dock.hide()
        self.sandbox_dock.visibilityChanged.connect(
            lambda shown: self.comms.reload_sandbox() if shown and self.comms.sandbox_panel.stale else None)
        self.audit_dock = self._dock("Audit trail", "AuditDock", self.audit.panel, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.audit_dock.hide()
        self.audit_dock.visibilityChanged.connect(self.audit.set_shown)


    def _dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self, objectName=name)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.addDockWidget(area, dock)
        return dock

    def _connect(self) -> None:
        self.feed.loaded.connect(self._on_feed_loaded)
        self.feed.changed.connect(self._on_feed_changed)
        self.feed.health_changed.connect(self.status.set_feed_error)
        self.feed.health_changed.connect(lambda _message: self.offline_bar.refresh())
        for signal in (self.feed.loaded, self.feed.changed, self.feed.health_changed):
            signal.connect(lambda _value: self.status.update_feed(self.feed.last_success))
        self.queue_panel.incident_selected.connect(self._on_queue_incident_selected)
        self.actions_.command_succeeded.connect(self._on_actions_command_succeeded)
        self.actions_.command_failed.connect(lambda message: self.status.showMessage(f"⚠ {message}", 10000))
        self.runner.failed.connect(lambda message: self.status.showMessage(f"⚠ {message}", 10000))
        self.runner.busy_changed.connect(self.status.set_pending)
        self.detail_dock.visibilityChanged.connect(self._on_detail_dock_visibility_changed)
        self.feed.health_changed.connect(self._on_feed_health_changed)
        self.actions_.command_kept.connect(self._on_actions_command_kept)
        self.outbox.changed.connect(self._on_outbox_changed)
        self.outbox.applied.connect(self._on_outbox_applied)
        self.outbox.held.connect(self._on_outbox_held)
        self.pending_panel.current_wanted.connect(self._on_pending_panel_current_wanted)
        self.pending_panel.redo_requested.connect(lambda key, version: self.outbox.redo(key, version=version))
        self.pending_panel.discard_requested.connect(self._on_pending_panel_discard_requested)
        self.routing_jobs.changed.connect(lambda _changes: self.feed.poll_now())
        self.ownership.gaps_changed.connect(self.status.set_coverage_gaps)
        self.feed.changed.connect(self.comms.on_feed_changed)
        self.operator_changed.connect(self.comms.set_operator)
        self.feed.changed.connect(self.mitigations.on_feed_changed)
        self.operator_changed.connect(self.mitigations.set_operator)
        self.info_loaded.connect(self.comms.set_info)
        self.feed.changed.connect(self.audit.on_feed_changed)
        self.audit.chain_checked.connect(self.status.set_audit_check)
        self.audit.check_failed.connect(self.status.set_audit_error)

    # --- start-up and identity ---------------------------------------------------------------------

    def start(self, *, operator_handle: str | None = None) -> None:
        """Load facts about the database and the queue off the GUI thread, then ask who is at the keyboard."""
        self._requested_operator = operator_handle
        self.runner.read(self.reader.info, on_done=self._on_info_loaded)
        self.feed.start()
        self._ticker.start()
        self.routing_jobs.start()
        self.ownership.start()
        self.comms.start()
        self.mitigations.start()
        self.audit.start()

    def _on_info_loaded(self, info: ConsoleInfo) -> None:
        self.info = info
        self.actions_.roster = info.roster
        self.actions_.services = info.services
        self.status.set_database(info.database)
        self.banner_bar.setVisible(info.is_demo)
        wanted = self._requested_operator or self.settings.value("operator/handle", "", str)
        person = next((p for p in info.roster if p.handle == wanted), None)
        if person is not None:
            self.set_operator(person)
        elif info.roster:
            self.choose_operator()
        self.info_loaded.emit(info)
        if info.is_demo and self._demo_feed:
            low, high = self._demo_interval_ms
            self.demo_driver = DemoDriver(runner=self.runner, uow=self.uow, min_ms=low, max_ms=high,
                                          operator_id=lambda: self.operator.id if self.operator else None, parent=self)
            self.demo_driver.stepped.connect(lambda _changes: self.feed.poll_now())
            self.demo_driver.start()

    def choose_operator(self) -> None:
        """Ask who is at the keyboard (every action is recorded under that person)."""
        if self.info is None:
            return
        dialog = PersonPickerDialog(people=self.info.roster, title="Who is at the keyboard?",
                                    prompt="Every action you take is recorded under your name.",
                                    preselect=self.operator.id if self.operator else None, parent=self)
        dialog.setObjectName("OperatorDialog")
        self.actions_.show_dialog(dialog, lambda: self.set_operator(
            next(p for p in self.info.roster if p.id == dialog.person_id())))  # type: ignore[union-attr]

    def set_operator(self, person: PersonRef) -> None:
        self.operator = person
        self.actions_.operator = person
        self.actions_.update_enabled()
        self.settings.setValue("operator/handle", person.handle)
        self.status.set_operator(person)
        self.setWindowTitle(f"Incident Command Console — {person.name}")
        self.operator_changed.emit(person)

    # --- live data -----------------------------------------------------------------------------------

    def _on_feed_loaded(self, snapshot: QueueSnapshot) -> None:
        self._on_outbox_changed()  # actions kept before a restart are shown, then sent
        self.outbox.send_pending()
        self.queue_model.set_now(self.reader.clock.now())
        self.queue_model.load(snapshot.rows)
        if self.queue_model.rowCount() and self.queue_panel.selected_id() is None:
            self.queue_panel.select_incident(self.queue_model.row_at(0).id)

    def _on_feed_changed(self, batch: FeedBatch) -> None:
        if ChangeEntity.ORGANISATION in batch.other_entities:
            self._on_organisation_changed()
        self.queue_model.remove_ids(batch.incident_ids - {row.id for row in batch.rows})
        watched = self.detail_panel.incident_id
        gone = next((r for r in batch.rows if r.id == watched and not r.is_open), None)
        if gone is not None:
            # It leaves the queue and the selection moves on: say why, so nobody thinks it vanished.
            self.status.showMessage(f"{gone.ref} was resolved: it has left the queue", 15000)
        self.queue_model.apply(batch.rows)
        if self._select_when_present is not None and self.queue_panel.select_incident(self._select_when_present):
            self._select_when_present = None
        current = self.detail_panel.incident_id
        if current is not None and current in batch.incident_ids:
            self.actions_.set_current(self.queue_model.row_by_id(current) or self._row_from_batch(batch, current))
            self._refresh_detail()

    def _on_organisation_changed(self) -> None:
        """People, teams, services or on-call changed somewhere: reload what shows them (rare, so wholesale)."""
        self.runner.read(self.reader.info, on_done=self._on_info_reloaded)
        self.runner.read(self.reader.open_queue, on_done=lambda snapshot: self.queue_model.apply(snapshot.rows))
        self._refresh_detail()
        self.ownership_panel.mark_stale()

    def _on_info_reloaded(self, info: ConsoleInfo) -> None:
        self.info = info
        self.actions_.roster = info.roster
        self.actions_.services = info.services
        if self.operator is not None:
            same = next((p for p in info.roster if p.id == self.operator.id), None)
            if same is None:
                self.status.showMessage(f"⚠ {self.operator.name} is no longer in the roster: choose who is at the "
                                        f"keyboard (File ▸ Switch operator)", 20000)
            elif same != self.operator:
                self.set_operator(same)

    @staticmethod
    def _row_from_batch(batch: FeedBatch, incident_id: int):  # type: ignore[no-untyped-def]
        return next((r for r in batch.rows if r.id == incident_id), None)

    def _on_queue_incident_selected(self, incident_id: int | None) -> None:
        self.actions_.set_current(self.queue_model.row_by_id(incident_id) if incident_id is not None else None)
        self.comms.set_incident(self.actions_.current)
        self.mitigations.set_incident(self.actions_.current)
        self.ownership.show_incident(incident_id)
        if incident_id is None:
            self.detail_panel.show_empty()
            return
        self.detail_panel.incident_id = incident_id
        self._refresh_detail()

    def _refresh_detail(self) -> None:
        incident_id = self.detail_panel.incident_id
        if incident_id is None:
            return
        if not self.detail_dock.isVisible():
            self.detail_panel.stale = True  # refreshed when shown again
            return
        self._detail_request += 1
        request = self._detail_request
        self.runner.read(lambda: self.reader.incident_detail(incident_id=incident_id),
                         on_done=lambda detail: self._on_detail_loaded(detail, request))

    def _on_detail_loaded(self, detail: IncidentDetail, request: int) -> None:
        # Only the newest request counts: two readers can finish out of order, and the operator may have moved on.
        if request == self._detail_request and detail.row.id == self.detail_panel.incident_id:
            self.detail_panel.show_detail(detail)
            self.actions_.set_detail(detail)

    def _on_detail_dock_visibility_changed(self, visible: bool) -> None:
        if visible and self.detail_panel.stale:
            self._refresh_detail()

    def _on_actions_command_succeeded(self, changes: Changes, text: str) -> None:
        self.status.showMessage(text, 5000)
        self.feed.poll_now()
        if changes.created_incident is not None:
            self._select_when_present = changes.created_incident

    # --- kept actions (the outbox) ---------------------------------------------------------------------

    def _on_feed_health_changed(self, problem: str) -> None:
        if not problem:
            self.outbox.send_pending()

    def _on_actions_command_kept(self, label: str) -> None:
        self.status.showMessage(f"◔ Kept on this machine, sent when the database is back: {label}", 15000)
        self.pending_dock.show()

    def _on_outbox_changed(self) -> None:
        self.pending_panel.show_entries(self.outbox.entries(), sending=self.outbox.sending)
        self.queue_model.set_pending(self.outbox.incidents_with_kept_actions())
        self.status.set_kept(len(self.outbox.entries()))
        if not self.outbox.entries():
            self.pending_dock.hide()

    def _on_outbox_applied(self, changes: Changes, request: CommandRequest) -> None:
        # Our own live actions are reported by the actions (command_succeeded); this covers kept ones too.
        self.status.showMessage(f"Sent: {request.label}", 8000)
        self._on_actions_command_succeeded(changes, request.label)

    def _on_outbox_held(self, request: CommandRequest, why: str) -> None:
        self.status.showMessage(f"⚠ Needs your decision (Pending actions): {request.label}", 15000)
        self.pending_dock.show()
        self.pending_dock.raise_()

    def _on_pending_panel_discard_requested(self, key: str) -> None:
        if not self.outbox.discard(key):
            self.status.showMessage("That action is being sent right now; it cannot be discarded any more.", 8000)

    def _on_pending_panel_current_wanted(self, incident_id: int) -> None:
        self.runner.read(lambda: self.reader.incident_row(incident_id=incident_id),
                         on_done=lambda row: self.pending_panel.show_current(row, incident_id))

    def _on_ticker_timeout(self) -> None:
        self.queue_model.set_now(self.reader.clock.now())
        self.detail_panel.update_countdown(now=self.reader.clock.now())
        self.comms.tick(self.reader.clock.now())
        self.mitigations.tick(self.reader.clock.now())
        self.queue_panel.update_header()
        self.feed.check_stalled()
        if self.feed.healthy and self.feed.cursor is not None and self.outbox.pending_count():
            self.outbox.send_pending()
        self.status.update_feed(self.feed.last_success)
        self.offline_bar.refresh()

    # --- layout persistence ------------------------------------------------------------------------

    def restore_layout(self) -> None:
        geometry = self.settings.value("window/geometry")
        state = self.settings.value("window/state")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1600, 1000)
        if state is not None:
            self.restoreState(state)
        self._share_out = state is None  # no saved layout: divide the window between the panels when first shown

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._share_out:
            # By share of the window, not pixels: on a laptop the incident panel must keep room for its text.
            self._share_out = False
            width, height = self.width(), self.height()
            self.resizeDocks([self.queue_dock, self.detail_dock], [int(width * 0.58), int(width * 0.42)],
                             Qt.Orientation.Horizontal)
            self.resizeDocks([self.queue_dock, self.ownership_dock], [height // 2, height // 2],
                             Qt.Orientation.Vertical)

    def save_layout(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_layout()
        self._ticker.stop()
        self.routing_jobs.stop()
        self.ownership.stop()
        self.audit.stop()
        self.comms.shutdown()
        self.feed.stop()
        if self.demo_driver is not None:
            self.demo_driver.stop()
        super().closeEvent(event)
