"""PySide6-Essentials 6.12.0 on CPython 3.11 aborts ("bool_dealloc") after a few thousand Signal.emit calls:
the pin to 6.11.3 must hold, and emitting many signals must not leak or drop references to True."""
from __future__ import annotations

import sys

import PySide6
from PySide6.QtCore import QObject, Signal


class Emitter(QObject):
    toggled = Signal(bool)


def test_pyside6_is_the_pinned_version() -> None:
    assert PySide6.__version__ == "6.11.3"


def test_ten_thousand_emits_leave_the_refcount_of_true_unchanged(qtbot) -> None:  # type: ignore[no-untyped-def]
    emitter = Emitter()
    received: list[bool] = []
    emitter.toggled.connect(received.append)
    emitter.toggled.emit(True)  # warm up caches before measuring
    received.clear()
    before = sys.getrefcount(True)
    for _ in range(10_000):
        emitter.toggled.emit(True)
    received.clear()
    after = sys.getrefcount(True)  # read outside the assert: pytest's rewritten assert holds a reference itself
    assert after == before
