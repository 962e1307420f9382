"""The status bar: who is at the keyboard, which database, whether the live feed is current, pending work."""
from __future__ import annotations

import time
from collections.abc import Sequence

from PySide6.QtWidgets import QLabel, QSizePolicy, QStatusBar, QWidget

from console.audit_dto import ChainCheck
from console.dto import PersonRef
from console.ownership import Gap
from ui import theme
from ui.timefmt import local_time


class ConsoleStatusBar(QStatusBar):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.operator_label = QLabel("Operator: —", objectName="OperatorLabel")
        self.database_label = QLabel("", objectName="DatabaseLabel")
        self.feed_label = QLabel("connecting…", objectName="FeedLabel")
        self.pending_label = QLabel("", objectName="PendingLabel")
        self.kept_label = QLabel("", objectName="KeptLabel")
        self.coverage_label = QLabel("", objectName="CoverageLabel")
        self.coverage_label.setStyleSheet(f"color: {theme.WARN_FG};")
        self.audit_label = QLabel("Audit …", objectName="AuditLabel", toolTip="checking the audit chain…")
        for label in (self.audit_label, self.coverage_label, self.kept_label, self.pending_label, self.feed_label, self.database_label, self.operator_label):
            # Status text may be cut short on a narrow window, but it must never make the window wider.
            label.setMinimumWidth(1)
            label.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Preferred)
            self.addPermanentWidget(label)
        self._feed_error = ""

    def set_operator(self, person: PersonRef | None) -> None:
        self.operator_label.setText(f"Operator: {person.label}" if person else "Operator: — (choose in File menu)")

    def set_database(self, text: str) -> None:
        self.database_label.setText(text)
        self.database_label.setToolTip(text)

    def set_coverage_gaps(self, gaps: Sequence[Gap]) -> None:
        """Warn of the soonest coverage gap in the coming days, before it happens (all of them in the tooltip)."""
        if not gaps:
            self.coverage_label.setText("")
            self.coverage_label.setToolTip("")
            return
        first = gaps[0]
        more = f" (+{len(gaps) - 1} more)" if len(gaps) > 1 else ""
        self.coverage_label.setText(f"⚠ nobody on call for {first.rotation} from "
                                    f"{first.starts_at.astimezone():%a %H:%M}{more}")
        self.coverage_label.setToolTip("\n".join(
            f"{g.rotation}: {g.starts_at.astimezone():%a %d %b %H:%M}–{g.ends_at.astimezone():%a %H:%M}: {g.reason}"
            for g in gaps))

    def set_audit_check(self, check: ChainCheck) -> None:
        """Show the last whole-chain check: a quiet tick, or a red warning naming the first bad entry."""
        when = f"checked {local_time(check.checked_at, with_date=True)}"
        if check.intact:
            self.audit_label.setText(f"Audit ✓ {check.entries:,} entries")
            self.audit_label.setStyleSheet("")
            self.audit_label.setToolTip(f"audit chain intact: every entry's hash and link verified; {when}")
            return
        self.audit_label.setText(f"⚠ Audit chain broken at #{check.first_bad_id}")
        self.audit_label.setStyleSheet(f"color: {theme.BREACH_FG}; background: {theme.BREACH_BG}; padding: 0 6px;"
                                       " font-weight: bold;")
        self.audit_label.setToolTip(f"{check.kind}: {check.reason}\n{when}\n"
                                    "`python main.py audit verify` says the same; see docs/AUDIT.md")

    def set_audit_error(self, message: str) -> None:
        """Say the last check could not run (the database was unreachable), keeping the verdict before it."""
        self.audit_label.setToolTip(f"the last audit check could not run: {message}")

    def set_kept(self, count: int) -> None:
        self.kept_label.setText(f"◔ {count} kept on this machine" if count else "")

    def set_pending(self, count: int) -> None:
        self.pending_label.setText(f"working… ({count})" if count else "")

    def set_feed_error(self, message: str) -> None:
        self._feed_error = message

    def update_feed(self, last_success: float | None) -> None:
        """Say how current the shown data is."""
        if self._feed_error:
            text = "⚠ OFFLINE"
            self.feed_label.setToolTip(self._feed_error)
        elif last_success is None:
            text = "connecting…"
        else:
            age = time.monotonic() - last_success
            # The slow poll reads every 2 s even when nothing changes, so "live" means heard from within 5 s.
            text = "● live" if age < 5 else f"⚠ last update {int(age)} s ago"
        if text != self.feed_label.text():
            self.feed_label.setText(text)
