"""The ownership tree as a two-column item model (Name, Details), over the rows of ui/ownership_nodes.py.

A refresh with the same shape updates rows in place (dataChanged), so expansion and selection survive it; only a
changed shape (a service added, a gap appearing) resets. The selected incident's blast radius is marked the same
way: bold, a warm background, ▲ on its own service and △ on those it reaches, never by a reset.
"""
from __future__ import annotations

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QFont

from console.ownership import OwnershipTree
from ui import theme
from ui.ownership_nodes import VALUES, Kind, Node, build_nodes

# Role lookups on the Qt namespace cost ~10 µs each inside data(); cached constants cost ~0.1 µs (DESIGN.md).
DISPLAY = Qt.ItemDataRole.DisplayRole
FONT = Qt.ItemDataRole.FontRole
BACKGROUND = Qt.ItemDataRole.BackgroundRole
FOREGROUND = Qt.ItemDataRole.ForegroundRole
TOOLTIP = Qt.ItemDataRole.ToolTipRole
KEY_ROLE = Qt.ItemDataRole.UserRole  # the row's path of keys: stable across refreshes
URL_ROLE = Qt.ItemDataRole.UserRole + 1  # the runbook of a service, an incident type, or a Runbook row
KIND_ROLE = Qt.ItemDataRole.UserRole + 2
SERVICE_ROLE = Qt.ItemDataRole.UserRole + 3  # the service id of a service row
FILTER_ROLE = Qt.ItemDataRole.UserRole + 4  # the name the panel's filter matches, case-folded
HORIZONTAL = Qt.Orientation.Horizontal
ENABLED = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
NO_PARENT = QModelIndex()
COLUMNS = ("Name", "Details")
NAME, DETAILS = range(len(COLUMNS))

# Theme colours for what theme.py has no name for: the blast radius (warm, under the theme's light text; the
# origin darker) and a runbook link (the palette's link colour).
BLAST_BG = "#3b3214"
ORIGIN_BG = "#5a2c12"
LINK_FG = "#74c0fc"
ORIGIN_MARK, REACHED_MARK = "▲ ", "△ "


