"""Route the rows any client writes straight into the signals table (a script, psql, another tool): a console or
an ingest server takes them within about a second, oldest first, each exactly once, by the same router as the
ingest server's signals (commands/routing.py). A row that cannot be routed is set aside with the reason."""
from __future__ import annotations

import json
import logging
import math
from datetime import datetime, timedelta

from sqlalchemy import Select, select, update
from sqlalchemy.exc import InterfaceError, OperationalError

from console import decisions
from console.changes import Changes
from console.commands.routing import _Observation, _Router, _rules_follow
from console.errors import Conflict, DatabaseUnavailable
from console.ingest.events import EventAction
from console.routing.rules import RuleEngine
from console.uow import Transaction, UnitOfWork
from models.audit import Meta
from models.enums import DecisionKind, SignalKind, TimelineKind
from models.incident import Incident, Signal
from models.org import Service

log = logging.getLogger(__name__)

PENDING_BATCH = 500
SAMPLE_LEASE_KEY = "sample-router"  # console_meta: which router's rule engine judges the samples in the table
SAMPLE_LEASE = timedelta(seconds=30)


def route_pending_signals(uow: UnitOfWork, *, engine: RuleEngine | None = None, limit: int = PENDING_BATCH) -> Changes:
    """Route rows written straight into the signals table (no `routed_at` yet), oldest first, in one transaction.

    A row that cannot be routed (a value no rule can take, a key too long for the database) must not hold up
    every row behind it: the batch is then routed again row by row, each in a savepoint, and such a row is set
    aside with the reason.
    """
    try:
        with _rules_follow(engine):
            return _route_pending(uow, engine=engine, limit=limit, careful=False)
    except (DatabaseUnavailable, Conflict):
        raise  # the database's fault, not a row's: the next poll tries again
    except Exception:  # noqa: BLE001 - some row failed: find it, and route the others
        log.warning("a pending signal could not be routed; routing the batch row by row", exc_info=True)
        with _rules_follow(engine):
            return _route_pending(uow, engine=engine, limit=limit, careful=True)


def _route_pending(uow: UnitOfWork, *, engine: RuleEngine | None, limit: int, careful: bool) -> Changes:
    with uow.transaction(actor_id=None) as tx:
        query = select(Signal).where(Signal.routed_at.is_(None)).order_by(Signal.id).limit(limit)
        if engine is not None and not _leads_samples(tx, engine):
            # Another router's engine judges the samples: a rule sees a whole series or nothing of it.
            query = query.where(Signal.kind.not_in((SignalKind.METRIC, SignalKind.SENTIMENT)))
        if tx.session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)  # another console routing at once takes the others
        router = _RowRouter(tx, engine)
        try:
            rows = list(tx.session.execute(query).scalars())
        except (LookupError, ValueError):  # a row no one can read (a kind or a time misspelt) must not block the rest
            rows = router.readable_rows(query)
        unrouted = [r for r in rows if r.incident_id is None]
        router.lock_fingerprints(unrouted)
        router.prefetch(unrouted)
        for row in rows:
            if careful:
                router.route_row_in_savepoint(row)
            else:
                router.route_row(row)
    return tx.changes()


def _leads_samples(tx: Transaction, engine: RuleEngine) -> bool:
    """Take or renew the lease on judging metric and sentiment rows; say whether this router holds it.

    Every console and ingest server routes rows from the table, each with a rule engine of its own; if they
    shared out the samples, each engine would see part of every series (half the tickets of a surge) and no
    rule would fire. The lease lapses SAMPLE_LEASE after its holder stops, and another router takes over.
    """
    lease = tx.session.get(Meta, SAMPLE_LEASE_KEY, with_for_update=True)
    holder, _, until = (lease.value if lease else "").partition(" ")
    if lease is not None and holder != engine.instance_id and until and datetime.fromisoformat(until) > tx.now:
        return False
    value = f"{engine.instance_id} {(tx.now + SAMPLE_LEASE).isoformat()}"
    if lease is None:
        tx.session.add(Meta(key=SAMPLE_LEASE_KEY, value=value))
    else:
        lease.value = value
    return True


def has_pending_signals(uow: UnitOfWork) -> bool:
    """Say whether any signal row waits for routing (a cheap indexed look, for a poll)."""
    with uow.db.reader() as session:
        return session.execute(select(Signal.id).where(Signal.routed_at.is_(None)).limit(1)).first() is not None


