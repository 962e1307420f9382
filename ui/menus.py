"""The main window's menus, action toolbar and banner rows, built from the actions the window's parts own."""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QToolBar

from ui.banners import DemoBar, OfflineBar

TOOLBAR_ACTIONS = ("acknowledge", "take", "assign", "severity", "mitigating", "monitoring", "note", "next_action",
                   "resolve", "escalate", None, "declare")


def build_menus_and_toolbars(window: Any) -> None:  # a MainWindow (importing it here would be a cycle)
    """Add the File, Incident and View menus, the action toolbar and the banner rows to the window."""
    actions = window.actions_.actions
    comms = window.comms.actions
    window.switch_operator_action = QAction("Switch &operator…", window, objectName="action_switch_operator")
    window.switch_operator_action.triggered.connect(window.choose_operator)
    quit_action = QAction("&Quit", window, shortcut=QKeySequence.StandardKey.Quit)
    quit_action.triggered.connect(window.close)
    window.connect_action = QAction("&Connect to shared database…", window, objectName="action_connect",
                                    shortcut=QKeySequence("Ctrl+Shift+O"))
    window.connect_action.triggered.connect(window.connect_requested)
    file_menu = window.menuBar().addMenu("&File")
    file_menu.addActions([window.connect_action, window.switch_operator_action, comms["templates"]])
    file_menu.addSeparator()
    file_menu.addAction(quit_action)
    incident_menu = window.menuBar().addMenu("&Incident")
    for name in TOOLBAR_ACTIONS:
        incident_menu.addSeparator() if name is None else incident_menu.addAction(actions[name])
    incident_menu.addAction(actions["commander"])
    incident_menu.addSeparator()
    incident_menu.addActions([actions["stop_escalation"], actions["ungroup"]])
    incident_menu.addSeparator()
    incident_menu.addActions([comms["send_update"], comms["compose"]])
    incident_menu.addSeparator()
    incident_menu.addActions([window.mitigations.actions["request"], window.mitigations.actions["review"]])
    view_menu = window.menuBar().addMenu("&View")
    for dock, key in ((window.queue_dock, "Ctrl+1"), (window.detail_dock, "Ctrl+2"), (window.pending_dock, "Ctrl+3"),
                      (window.ownership_dock, "Ctrl+4"), (window.sandbox_dock, "Ctrl+5"), (window.audit_dock, "Ctrl+6")):
        toggle = dock.toggleViewAction()
        toggle.setShortcut(QKeySequence(key))
        view_menu.addAction(toggle)
    toolbar = QToolBar("Actions", window, objectName="ActionsToolBar")
    for name in TOOLBAR_ACTIONS:
        toolbar.addSeparator() if name is None else toolbar.addAction(actions[name])
    toolbar.insertAction(toolbar.actions()[-2], comms["send_update"])
    window.addToolBar(Qt.ToolBarArea.TopToolBarArea, toolbar)
    # Banner rows, each its own line so none hides another: failed updates, demo data, a lost database.
    window.banner_bar = DemoBar(window)
    window.offline_bar = OfflineBar(feed=window.feed, parent=window)
    for bar in (window.comms.banner, window.mitigations.banner, window.banner_bar, window.offline_bar):
        window.addToolBarBreak()
        window.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)
    window.offline_banner, window.retry_button = window.offline_bar.label, window.offline_bar.retry_button
