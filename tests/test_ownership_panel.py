"""The ownership panel on the seeded demo organisation: its item model honours Qt's contract, the blast radius is
marked in place, the filter keeps the tiers, fatigue and runbooks show, state survives a refresh, and a hidden
panel asks for a refresh when it is shown again. It is also rendered on the dark theme to /tmp/ownership.png."""
from __future__ import annotations

from datetime import timedelta

import pytest
from PySide6.QtCore import QModelIndex, QObject, Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QApplication

from console import commands
from console.ownership import read_blast_radius, read_ownership
from models.enums import PageReason
from models.incident import Incident
from models.org import Person, Service
from models.routing import Page
from sqlalchemy import select
from tests.conftest import T0
from ui import theme
from ui.ownership_model import BACKGROUND, DETAILS, FONT, FOREGROUND, KIND_ROLE, URL_ROLE, OwnershipModel
from ui.ownership_nodes import GAPS_TITLE
from ui.ownership_panel import OwnershipPanel

RUNBOOK = "https://runbooks.tallyworks.io/platform/primary-db"


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
def demo(db, uow):  # type: ignore[no-untyped-def]
    """The demo organisation, a runbook on primary-db, an unsafe one on edge-gateway, none on identity, and Omar
    Cruz paged 8 times."""
    commands.seed_demo(uow)
    with db.writer() as s:
        services = {v.name: v for v in s.execute(select(Service)).scalars()}
        services["primary-db"].runbook_url = RUNBOOK
        services["edge-gateway"].runbook_url = "file:///etc/passwd"
        services["identity"].runbook_url = ""
        omar = s.execute(select(Person.id).where(Person.handle == "ocruz")).scalar_one()
        incident = s.execute(select(Incident.id).limit(1)).scalar_one()
        s.add_all(Page(incident_id=incident, person_id=omar, reason=PageReason.ESCALATION, step=0, why="test",
                       paged_at=T0 - timedelta(minutes=5 * n), night=False, urgent=True) for n in range(8))
        s.commit()
    return db


def _children(model, parent: QModelIndex = QModelIndex()) -> dict[str, QModelIndex]:  # type: ignore[no-untyped-def]
    return {model.index(r, 0, parent).data(): model.index(r, 0, parent) for r in range(model.rowCount(parent))}


def _all_named(model, parent: QModelIndex, name: str) -> list[QModelIndex]:  # type: ignore[no-untyped-def]
    return [i for r in range(model.rowCount(parent)) if (i := model.index(r, 0, parent)).data() == name]


def _row(model, path: list[str]) -> QModelIndex:  # type: ignore[no-untyped-def]
    index = QModelIndex()
    for name in path:
        index = _children(model, index)[name]
    return index


def _details(index: QModelIndex) -> str:
    return index.siblingAtColumn(DETAILS).data()


def test_the_model_lists_tiers_rosters_types_and_gaps(qtmodeltester, demo) -> None:  # type: ignore[no-untyped-def]
    model = OwnershipModel()
    qtmodeltester.check(model)
    model.set_tree(read_ownership(demo, at=T0))
    qtmodeltester.check(model)
    assert list(_children(model)) == [GAPS_TITLE, "Foundational", "Core", "Edge", "Rosters", "Incident types"]
    assert list(_children(model, _row(model, ["Foundational"]))) == ["edge-gateway", "event-bus", "identity",
                                                                     "primary-db"]
    ledger = _children(model, _row(model, ["Core", "ledger"]))
    assert _details(ledger["Team"]) == "Ledger & Data" and _details(ledger["Lead"]) == "Rachel Adler"
    assert "⚠ coverage gap" in _details(_row(model, ["Core", "ledger"]))
    assert _details(ledger["⚠ Gap in data-secondary"]).startswith("⚠ nobody on call ")
    assert "everyone is on leave: Rachel Adler (holiday), Tove Lindqvist (PTO)" in _details(
        ledger["⚠ Gap in data-secondary"])
    identity = _children(model, _row(model, ["Foundational", "identity"]))
    assert _details(identity["On call now"]).startswith("Tobi Okafor (identity-primary, until ")
    assert "covering: Lena Hansen is on leave (PTO)" in _details(identity["On call now"])
    tiers = _children(model, identity["Escalation"])
    assert _details(tiers["Tier 1"]) == "rotation identity-primary, 5 min to acknowledge"
    assert "Imani Naidoo" in _details(_row(model, ["Rosters", "incident-command"]))
    assert _details(_row(model, ["Incident types", "Card payment failure"])).startswith("▲ SEV1 · payments")