class OwnershipModel(QAbstractItemModel):
    def __init__(self, parent=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent)
        self.tree: OwnershipTree | None = None
        self._root = Node(Kind.GROUP, "")
        self._nodes: list[Node] = [self._root]
        self._by_path: dict[tuple[object, ...], Node] = {}
        self._services: dict[int, Node] = {}
        self._radius: frozenset[int] = frozenset()
        self._origin: int | None = None
        self._bold = QFont()
        self._bold.setBold(True)
        self._blast_bg = QBrush(QColor(BLAST_BG))
        self._origin_bg = QBrush(QColor(ORIGIN_BG))
        self._warn_fg = QBrush(QColor(theme.WARN_FG))
        self._muted_fg = QBrush(QColor(theme.MUTED_FG))
        self._link_fg = QBrush(QColor(LINK_FG))

    # --- Qt model interface ------------------------------------------------------------------------

    def index(self, row: int, column: int, parent: QModelIndex | QPersistentModelIndex = NO_PARENT) -> QModelIndex:
        if parent.isValid() and parent.column() != NAME:
            return QModelIndex()  # children hang off the first column only
        node = self._node(parent) if parent.isValid() else self._root
        if node is None or not 0 <= row < len(node.children) or not 0 <= column < len(COLUMNS):
            return QModelIndex()
        return self.createIndex(row, column, node.children[row].uid)

    def parent(self, index: QModelIndex | QPersistentModelIndex = NO_PARENT) -> QModelIndex:  # type: ignore[override]
        node = self._node(index) if index.isValid() else None
        if node is None or node.parent is None or node.parent is self._root:
            return QModelIndex()
        return self.createIndex(node.parent.row, 0, node.parent.uid)

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = NO_PARENT) -> int:
        if not parent.isValid():
            return len(self._root.children)
        if parent.column() != 0:
            return 0
        node = self._node(parent)
        return len(node.children) if node is not None else 0

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = NO_PARENT) -> int:
        return len(COLUMNS)

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        return ENABLED if index.isValid() else Qt.ItemFlag.NoItemFlags

    def headerData(self, section: int, orientation: Qt.Orientation,  # type: ignore[no-untyped-def]
                   role: int = DISPLAY):
        if role == DISPLAY and orientation == HORIZONTAL and 0 <= section < len(COLUMNS):
            return COLUMNS[section]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = DISPLAY):  # type: ignore[no-untyped-def]
        node = self._node(index) if index.isValid() else None
        if node is None:
            return None
        column = index.column()
        reached = node.service_id is not None and node.service_id in self._radius
        if role == DISPLAY:
            if column == NAME:
                if reached:
                    return (ORIGIN_MARK if node.service_id == self._origin else REACHED_MARK) + node.name
                return node.name
            return self._details(node, reached)
        if role == FONT:
            return self._bold if reached or node.kind is Kind.GROUP else None
        if role == BACKGROUND:
            if reached:
                return self._origin_bg if node.service_id == self._origin else self._blast_bg
            return None
        if role == FOREGROUND:
            if node.warn:
                return self._warn_fg
            if column == DETAILS and node.kind is Kind.RUNBOOK and node.url:
                return self._link_fg
            if node.muted or (column == NAME and node.kind is Kind.FIELD):
                return self._muted_fg
            return None
        if role == TOOLTIP:
            return node.tooltip or None
        if role == KEY_ROLE:
            return node.path
        if role == URL_ROLE:
            return node.url or None
        if role == KIND_ROLE:
            return node.kind.value
        if role == SERVICE_ROLE:
            return node.service_id
        if role == FILTER_ROLE:
            return node.name.casefold()
        return None

    def _details(self, node: Node, reached: bool) -> str:
        if reached:
            return node.details + (" · ▲ the incident is here" if node.service_id == self._origin
                                   else " · in the blast radius")
        if node.kind is Kind.GROUP and self._radius and node.children and node.children[0].service_id is not None:
            count = sum(1 for child in node.children if child.service_id in self._radius)
            return node.details + (f" · {count} in the blast radius" if count else "")
        return node.details

    def _node(self, index: QModelIndex | QPersistentModelIndex) -> Node | None:
        uid = index.internalId()
        return self._nodes[uid] if 0 < uid < len(self._nodes) else None

    # --- our interface ------------------------------------------------------------------------------

    def set_tree(self, tree: OwnershipTree) -> bool:
        """Show a fresh tree: in place when its shape is unchanged, else by a reset. Return True if it reset."""
        self.tree = tree
        root = build_nodes(tree)
        fresh = list(root.walk())
        if len(fresh) == len(self._nodes) and all(a.path == b.path for a, b in zip(fresh, self._nodes, strict=True)):
            for old, new in zip(self._nodes, fresh, strict=True):
                if old is not self._root and not old.same_values(new):
                    for attr in VALUES:
                        setattr(old, attr, getattr(new, attr))
                    self.dataChanged.emit(self.createIndex(old.row, NAME, old.uid),
                                          self.createIndex(old.row, DETAILS, old.uid))
            return False
        self.beginResetModel()
        self._root, self._nodes = root, fresh
        self._by_path = {node.path: node for node in fresh}
        self._services = {node.service_id: node for node in fresh if node.kind is Kind.SERVICE and node.service_id}
        self.endResetModel()
        return True

    def highlight(self, service_ids: set[int] | frozenset[int], origin_id: int | None) -> None:
        """Mark the services of a blast radius (empty: none), the incident's own service with ▲."""
        new = frozenset(service_ids) | ({origin_id} if origin_id is not None else frozenset())
        changed = (self._radius ^ new) | ({self._origin, origin_id} - {None} if origin_id != self._origin else set())
        self._radius, self._origin = new, origin_id
        groups = set()
        for service_id in changed:
            node = self._services.get(service_id)  # type: ignore[arg-type]
            if node is not None:
                self.dataChanged.emit(self.createIndex(node.row, NAME, node.uid),
                                      self.createIndex(node.row, DETAILS, node.uid))
                groups.add(node.parent)
        for group in groups:
            if group is not None and group is not self._root:
                self.dataChanged.emit(self.createIndex(group.row, DETAILS, group.uid),
                                      self.createIndex(group.row, DETAILS, group.uid))

    @property
    def radius(self) -> frozenset[int]:
        return self._radius

    def index_of_service(self, service_id: int) -> QModelIndex:
        """Return the row of a service (column 0), or an invalid index if it is not in the tree."""
        node = self._services.get(service_id)
        return self.createIndex(node.row, NAME, node.uid) if node is not None else QModelIndex()

    def index_of_path(self, path: tuple[object, ...]) -> QModelIndex:
        """Return the row with this path of keys (see KEY_ROLE), or an invalid index."""
        node = self._by_path.get(path)
        return self.createIndex(node.row, NAME, node.uid) if node is not None and node.parent else QModelIndex()
