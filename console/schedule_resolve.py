"""Who a rotation resolves to at one instant, and the instants at which that answer may change.

Between two consecutive change instants (handoffs, restriction edges, override and leave edges) the answer
is constant, so callers ask once per stretch instead of sampling time. Everything here costs
O(layers + overrides + leaves) per call and never walks the shifts since a layer started.
"""
from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from console.schedule_time import handoff_at, local_date, shift_index, window_on
from console.schedule_types import Layer, Leave, Override, PersonId, Rotation

_DAY = timedelta(days=1)


def layer_shift(*, layer: Layer, at: datetime) -> int:
    """Return the number of the layer's shift containing `at` (negative before the layer starts)."""
    return shift_index(base=layer.base, shift=layer.shift, zone=layer.tz, at=at)


def layer_handoff(*, layer: Layer, index: int) -> datetime:
    """Return the instant of the layer's handoff number `index`."""
    return handoff_at(base=layer.base, shift=layer.shift, index=index, zone=layer.tz)


def _window(*, layer: Layer, day: date) -> tuple[datetime, datetime] | None:
    """Return the restricted layer's window that opens on a local date, if any."""
    restriction = layer.restriction
    assert restriction is not None
    return window_on(
        opens=restriction.opens, closes=restriction.closes, weekdays=restriction.weekdays, zone=layer.tz, day=day
    )


def on_duty(*, layer: Layer, at: datetime) -> bool:
    """Return whether the layer is on duty at `at`: started, staffed and inside its restriction."""
    if not layer.members or at < layer.start:
        return False
    if layer.restriction is None:
        return True
    # A window lasts at most a day and an hour, so only yesterday's and today's can contain `at`.
    today = local_date(instant=at, zone=layer.tz)
    for day in (today - _DAY, today):
        window = _window(layer=layer, day=day)
        if window is not None and window[0] <= at < window[1]:
            return True
    return False


def _next_layer_change(*, layer: Layer, at: datetime) -> datetime:
    """Return the layer's first handoff or restriction edge after `at`."""
    upcoming = layer_handoff(layer=layer, index=layer_shift(layer=layer, at=at) + 1)
    if layer.restriction is None:
        return upcoming
    # Windows follow one another without overlapping, so the first edge found is the earliest; some listed
    # weekday comes within any seven days, so the scan always ends.
    day = local_date(instant=at, zone=layer.tz) - _DAY
    while True:
        window = _window(layer=layer, day=day)
        for edge in window or ():
            if edge > at:
                return min(upcoming, edge)
        day += _DAY


def _last_layer_change(*, layer: Layer, at: datetime) -> datetime | None:
    """Return the layer's last handoff or restriction edge at or before `at`, from its start on."""
    index = layer_shift(layer=layer, at=at)
    if index < 0:
        return None
    last = layer_handoff(layer=layer, index=index)
    if layer.restriction is None:
        return last
    day = local_date(instant=at, zone=layer.tz)
    while True:
        window = _window(layer=layer, day=day)
        for edge in reversed(window or ()):
            if edge <= at:
                return max(last, edge)
        day -= _DAY


@dataclass(frozen=True)
class Pick:
    """Somebody is on call: from which layer (index) or override, and whom they cover for."""

    person_id: PersonId
    layer: int | None
    shift: int | None
    covered: tuple[tuple[PersonId, str], ...]  # the scheduled people skipped for leave, with the leave kind
    skipped_overrides: tuple[tuple[PersonId, str], ...]
    exhausted_layers: tuple[int, ...]  # higher layers on duty whose members were all away

    @property
    def covering_for(self) -> PersonId | None:
        """Return the scheduled person this one stands in for, if any."""
        return self.covered[0][0] if self.covered else None

    @property
    def slot_key(self) -> tuple[object, ...]:
        """What must match for two adjacent stretches to read as one slot."""
        return (self.person_id, self.layer, self.covered, self.skipped_overrides, self.exhausted_layers)

    @property
    def turn_key(self) -> tuple[object, ...]:
        """What must match for two adjacent stretches to be one turn (a handoff ends a turn)."""
        return (self.person_id, self.layer, self.shift, self.covering_for)


