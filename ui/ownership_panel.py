"""Who owns what: the ownership tree with a filter, the selected incident's blast radius expanded and marked, and
runbooks opened from it. The main window feeds it (`set_tree`, `show_blast_radius`); a hidden panel only marks
itself stale and asks for a refresh (`refresh_requested`) when it is shown again.
"""
from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QShowEvent
from PySide6.QtWidgets import QHBoxLayout, QHeaderView, QLabel, QLineEdit, QPushButton, QTreeView, QVBoxLayout, QWidget

from console.dto import incident_ref
from console.ownership import BlastRadius, OwnershipTree
from ui.ownership_model import FILTER_ROLE, KEY_ROLE, KIND_ROLE, URL_ROLE, OwnershipModel
from ui.ownership_nodes import Kind
from ui.timefmt import local_time

SAFE_SCHEMES = ("http", "https")  # a runbook link is never a file, a script or a custom handler
NAME_WIDTH = 240


def safe_url(text: str | None) -> QUrl | None:
    """Return the link as a URL if it is a plain web address, else None."""
    if not text:
        return None
    url = QUrl(text.strip(), QUrl.ParsingMode.StrictMode)
    return url if url.isValid() and url.scheme().lower() in SAFE_SCHEMES and url.host() else None


class _ServiceFilter(QSortFilterProxyModel):
    """Keeps every top-level node (tiers, rosters, types, gaps); filters the rows under them by name."""

    def __init__(self, parent=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent)
        self.text = ""

    def set_text(self, text: str) -> None:
        self.beginFilterChange()
        self.text = text.strip().casefold()
        self.endFilterChange()

    def filterAcceptsRow(self, row: int, parent: QModelIndex | QPersistentModelIndex) -> bool:
        if not self.text or not parent.isValid() or parent.parent().isValid():
            return True  # a top-level node, or a row inside a service that is shown
        return self.text in (self.sourceModel().index(row, 0, parent).data(FILTER_ROLE) or "")


