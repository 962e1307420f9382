"""The window's two banners: demo data (yellow), and a lost database (red) with the age of what is shown, the
reconnect countdown and Retry now. Each has its own toolbar row, above everything it concerns, so it cannot be
missed."""
from __future__ import annotations

import time
from datetime import datetime, timedelta

from PySide6.QtWidgets import QLabel, QPushButton, QSizePolicy, QToolBar, QWidget

from console.dto import incident_ref
from console.mitigations.views import LiveMitigation
from ui.feed import ChangeFeed
from ui.timefmt import format_age, format_countdown

DEMO_TEXT = "DEMO DATA — a simulated organisation and simulated incidents. Nothing is sent anywhere."
OFFLINE_TEXT = ("⚠ DATABASE UNREACHABLE — showing the state as of {as_of} ({age} ago). {retry} "
                "Your actions are kept on this machine and sent when it is back.")


def _banner_label(text: str, name: str) -> QLabel:
    label = QLabel(text, objectName=name)
    label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
    return label


class DemoBar(QToolBar):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Banner", parent, objectName="BannerToolBar", movable=False)
        self.label = _banner_label(DEMO_TEXT, "DemoBanner")
        self.addWidget(self.label)
        self.setVisible(False)


class OfflineBar(QToolBar):
    def __init__(self, *, feed: ChangeFeed, parent: QWidget | None = None) -> None:
        super().__init__("Connection", parent, objectName="OfflineToolBar", movable=False)
        self._feed = feed
        self.label = _banner_label("", "OfflineBanner")
        self.addWidget(self.label)
        self.retry_button = QPushButton("Retry now", objectName="RetryButton")
        self.retry_button.clicked.connect(feed.retry_now)
        self.addWidget(self.retry_button)
        self.setVisible(False)

    def refresh(self) -> None:
        """Show or hide the banner by the feed's health, with how old the shown state is (called every second)."""
        feed = self._feed
        offline = not feed.healthy
        if offline:
            now = time.monotonic()
            as_of, retry = feed.last_success_wall, feed.next_retry
            self.label.setText(OFFLINE_TEXT.format(
                as_of=datetime.fromtimestamp(as_of).strftime("%H:%M:%S") if as_of else "—",
                age=format_age(now - feed.last_success) if feed.last_success else "—",
                retry=f"Reconnecting in {max(0, int(retry - now))} s." if retry else "Waiting for an answer…",
            ))
            self.label.setToolTip(feed.problem)
        if offline != self.isVisible():
            self.setVisible(offline)


class FailedUpdatesBar(QToolBar):
    """A red row across the window while any update failed and nobody has sent it again or dismissed it:
    a customer who was promised an update and did not get one is the failure nobody may miss."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Failed updates", parent, objectName="FailedUpdatesToolBar", movable=False)
        self.label = _banner_label("", "FailedUpdatesBanner")
        self.addWidget(self.label)
        self.show_button = QPushButton("Show", objectName="ShowFailedUpdateButton")
        self.addWidget(self.show_button)
        self.setVisible(False)

    def show_failures(self, failures: tuple) -> None:  # type: ignore[type-arg]
        """Show how many deliveries failed, customers' first, with the newest reason; hide when there are none."""
        if not failures:
            self.setVisible(False)
            return
        ordered = sorted(failures, key=lambda f: (f[1].audience != "customers", -f[1].deliveries[0].id))
        ref, message = ordered[0]
        delivery = message.deliveries[0]
        customers = sum(1 for _, m in failures if m.audience == "customers")
        what = f"{customers} CUSTOMER UPDATE(S)" if customers else f"{len(failures)} UPDATE(S)"
        more = f" (+{len(failures) - 1} more)" if len(failures) > 1 else ""
        self.label.setText(f"✖ {what} FAILED — {ref} {message.audience} via {delivery.channel}: "
                           f"{delivery.last_error}{more}. Open it to send again or dismiss.")
        self.setVisible(True)


class MitigationExpiryBar(QToolBar):
    """A row across the window for approved mitigations: amber when one expires within 15 minutes, red once one
    has expired and is still in place. A temporary change nobody reverts is how a mitigation becomes an outage."""

    SOON = timedelta(minutes=15)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Mitigations", parent, objectName="MitigationToolBar", movable=False)
        self.label = _banner_label("", "MitigationBanner")
        self.addWidget(self.label)
        self.show_button = QPushButton("Show", objectName="ShowMitigationButton")
        self.addWidget(self.show_button)
        self.setVisible(False)

    def show_live(self, live: tuple[LiveMitigation, ...], *, now: datetime) -> None:
        """Show the most urgent of the approved mitigations still in place; hide when none is near its expiry."""
        urgent = [m for m in live if m.expires_at is not None and m.expires_at - now <= self.SOON]
        if not urgent:
            self.setVisible(False)
            return
        first = urgent[0]
        incident_id, ref, action, expires_at = first.incident_id, first.ref, first.action, first.expires_at
        assert expires_at is not None
        more = f" (+{len(urgent) - 1} more)" if len(urgent) > 1 else ""
        left = (expires_at - now).total_seconds()
        expired = left <= 0
        if expired:
            text = (f"⚠ {ref} on {incident_ref(incident_id)} EXPIRED {format_countdown(-left)} ago and is still in "
                    f"place ({action}): revert it or get an extension approved{more}")
        else:
            text = (f"⏱ {ref} on {incident_ref(incident_id)} expires in {format_countdown(left)} ({action}): revert "
                    f"it or ask for an extension{more}")
        self.label.setText(text)
        self.label.setProperty("expired", "true" if expired else "false")
        self.label.style().unpolish(self.label)
        self.label.style().polish(self.label)
        self.setVisible(True)
