"""Application set-up shared by the console and the screenshot command: QApplication, theme, exception dialog."""
from __future__ import annotations

import logging
import sys
import traceback
from types import TracebackType

from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from ui.theme import apply_theme

log = logging.getLogger("ui")
ORGANISATION = "IncidentConsole"
APPLICATION = "Incident Command Console"


def create_application(argv: list[str]) -> QApplication:
    """Return the QApplication with our names (QSettings location) and the war-room theme."""
    QCoreApplication.setOrganizationName(ORGANISATION)
    QCoreApplication.setApplicationName(APPLICATION)
    app = QApplication.instance() or QApplication(argv)
    apply_theme(app)  # type: ignore[arg-type]
    return app  # type: ignore[return-value]


def install_exception_dialog(*, parent: QWidget | None, log_file: str) -> None:
    """Log any exception that escapes a slot and show it in a dialog; the console keeps running.

    A fault that repeats (in a timer, say) updates one dialog with a count instead of stacking a new one each time.
    """
    state: dict[str, object] = {"box": None, "count": 0}

    def hook(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
        log.error("unexpected error in the GUI:\n%s", "".join(traceback.format_exception(kind, error, tb)))
        if issubclass(kind, KeyboardInterrupt):
            QApplication.quit()
            return
        text = f"{kind.__name__}: {error}\n\nThe console keeps running. Details are in {log_file}."
        box = state["box"]
        if isinstance(box, QMessageBox) and box.isVisible():
            state["count"] = int(state["count"]) + 1  # type: ignore[call-overload]
            box.setText(f"{text}\n\n(this happened {state['count']} times)")
            return
        box = QMessageBox(QMessageBox.Icon.Critical, "Unexpected error", text, QMessageBox.StandardButton.Ok, parent)
        box.setObjectName("UnexpectedErrorBox")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.destroyed.connect(lambda: state.update(box=None))
        state.update(box=box, count=1)
        box.open()

    sys.excepthook = hook