@dataclass(frozen=True)
class Nobody:
    """Nobody is on call: who was away, and which layers were off duty."""

    away: tuple[tuple[PersonId, str], ...]
    idle_layers: tuple[int, ...]


@dataclass(frozen=True)
class Context:
    """One rotation with the overrides and leave that concern it, prepared for many questions."""

    rotation: Rotation
    overrides: tuple[Override, ...]  # this rotation's, the one that takes precedence first
    leaves: Mapping[PersonId, tuple[Leave, ...]]
    edges: tuple[datetime, ...]  # every override and leave start and end, sorted


def prepare(*, rotation: Rotation, overrides: Iterable[Override], leaves: Iterable[Leave]) -> Context:
    """Return the rotation with its own overrides ordered by precedence and leave grouped by person."""
    ours = [o for o in overrides if o.rotation_id == rotation.id]
    # The override that started last wins; on a tie, the one given last.
    ranked = tuple(o for _, o in sorted(enumerate(ours), key=lambda p: (p[1].starts_at, p[0]), reverse=True))
    by_person: dict[PersonId, list[Leave]] = {}
    for leave in leaves:
        by_person.setdefault(leave.person_id, []).append(leave)
    edges = sorted({e for item in (*ranked, *(x for v in by_person.values() for x in v))
                    for e in (item.starts_at, item.ends_at)})
    return Context(rotation, ranked, {p: tuple(v) for p, v in by_person.items()}, tuple(edges))


def leave_of(*, context: Context, person_id: PersonId, at: datetime) -> Leave | None:
    """Return the leave that keeps the person away at `at`, if any."""
    for leave in context.leaves.get(person_id, ()):
        if leave.starts_at <= at < leave.ends_at:
            return leave
    return None


def resolve(*, context: Context, at: datetime) -> Pick | Nobody:
    """Return who is on call at `at`: an override, else the highest layer on duty, skipping people away."""
    away: list[tuple[PersonId, str]] = []
    skipped: list[tuple[PersonId, str]] = []
    for override in context.overrides:
        if override.starts_at <= at < override.ends_at:
            leave = leave_of(context=context, person_id=override.person_id, at=at)
            if leave is None:
                return Pick(override.person_id, None, None, (), tuple(skipped), ())
            skipped.append((override.person_id, leave.kind))
    away.extend(skipped)
    exhausted: list[int] = []
    idle: list[int] = []
    layers = context.rotation.layers
    for number in range(len(layers) - 1, -1, -1):
        layer = layers[number]
        if not on_duty(layer=layer, at=at):
            idle.append(number)
            continue
        index = layer_shift(layer=layer, at=at)
        covered: list[tuple[PersonId, str]] = []
        size = len(layer.members)
        # The next member in the layer's order who is not away covers for the scheduled one.
        for step in range(size):
            candidate = layer.members[(index + step) % size]
            leave = leave_of(context=context, person_id=candidate, at=at)
            if leave is None:
                return Pick(candidate, number, index, tuple(covered), tuple(skipped), tuple(exhausted))
            covered.append((candidate, leave.kind))
        exhausted.append(number)
        away.extend(entry for entry in covered if entry not in away)
    return Nobody(tuple(away), tuple(idle))


def next_change(*, context: Context, at: datetime) -> datetime | None:
    """Return the first instant after `at` at which the answer may change (None: never again)."""
    found: list[datetime] = []
    position = bisect_right(context.edges, at)
    if position < len(context.edges):
        found.append(context.edges[position])
    for layer in context.rotation.layers:
        if layer.members:
            found.append(_next_layer_change(layer=layer, at=at))
    return min(found, default=None)


def last_change(*, context: Context, at: datetime) -> datetime | None:
    """Return the last instant at or before `at` at which the answer may have changed (None: never before)."""
    found: list[datetime] = []
    position = bisect_right(context.edges, at)
    if position:
        found.append(context.edges[position - 1])
    for layer in context.rotation.layers:
        if layer.members:
            last = _last_layer_change(layer=layer, at=at)
            if last is not None:
                found.append(last)
    return max(found, default=None)


def change_before(*, context: Context, at: datetime) -> datetime | None:
    """Return the last change instant strictly before `at`."""
    # Instants are whole microseconds, so the tick before `at` is the latest instant before it.
    return last_change(context=context, at=at - timedelta(microseconds=1))