class _RowRouter(_Router):
    """The router, taking rows from the table rather than events from a request."""

    def readable_rows(self, query: Select[tuple[Signal]]) -> list[Signal]:
        """Load the pending rows one by one, setting aside with the reason each one that cannot be read."""
        rows = []
        for row_id in self.tx.session.execute(query.with_only_columns(Signal.id)).scalars():
            try:
                rows.append(self.tx.session.get_one(Signal, row_id))
            except (LookupError, ValueError) as error:
                self._set_aside(row_id=row_id, why=f"cannot be read ({error})")
        return rows

    def route_row_in_savepoint(self, row: Signal) -> None:
        """Route one row; if that fails, undo just its part and set the row aside with the reason."""
        state, caches = self.tx.checkpoint(), self._caches()
        mark = self.engine.mark() if self.engine is not None else 0
        try:
            with self.tx.session.begin_nested():
                self.route_row(row)
        except (DatabaseUnavailable, OperationalError, InterfaceError):
            raise
        except Exception as error:  # noqa: BLE001 - this row's fault: it is set aside, the rest go on
            self.tx.restore(state)
            self._by_fingerprint, self._parents, self._grouped = caches
            if self.engine is not None:
                self.engine.rollback(to=mark)
            reason = str(error).strip().splitlines()[0][:300] if str(error).strip() else type(error).__name__
            self._set_aside(row_id=row.id, why=f"could not be routed ({reason})")

    def _caches(self) -> tuple[dict[str, Incident | None], dict[int, Incident | None], dict[int, set[int]]]:
        return dict(self._by_fingerprint), dict(self._parents), {k: set(v) for k, v in self._grouped.items()}

    def _set_aside(self, *, row_id: int, why: str) -> None:
        self.tx.session.execute(update(Signal).where(Signal.id == row_id).values(routed_at=self.tx.now)
                                .execution_options(synchronize_session=False))
        decisions.record(self.tx, incident_id=None, signal_id=row_id, kind=DecisionKind.ROUTING,
                         rule_id="unroutable", summary=f"signal #{row_id} {why}: not routed")
        log.warning("signal #%d %s: set aside, not routed", row_id, why)

    def route_row(self, row: Signal) -> None:
        """Route one pending row; a row that cannot be routed is set aside with the reason, never retried forever."""
        tx = self.tx
        if row.incident_id is not None:  # written against an incident by hand: it stays there
            incident = tx.session.get(Incident, row.incident_id)
            row.routed_at = tx.now
            if incident is not None:
                tx.timeline(incident, kind=TimelineKind.SIGNAL, text=f"{row.kind} from {row.source}: {row.summary}")
                tx.touch_incident(incident)
            return
        service = tx.session.get(Service, row.service_id) if row.service_id is not None else None
        try:
            attributes = {str(k): str(v) for k, v in json.loads(row.attributes or "{}").items()}
        except (ValueError, AttributeError):
            attributes = None
        why = _unroutable(row, service=service, attributes=attributes, engine=self.engine)
        if why:
            self._set_aside(row_id=row.id, why=f"from {row.source} {why}")
            return
        self.route(_Observation(
            source=row.source, action=EventAction.TRIGGER, dedup_key=row.dedup_key, service=service, kind=row.kind,
            summary=row.summary, severity_hint=row.severity_hint, value=row.value, observed_at=row.observed_at,
            metric=attributes.get("metric"), attributes=attributes, row_id=row.id,
        ))
        row.routed_at = tx.now  # metric samples stay unattached; the rest were attached by route()


def _unroutable(row: Signal, *, service: Service | None, attributes: dict[str, str] | None,
                engine: RuleEngine | None) -> str:
    """Say why a row written into the table cannot be routed ("" when it can)."""
    if service is None:
        return "names no service"
    if attributes is None:
        return f"has attributes that are not a JSON object of strings: {row.attributes[:80]!r}"
    if row.kind in (SignalKind.METRIC, SignalKind.SENTIMENT):
        if row.kind is SignalKind.METRIC and row.value is None:
            return "is a metric sample without a value"
        if row.value is not None and not math.isfinite(row.value):
            return f"has the value {row.value}, which no rule can judge"
        if engine is None:
            return "is a sample for the rule engine, and this router runs without one"
    return ""