class OwnershipPanel(QWidget):
    refresh_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.stale = False
        self.radius: BlastRadius | None = None
        self.model = OwnershipModel(self)
        self.proxy = _ServiceFilter(self)
        self.proxy.setSourceModel(self.model)
        self.header = QLabel("Ownership: loading…", objectName="PanelHeader", wordWrap=True)
        self.radius_line = QLabel(objectName="FieldName", wordWrap=True)
        self.filter = QLineEdit(objectName="OwnershipFilter", placeholderText="Filter by name…",
                                clearButtonEnabled=True)
        self.open_runbook = QPushButton("Open runbook", objectName="OpenRunbook", enabled=False)
        self.view = QTreeView(objectName="OwnershipView")
        self.view.setModel(self.proxy)
        self.view.setUniformRowHeights(True)
        self.view.setAlternatingRowColors(True)
        # A little air between rows: read from across a war room, the default rows run together.
        self.view.setStyleSheet("QTreeView::item { padding: 2px 0px; }")
        self.view.setExpandsOnDoubleClick(True)
        header = self.view.header()
        header.setStretchLastSection(True)
        header.resizeSection(0, NAME_WIDTH)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        # Expansion is remembered by each row's key path, so it survives a rebuild and a filter that hid the row.
        self._expanded: set[tuple[object, ...]] = set()
        self._auto_expanded: set[tuple[object, ...]] = set()  # opened for a blast radius, closed when it moves
        self._restoring = False
        self.view.expanded.connect(self._on_view_expanded)
        self.view.collapsed.connect(self._on_view_collapsed)
        # Not `activated`: on a single-click desktop that fires on one click, and a runbook opens on purpose only.
        self.view.doubleClicked.connect(self._on_view_double_clicked)
        self.view.selectionModel().currentChanged.connect(self._on_view_current_changed)
        self.filter.textChanged.connect(self._on_filter_text_changed)
        self.open_runbook.clicked.connect(self._on_open_runbook_clicked)

        tools = QHBoxLayout()
        tools.addWidget(self.filter, 1)
        tools.addWidget(self.open_runbook)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.header)
        layout.addWidget(self.radius_line)
        layout.addLayout(tools)
        layout.addWidget(self.view, 1)
        self._show_radius_line()

    # --- what the main window calls -----------------------------------------------------------------

    def set_tree(self, tree: OwnershipTree) -> None:
        """Show a fresh tree, keeping which rows are expanded, the selected row and the scroll position."""
        first = self.model.tree is None
        current = self.view.currentIndex().data(KEY_ROLE)
        scroll = self.view.verticalScrollBar().value()
        self.stale = False
        if self.model.set_tree(tree):
            if first:
                self._expanded |= {(g.tier.value,) for g in tree.tiers} | {("gaps",)}
            self._restore_expansion()
            if current is not None and (found := self._proxy_index(current)).isValid():
                self.view.setCurrentIndex(found)
            self.view.verticalScrollBar().setValue(scroll)
            if first and self.radius is not None:  # a radius shown before the first tree came
                self.show_blast_radius(self.radius)
        self._show_header(tree)

    def show_blast_radius(self, radius: BlastRadius | None) -> None:
        """Mark an incident's blast radius and open its services (None: clear the marks)."""
        self.radius = radius
        ids = radius.service_ids if radius is not None else frozenset()
        self.model.highlight(ids, radius.origin_id if radius is not None else None)
        services = {self.model.index_of_service(s).data(KEY_ROLE) for s in ids} - {None}
        wanted = services | {path[:1] for path in services}  # each service, and its tier if someone closed it
        for path in self._auto_expanded - wanted:
            self._expanded.discard(path)
            if (index := self._proxy_index(path)).isValid():
                self.view.collapse(index)
        self._auto_expanded = {p for p in self._auto_expanded if p in wanted}
        for path in sorted(wanted - self._expanded, key=str):
            self._auto_expanded.add(path)
            self._expanded.add(path)
        self._restore_expansion()
        origin = self.proxy.mapFromSource(self.model.index_of_service(radius.origin_id)) if radius else QModelIndex()
        if origin.isValid():  # its tier's title on top, the origin just under it
            self.view.scrollTo(origin.parent() if origin.parent().isValid() else origin,
                               QTreeView.ScrollHint.PositionAtTop)
        self._show_radius_line()

    def mark_stale(self) -> None:
        """Note that the tree is out of date: ask for a refresh now if shown, else when shown again."""
        self.stale = True
        if self.isVisible():
            self.refresh_requested.emit()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self.stale:
            self.refresh_requested.emit()

    # --- inside -------------------------------------------------------------------------------------

    def _proxy_index(self, path: tuple[object, ...]) -> QModelIndex:
        return self.proxy.mapFromSource(self.model.index_of_path(path))

    def _restore_expansion(self) -> None:
        self._restoring = True
        try:
            for path in sorted(self._expanded, key=len):  # parents before children
                if (index := self._proxy_index(path)).isValid():
                    self.view.expand(index)
        finally:
            self._restoring = False

    def _show_header(self, tree: OwnershipTree) -> None:
        services = sum(len(g.services) for g in tree.tiers)
        text = f"Ownership · {services} services · as of {local_time(tree.at)}"
        if tree.gaps:
            text += f" · ⚠ {len(tree.gaps)} coverage gap{'s' if len(tree.gaps) != 1 else ''} in the next 7 days"
        duties = [r.now for g in tree.tiers for s in g.services for r in s.rotations] + [r.now for r in tree.rosters]
        tired = {d.person for d in duties if d is not None and d.over_limit}
        if tired:
            text += f" · ⚠ over the page limit: {', '.join(sorted(tired))}"
        self.header.setText(text)

    def _show_radius_line(self, notice: str = "") -> None:
        radius = self.radius
        if notice:
            text = notice
        elif radius is None:
            text = "Select an incident to mark its blast radius."
        else:
            reached = len(radius.service_ids) - 1
            text = (f"Blast radius of {incident_ref(radius.incident_id)}: ▲ {radius.origin} and △ {reached} "
                    f"service{'s' if reached != 1 else ''} it reaches")
        self.radius_line.setText(text)

    def _runbook_of(self, index: QModelIndex) -> str | None:
        while index.isValid():
            if url := index.data(URL_ROLE):
                return url
            index = index.parent()
        return None

    def _open(self, link: str) -> None:
        url = safe_url(link)
        if url is None:
            self._show_radius_line(f"⚠ Not opened: the runbook link {link!r} is not a web (http or https) address.")
            return
        QDesktopServices.openUrl(url)

    def _on_view_double_clicked(self, index: QModelIndex) -> None:
        if index.data(KIND_ROLE) == Kind.RUNBOOK.value and (link := index.data(URL_ROLE)):
            self._open(link)

    def _on_open_runbook_clicked(self) -> None:
        if link := self._runbook_of(self.view.currentIndex()):
            self._open(link)

    def _on_view_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self.open_runbook.setEnabled(safe_url(self._runbook_of(current)) is not None)

    def _on_view_expanded(self, index: QModelIndex) -> None:
        if not self._restoring:
            self._expanded.add(index.data(KEY_ROLE))

    def _on_view_collapsed(self, index: QModelIndex) -> None:
        if not self._restoring:
            path = index.data(KEY_ROLE)
            self._expanded.discard(path)
            self._auto_expanded.discard(path)

    def _on_filter_text_changed(self, text: str) -> None:
        self.proxy.set_text(text)
        self._restore_expansion()  # rows the filter hid come back as they were