def test_highlight_marks_the_blast_radius_in_place(qtmodeltester, demo) -> None:  # type: ignore[no-untyped-def]
    model = OwnershipModel()
    model.set_tree(read_ownership(demo, at=T0))
    radius = read_blast_radius(demo, incident_id=1)  # the seeded replica-lag incident on primary-db
    resets, changed = [], []
    model.modelReset.connect(lambda: resets.append(1))
    model.dataChanged.connect(lambda top, bottom, roles: changed.append(top.data()))
    model.highlight(set(radius.service_ids), radius.origin_id)
    assert resets == [] and len(changed) == len(radius.service_ids) + 3  # the services, then their tiers' counts
    origin, ledger = _row(model, ["Foundational", "▲ primary-db"]), _row(model, ["Core", "△ ledger"])
    assert origin.data(FONT).bold() and ledger.data(FONT).bold()
    assert origin.data(BACKGROUND).color().name() != ledger.data(BACKGROUND).color().name()
    assert "the incident is here" in _details(origin) and "in the blast radius" in _details(ledger)
    assert _row(model, ["Foundational", "edge-gateway"]).data(BACKGROUND) is None
    assert "in the blast radius" in _details(_row(model, ["Core"]))
    qtmodeltester.check(model)
    model.highlight(set(), None)
    assert _row(model, ["Foundational", "primary-db"]).data(BACKGROUND) is None and resets == []


def test_a_refresh_of_the_same_shape_changes_rows_in_place(demo) -> None:  # type: ignore[no-untyped-def]
    model = OwnershipModel()
    assert model.set_tree(read_ownership(demo, at=T0)) is True
    resets = []
    model.modelReset.connect(lambda: resets.append(1))
    assert model.set_tree(read_ownership(demo, at=T0 + timedelta(minutes=1))) is False
    assert resets == []
    assert model.set_tree(read_ownership(demo, at=T0 + timedelta(days=6))) is True  # the gap is behind us
    assert GAPS_TITLE not in _children(model)


def test_the_filter_keeps_tiers_and_hides_other_services(qtbot, qtmodeltester, demo) -> None:  # type: ignore[no-untyped-def]
    panel = OwnershipPanel()
    qtbot.addWidget(panel)
    panel.set_tree(read_ownership(demo, at=T0))
    panel.filter.setText("DB")
    proxy = panel.proxy
    qtmodeltester.check(proxy)
    assert list(_children(proxy)) == [GAPS_TITLE, "Foundational", "Core", "Edge", "Rosters", "Incident types"]
    assert list(_children(proxy, _row(proxy, ["Foundational"]))) == ["primary-db"]
    assert proxy.rowCount(_row(proxy, ["Core"])) == 0
    assert "Runbook" in _children(proxy, _row(proxy, ["Foundational", "primary-db"]))  # its own rows stay
    panel.filter.clear()
    assert proxy.rowCount(_row(proxy, ["Core"])) == 6


