"""The ingest server's sink: route each request's events by the impact policy loaded in the database, and take
turns with the escalation tick and with rows written straight into the signals table. Used by `main.py
ingest-server` and bench/routing.py; it sits with the commands because it runs them (console/ must not)."""
from __future__ import annotations

from console.queries import Reader
from console.uow import UnitOfWork


class RoutingSink:
    """Route each request's events by the impact policy loaded in the database; requests that queue up while
    one is being routed are routed together in one transaction (console/ingest/batching.py)."""

    def __init__(self, *, uow: UnitOfWork, reader: Reader) -> None:
        from console.ingest.batching import BatchingSink
        from console.policy_follow import FollowedEngine

        self._uow = uow
        self.rules = FollowedEngine(reader=reader)
        self._batches = BatchingSink(store=self._route)  # also keeps the rule engine's windows to one thread

    def __call__(self, events):  # type: ignore[no-untyped-def]
        return self._batches(events)

    def _route(self, events) -> None:  # type: ignore[no-untyped-def]
        from console.commands.routing import route_signals

        route_signals(self._uow, events=events, engine=self.rules.engine())

    def tick(self) -> None:
        """Page the escalation tiers that are due, taking turns with routing (SQLite has one writer at a time, and
        under a flood of alerts the tick would otherwise wait behind every request until it timed out)."""
        from console import commands

        self._batches.run_exclusively(lambda: commands.escalation_tick(self._uow))
        self._batches.run_exclusively(lambda: commands.mitigation_tick(self._uow))  # reminders, expiries

    def route_pending(self) -> None:
        """Route rows other clients wrote straight into the signals table."""
        from console.commands.signal_rows import has_pending_signals, route_pending_signals

        while has_pending_signals(self._uow):
            changes = []
            self._batches.run_exclusively(lambda: changes.append(
                route_pending_signals(self._uow, engine=self.rules.engine())))
            if not changes[0].entities:
                return  # the rest are locked by another router
