"""Keeps the demo alive: every few seconds one demo step (a simulated colleague acting) on the writer thread."""
from __future__ import annotations

import random
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal

from console import commands
from console.changes import Changes
from console.uow import UnitOfWork
from ui.tasks import TaskRunner


class DemoDriver(QObject):
    stepped = Signal(object)  # Changes

    def __init__(self, *, runner: TaskRunner, uow: UnitOfWork, operator_id: Callable[[], int | None],
                 min_ms: int = 2000, max_ms: int = 5000, seed: int | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self._runner = runner
        self._uow = uow
        self._operator_id = operator_id
        self._rng = random.Random(seed)
        self._range = (min_ms, max_ms)
        self._busy = False
        self._timer = QTimer(self, singleShot=True)
        self._timer.timeout.connect(self._on_timer_timeout)

    def start(self) -> None:
        self._schedule()

    def stop(self) -> None:
        self._timer.stop()

    def _schedule(self) -> None:
        self._timer.start(self._rng.randint(*self._range))

    def _on_timer_timeout(self) -> None:
        if self._busy:
            return
        self._busy = True
        operator = self._operator_id()
        self._runner.write(lambda: commands.demo_step(self._uow, rng=self._rng, operator_id=operator),
                           on_done=self._on_step_done, on_error=self._on_step_failed)

    def _on_step_done(self, changes: Changes) -> None:
        self._busy = False
        if changes.entities:
            self.stepped.emit(changes)
        self._schedule()

    def _on_step_failed(self, _error: BaseException) -> None:
        # A failed demo step (database busy, a race with the operator) is not the operator's problem; try later.
        self._busy = False
        self._schedule()