def test_someone_over_the_page_limit_is_flagged(qtbot, demo) -> None:  # type: ignore[no-untyped-def]
    panel = OwnershipPanel()
    qtbot.addWidget(panel)
    panel.set_tree(read_ownership(demo, at=T0))
    rows = _all_named(panel.proxy, _row(panel.proxy, ["Foundational", "primary-db"]), "On call now")
    assert len(rows) == 2  # platform-primary and platform-storage
    row = next(i for i in rows if "platform-primary" in _details(i))
    assert _details(row).startswith("⚠ Omar Cruz (platform-primary, until ")
    assert "⚠ 9 pages this shift (1 at night): over the limit of 6" in _details(row)  # 8 here, 1 from the seed
    assert row.siblingAtColumn(DETAILS).data(FOREGROUND).color().name() == theme.WARN_FG
    assert "over the page limit: Omar Cruz" in panel.header.text()


class _Browser(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.opened: list[str] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.opened.append(url.toString())


@pytest.fixture
def browser():  # type: ignore[no-untyped-def]
    handler = _Browser()
    for scheme in ("https", "http", "file"):
        QDesktopServices.setUrlHandler(scheme, handler, "open")
    yield handler
    for scheme in ("https", "http", "file"):
        QDesktopServices.unsetUrlHandler(scheme)


def test_a_runbook_row_carries_its_link_and_opens_only_web_links(qtbot, demo, browser) -> None:  # type: ignore[no-untyped-def]
    panel = OwnershipPanel()
    qtbot.addWidget(panel)
    panel.resize(900, 700)
    panel.show()
    panel.set_tree(read_ownership(demo, at=T0))
    service = _row(panel.proxy, ["Foundational", "primary-db"])
    panel.view.expand(service)
    runbook = _children(panel.proxy, service)["Runbook"]
    assert (runbook.data(URL_ROLE), _details(runbook), runbook.data(KIND_ROLE)) == (RUNBOOK, RUNBOOK, "runbook")
    panel.view.scrollTo(runbook)
    where = panel.view.visualRect(runbook.siblingAtColumn(DETAILS)).center()
    qtbot.mouseClick(panel.view.viewport(), Qt.MouseButton.LeftButton, pos=where)
    assert browser.opened == []  # one click selects, it does not open
    qtbot.mouseDClick(panel.view.viewport(), Qt.MouseButton.LeftButton, pos=where)
    qtbot.waitUntil(lambda: browser.opened == [RUNBOOK])
    panel.view.setCurrentIndex(_row(panel.proxy, ["Foundational", "identity"]))
    assert not panel.open_runbook.isEnabled()  # identity has no runbook
    panel.view.setCurrentIndex(service)
    assert panel.open_runbook.isEnabled()
    unsafe = _row(panel.proxy, ["Foundational", "edge-gateway"])
    panel.view.setCurrentIndex(unsafe)
    assert not panel.open_runbook.isEnabled()  # file:///etc/passwd is not a web link
    panel.view.doubleClicked.emit(_children(panel.proxy, unsafe)["Runbook"])
    assert browser.opened == [RUNBOOK] and "Not opened" in panel.radius_line.text()


def test_expansion_and_selection_survive_a_rebuild(qtbot, demo) -> None:  # type: ignore[no-untyped-def]
    panel = OwnershipPanel()
    qtbot.addWidget(panel)
    panel.set_tree(read_ownership(demo, at=T0))
    ledger = _row(panel.proxy, ["Core", "ledger"])
    panel.view.expand(ledger)
    panel.view.setCurrentIndex(_children(panel.proxy, ledger)["Lead"])
    panel.filter.setText("ledger")
    panel.filter.clear()  # the filter hid and brought back rows: they come back as they were
    assert panel.view.isExpanded(_row(panel.proxy, ["Core", "ledger"]))
    panel.set_tree(read_ownership(demo, at=T0 + timedelta(days=6)))  # another shape: a reset
    ledger = _row(panel.proxy, ["Core", "ledger"])
    assert panel.view.isExpanded(ledger) and panel.view.isExpanded(_row(panel.proxy, ["Core"]))
    assert not panel.view.isExpanded(_row(panel.proxy, ["Core", "billing-engine"]))
    current = panel.view.currentIndex()
    assert current.data() == "Lead" and current.parent() == ledger


def test_a_blast_radius_opens_its_services_and_closes_them_when_it_moves(qtbot, demo) -> None:  # type: ignore[no-untyped-def]
    panel = OwnershipPanel()
    qtbot.addWidget(panel)
    panel.set_tree(read_ownership(demo, at=T0))
    panel.view.expand(_row(panel.proxy, ["Edge", "checkout"]))  # the operator's own choice stays
    panel.show_blast_radius(read_blast_radius(demo, incident_id=1))
    assert panel.view.isExpanded(_row(panel.proxy, ["Foundational", "▲ primary-db"]))
    assert panel.view.isExpanded(_row(panel.proxy, ["Core", "△ ledger"]))
    assert not panel.view.isExpanded(_row(panel.proxy, ["Core", "notifications"]))
    assert "INC-1: ▲ primary-db and △ 10 services" in panel.radius_line.text()
    panel.show_blast_radius(read_blast_radius(demo, incident_id=7))  # notifications, reaching nothing
    assert not panel.view.isExpanded(_row(panel.proxy, ["Core", "ledger"]))
    assert panel.view.isExpanded(_row(panel.proxy, ["Core", "▲ notifications"]))
    assert panel.view.isExpanded(_row(panel.proxy, ["Edge", "checkout"]))
    panel.show_blast_radius(None)
    assert panel.model.radius == frozenset() and not panel.view.isExpanded(_row(panel.proxy, ["Core", "notifications"]))


def test_a_blast_radius_shown_before_the_first_tree_is_applied_to_it(qtbot, demo) -> None:  # type: ignore[no-untyped-def]
    panel = OwnershipPanel()
    qtbot.addWidget(panel)
    panel.show_blast_radius(read_blast_radius(demo, incident_id=2))  # the ledger incident, before any tree
    panel.set_tree(read_ownership(demo, at=T0))
    ledger = _row(panel.proxy, ["Core", "▲ ledger"])
    assert panel.view.isExpanded(ledger) and "the incident is here" in _details(ledger)


def test_a_hidden_stale_panel_asks_for_a_refresh_when_shown(qtbot, demo) -> None:  # type: ignore[no-untyped-def]
    panel = OwnershipPanel()
    qtbot.addWidget(panel)
    panel.set_tree(read_ownership(demo, at=T0))
    with qtbot.assertNotEmitted(panel.refresh_requested):
        panel.mark_stale()  # hidden: only marked
    assert panel.stale
    with qtbot.waitSignal(panel.refresh_requested, timeout=2000):
        panel.show()
    panel.set_tree(read_ownership(demo, at=T0))
    assert not panel.stale
    with qtbot.waitSignal(panel.refresh_requested, timeout=2000):
        panel.mark_stale()  # shown: asked for at once


@pytest.fixture
def dark_theme():  # type: ignore[no-untyped-def]
    app = QApplication.instance()
    palette, sheet, style = app.palette(), app.styleSheet(), app.style().name()
    theme.apply_theme(app)
    yield
    app.setStyle(style)
    app.setPalette(palette)
    app.setStyleSheet(sheet)


def test_the_panel_renders_on_the_dark_theme(qtbot, demo, dark_theme) -> None:  # type: ignore[no-untyped-def]
    panel = OwnershipPanel()
    qtbot.addWidget(panel)
    panel.resize(1000, 1100)
    panel.show()
    panel.set_tree(read_ownership(demo, at=T0))
    panel.show_blast_radius(read_blast_radius(demo, incident_id=2))  # the ledger incident
    panel.view.expand(_row(panel.proxy, ["Rosters"]))
    qtbot.waitExposed(panel)
    assert panel.grab().save("/tmp/ownership.png")
