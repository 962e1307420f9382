"""Read-side: turn database state into frozen DTOs for the GUI. `Reader` is the handle the UI holds (no Session)."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from sqlalchemy import Connection, Select, String, and_, bindparam, cast, func, literal, null, or_, select, true
from sqlalchemy.orm import Session, aliased, selectinload

from console.clock import Clock
from console.comms.drafts import draft_for
from console.comms.dto import CommsView, Draft, MessageItem, TemplateInfo
from console.comms.templates import current_templates, template_history
from console.comms.views import comms_view, failures, sandbox_outbox
from console.db import Database, reachable
from console.dto import (
    ConsoleInfo,
    FeedBatch,
    IncidentDetail,
    IncidentRow,
    PersonRef,
    QueueSnapshot,
    ServiceRef,
)
from console.errors import NotFound
from console.incident_detail import build_detail, person_ref
from console.ownership import BlastRadius, OwnershipTree, read_blast_radius, read_ownership
from console.policy_store import stored_digest, stored_policy
from console.routing.definitions import Policy
from console.sync.watch import PgNotifyWatcher, SqliteDataVersionWatcher, Watcher
from models.audit import ChangeLogEntry, Meta
from models.comms import Delivery, Message
from models.enums import ChangeEntity, DeliveryState, IncidentStatus
from models.incident import Incident
from models.org import Person, Service, Team

DEMO_KEY = "demo"
FEED_BATCH_LIMIT = 100_000

_Owner = aliased(Person)
_AUDIENCES = ("internal", "customers", "executives")


def _last_update(audience: str):  # type: ignore[no-untyped-def]
    """When the audience last got an update that counts: read from ix_messages_cadence alone."""
    return (select(func.max(Message.created_at))
            .where(Message.incident_id == Incident.id, Message.audience == audience, Message.counts.is_(True))
            .correlate(Incident).scalar_subquery())


def _failed_updates():  # type: ignore[no-untyped-def]
    return (select(func.count(Delivery.id))
            .where(Delivery.incident_id == Incident.id, Delivery.state == DeliveryState.FAILED,
                   Delivery.dismissed_at.is_(None))
            .correlate(Incident).scalar_subquery())


def _row_query() -> Select:  # type: ignore[type-arg]
    return (
        select(
            Incident.id,
            Incident.title,
            Incident.severity,
            Incident.status,
            Service.name,
            _Owner.name,
            Incident.opened_at,
            Incident.ack_deadline,
            Incident.version,
            *(_last_update(a) for a in _AUDIENCES),
            _failed_updates(),
        )
        .join(Service, Service.id == Incident.service_id)
        .outerjoin(_Owner, _Owner.id == Incident.owner_id)
    )


def _row(r) -> IncidentRow:  # type: ignore[no-untyped-def]
    return IncidentRow(
        id=r[0], title=r[1], severity=r[2], status=r[3], service=r[4], owner=r[5] or "",
        opened_at=r[6], ack_deadline=r[7], version=r[8],
        last_updates=tuple((a, at) for a, at in zip(_AUDIENCES, r[9:12]) if at is not None),
        failed_updates=r[12] or 0,
    )


_ROW_WIDTH = 13


def _rows(session: Session, query: Select) -> list[IncidentRow]:  # type: ignore[type-arg]
    return [_row(r) for r in session.execute(query)]


def feed_cursor(session: Session) -> int:
    """Return the newest change-log sequence number (0 when empty)."""
    return session.execute(select(func.max(ChangeLogEntry.seq))).scalar() or 0


# How far below the cursor a fresh console looks for numbers a still-open transaction may yet commit.
STARTUP_GAP_WINDOW = 50_000


def open_queue(session: Session) -> QueueSnapshot:
    """Return every open incident, the cursor later changes are read from, and recent gaps below it."""
    # Cursor first: a change landing between the two reads is then read again later, never missed.
    cursor = feed_cursor(session)
    rows = _rows(session, _row_query().where(Incident.status != IncidentStatus.RESOLVED))
    low = max(0, cursor - STARTUP_GAP_WINDOW)
    present = set(session.execute(select(ChangeLogEntry.seq).where(ChangeLogEntry.seq > low)).scalars())
    missing = frozenset(set(range(low + 1, cursor + 1)) - present) if len(present) != cursor - low else frozenset()
    next_xid = None
    if session.get_bind().dialect.name == "postgresql":
        next_xid = int(session.execute(select(cast(func.pg_snapshot_xmax(func.pg_current_snapshot()), String))).scalar())
    return QueueSnapshot(cursor=cursor, rows=tuple(rows), missing=missing, next_xid=next_xid)


def incident_rows(session: Session, *, ids: Iterable[int]) -> list[IncidentRow]:
    """Return queue rows for the given incidents, resolved ones included (so views can drop them)."""
    id_list = list(ids)
    if not id_list:
        return []
    return _rows(session, _row_query().where(Incident.id.in_(id_list)))


def _feed_query(*, recheck: bool, postgresql: bool) -> Select:  # type: ignore[type-arg]
    """One statement: the next batch of change-log entries, reduced in the database to one row per changed
    entity (with its incident row, as it is now) plus the batch's extent.

    The batch figures are uncorrelated scalar subqueries, which the database computes once whatever its
    statistics say (right after a burst they are stale, and a join to an aggregate was recomputed per row).
    The list of sequence numbers is built only when the range has holes or old holes are being rechecked.
    """
    past_cursor = ChangeLogEntry.seq > bindparam("cursor")
    where = or_(past_cursor, ChangeLogEntry.seq.in_(bindparam("recheck", expanding=True))) if recheck else past_cursor
    changed = (
        select(ChangeLogEntry.seq, ChangeLogEntry.entity, ChangeLogEntry.entity_id)
        .where(where).order_by(ChangeLogEntry.seq).limit(bindparam("limit")).cte("changed")
    )
    top = select(func.max(changed.c.seq)).scalar_subquery()
    read = select(func.count()).select_from(changed).scalar_subquery()
    fresh = select(func.count()).select_from(changed).where(changed.c.seq > bindparam("cursor")).scalar_subquery()
    holes = or_(fresh != top - bindparam("cursor"), true()) if recheck else fresh != top - bindparam("cursor")
    seqs = select(func.aggregate_strings(cast(changed.c.seq, String), ",")).where(holes).scalar_subquery()
    pairs = select(changed.c.entity, changed.c.entity_id).distinct().subquery("pairs")
    if postgresql:
        snapshot = func.pg_current_snapshot()
        horizon = cast(func.pg_snapshot_xmin(snapshot), String)
        next_xid = cast(func.pg_snapshot_xmax(snapshot), String)
    else:
        horizon = next_xid = null()
    return (
        select(pairs.c.entity, pairs.c.entity_id, *_row_query().selected_columns,
               top.label("top"), read.label("read"), seqs.label("seqs"), horizon.label("horizon"),
               next_xid.label("next_xid"))
        # Always one row at least, so an empty read still brings the horizon that lets old gaps go.
        .select_from(select(literal(1).label("one")).subquery("always"))
        .outerjoin(pairs, true())
        .outerjoin(Incident, and_(pairs.c.entity == ChangeEntity.INCIDENT.value, Incident.id == pairs.c.entity_id))
        .outerjoin(Service, Service.id == Incident.service_id)
        .outerjoin(_Owner, _Owner.id == Incident.owner_id)
    )


# Built once: every console runs this on every commit anyone makes, and building a statement afresh costs
# SQLAlchemy more than the database spends answering it.
_FEED = {(recheck, pg): _feed_query(recheck=recheck, postgresql=pg) for recheck in (False, True) for pg in (False, True)}


def changes_since(
    conn: Connection, *, cursor: int, recheck: frozenset[int] = frozenset(), limit: int = FEED_BATCH_LIMIT
) -> FeedBatch:
    """Return what changed after `cursor` (and any rows now present in `recheck`), with fresh incident rows.

    One statement, so one snapshot: the rows always match the change-log entries read with them, with no
    transaction around it and one round trip per read. After an hour away that is a few hundred thousand
    entries; the database reduces them to one row per changed incident before Python sees them.
    """
    statement = _FEED[(bool(recheck), conn.dialect.name == "postgresql")]
    params: dict[str, object] = {"cursor": cursor, "limit": limit}
    if recheck:
        params["recheck"] = sorted(recheck)
    result = conn.execute(statement, params).all()
    top, read, seqs, horizon, next_xid = result[0][-5:]
    snapshot = {"horizon": int(horizon) if horizon else None, "next_xid": int(next_xid) if next_xid else None}
    found = [r for r in result if r[0] is not None]
    if not found:
        return FeedBatch(cursor=cursor, rows=(), incident_ids=frozenset(), other_entities=frozenset(), **snapshot)
    top = max(cursor, top)
    missing: frozenset[int] = frozenset()
    rechecked: frozenset[int] = frozenset()
    if seqs:  # the range has holes, or old holes were asked about: look closer
        present = {int(n) for n in seqs.split(",")}
        missing = frozenset(set(range(cursor + 1, top + 1)) - present)
        rechecked = frozenset(present & recheck)
    incident_ids = frozenset(r[1] for r in found if r[0] == ChangeEntity.INCIDENT)
    others = frozenset(r[0] for r in found if r[0] != ChangeEntity.INCIDENT)
    rows = tuple(
        _row(r) for r in (row[2:2 + _ROW_WIDTH] for row in found) if r[0] is not None  # deleted since: no row
    )
    return FeedBatch(cursor=top, rows=rows, incident_ids=incident_ids, other_entities=others,
                     more=read == limit, missing=missing, rechecked=rechecked, **snapshot)


def incident_detail(session: Session, *, incident_id: int, at: datetime) -> IncidentDetail:
    """Return everything the detail panel shows about one incident, on-call as of `at`."""
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise NotFound(f"incident INC-{incident_id} does not exist")
    return build_detail(session, incident=incident, row=incident_rows(session, ids=[incident_id])[0], at=at)


def roster(session: Session) -> tuple[PersonRef, ...]:
    """Return every active person, by name."""
    people = session.execute(
        select(Person).where(Person.active.is_(True)).options(selectinload(Person.roles)).order_by(Person.name)
    ).scalars()
    return tuple(person_ref(p) for p in people)  # type: ignore[misc]


def services(session: Session) -> tuple[ServiceRef, ...]:
    """Return every service with its tier and owning team, by name."""
    result = session.execute(select(Service.id, Service.name, Service.tier, Team.name).join(Team).order_by(Service.name))
    return tuple(ServiceRef(r[0], r[1], r[2].value, r[3]) for r in result)


def has_organisation(session: Session) -> bool:
    """Say whether anyone is in the roster yet."""
    return session.execute(select(Person.id).limit(1)).first() is not None


def find_person(session: Session, *, handle: str) -> PersonRef | None:
    """Return the active person with this handle, if any."""
    person = session.execute(select(Person).where(Person.handle == handle, Person.active.is_(True))).scalar()
    return person_ref(person)


def is_demo(session: Session) -> bool:
    """Say whether this database holds the demo organisation."""
    return session.get(Meta, DEMO_KEY) is not None


class Reader:
    """Runs queries in short read transactions; safe to call from any worker thread."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self.clock = clock

    def info(self) -> ConsoleInfo:
        """Return what the window shows about the database and the organisation."""
        with reachable(self._db), self._db.reader() as session:
            return ConsoleInfo(
                database=self._db.display_url,
                backend=self._db.backend,
                is_demo=is_demo(session),
                roster=roster(session),
                services=services(session),
            )

    def current_policy(self, *, known_digest: str | None = None) -> Policy | None:
        """Return the loaded impact policy, or None when its digest is still `known_digest` (nothing to re-read)."""
        with reachable(self._db), self._db.reader() as session:
            if known_digest is not None and stored_digest(session) == known_digest:
                return None
            return stored_policy(session)

    def ownership(self) -> OwnershipTree:
        """Return the ownership tree (services, teams, on call now and next, gaps, fatigue) as of now."""
        return read_ownership(self._db, at=self.clock.now())

    def blast_radius(self, *, incident_id: int) -> BlastRadius:
        """Return the services an incident reaches."""
        return read_blast_radius(self._db, incident_id=incident_id)

    def open_queue(self) -> QueueSnapshot:
        """Return the open queue with its cursor."""
        with reachable(self._db), self._db.reader() as session:
            return open_queue(session)

    def changes_since(self, *, cursor: int, recheck: frozenset[int] = frozenset()) -> FeedBatch:
        """Return what changed past the cursor, and any late rows in the sequence gaps to recheck."""
        with reachable(self._db), self._db.feed_connection() as conn:
            return changes_since(conn, cursor=cursor, recheck=recheck)

    def make_watcher(self, *, on_wake: Callable[[], None], on_state: Callable[[str], None]) -> Watcher:
        """Return a watcher that calls `on_wake` (from its own thread) soon after anyone commits a change."""
        if self._db.backend == "postgresql":
            # Keyword arguments, not a URL string: a URL psycopg cannot parse is echoed in its error message,
            # password and all, and that message is logged.
            params: dict[str, object] = self._db.url.translate_connect_args(username="user", database="dbname")
            params.update(self._db.url.query)
            return PgNotifyWatcher(params=params, on_wake=on_wake, on_state=on_state)
        return SqliteDataVersionWatcher(path=self._db.url.database or "", on_wake=on_wake, on_state=on_state)

    def incident_row(self, *, incident_id: int) -> IncidentRow | None:
        """Return one incident's queue row as it is now, or None if it no longer exists."""
        with reachable(self._db), self._db.reader() as session:
            rows = incident_rows(session, ids=[incident_id])
            return rows[0] if rows else None

    def comms(self, *, incident_id: int, endpoint_set: Callable[[str], bool], sandbox: bool) -> CommsView:
        """Return the incident's messages, deliveries, templates, channels and cadence."""
        with reachable(self._db), self._db.reader() as session:
            return comms_view(session, incident_id=incident_id, endpoint_set=endpoint_set, console_sandbox=sandbox)

    def draft(self, *, incident_id: int, template: str | None, audience: str | None, sender_id: int | None,
              sandbox: bool) -> Draft:
        """Render a template (or an audience's usual one) for the incident as it is now."""
        with reachable(self._db), self._db.reader() as session:
            return draft_for(session, incident_id=incident_id, template=template, audience=audience,
                             now=self.clock.now(), sender_id=sender_id, console_sandbox=sandbox)

    def templates(self) -> tuple[TemplateInfo, ...]:
        """Return every template in use."""
        with reachable(self._db), self._db.reader() as session:
            return tuple(current_templates(session).values())

    def template_history(self, *, name: str) -> tuple[TemplateInfo, ...]:
        """Return every version of a template, newest first."""
        with reachable(self._db), self._db.reader() as session:
            return template_history(session, name=name)

    def failed_updates(self) -> tuple[tuple[str, MessageItem], ...]:
        """Return every failed delivery nobody has handled yet."""
        with reachable(self._db), self._db.reader() as session:
            return failures(session)

    def sandbox_outbox(self) -> tuple[MessageItem, ...]:
        """Return the messages kept on this machine."""
        with reachable(self._db), self._db.reader() as session:
            return sandbox_outbox(session)

    def incident_detail(self, *, incident_id: int) -> IncidentDetail:
        """Return one incident in depth, as of now."""
        with reachable(self._db), self._db.reader() as session:
            return incident_detail(session, incident_id=incident_id, at=self.clock.now())
