"""The layer rules of DESIGN.md, checked by reading every import: ui → console → models, no cycles, no Qt below ui."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("models", "console", "ui")
QT = ("PySide6", "shiboken6", "pyqtgraph")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth of the file (function-level imports count too)."""
    found: set[str] = set()
    package = _module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else _module_name(path)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _files(layer: str) -> list[Path]:
    return sorted(p for p in (ROOT / layer).rglob("*.py"))


ALL = {_module_name(p): _imports(p) for layer in LAYERS for p in _files(layer)}
ALL["main"] = _imports(ROOT / "main.py")


def _offenders(layer: str, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{module} imports {imported}"
        for module, imports in ALL.items() if module.split(".")[0] == layer
        for imported in imports if imported.split(".")[0] in forbidden
    )


def test_models_import_neither_console_ui_nor_qt() -> None:
    assert _offenders("models", ("console", "ui", *QT)) == []


def test_console_imports_neither_ui_nor_qt() -> None:
    assert _offenders("console", ("ui", *QT)) == []


def test_ui_never_touches_models_or_sqlalchemy() -> None:
    # ui/ gets frozen DTOs from console/: no ORM object, and no Session, ever reaches the GUI thread.
    assert _offenders("ui", ("models", "sqlalchemy")) == []


def test_nothing_inside_console_imports_the_commands() -> None:
    offenders = sorted(
        f"{module} imports {imported}"
        for module, imports in ALL.items()
        if module.startswith("console.") and not module.startswith("console.commands")
        for imported in imports if imported.startswith("console.commands")
    )
    assert offenders == []


def test_there_are_no_import_cycles() -> None:
    ours = set(ALL)
    graph = {m: {i for i in imports if i in ours and i != m} for m, imports in ALL.items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    # A package importing its own submodules (console.commands → console.commands.x → console.commands._common)
    # is not a cycle unless a submodule imports the package back.
    assert cycles == []


@pytest.mark.parametrize("layer", ["console", "models"])
def test_no_wall_clock_below_the_ui(layer: str) -> None:
    hits = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in _files(layer) if path.name != "clock.py"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "datetime.now(" in line or "datetime.utcnow(" in line or "time.time(" in line
    ]
    assert hits == []


def test_console_runs_with_pyside6_absent() -> None:
    """Import every console and models module in a fresh interpreter where importing Qt fails."""
    modules = sorted(m for m in ALL if m.split(".")[0] in ("console", "models") and "migrations" not in m)
    script = f"""
import sys
class BlockQt:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {QT!r}:
            raise ImportError('Qt is not available here: ' + name)
sys.meta_path.insert(0, BlockQt())
import importlib
for name in {modules!r}:
    importlib.import_module(name)
print('imported', len({modules!r}))
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "imported" in result.stdout
