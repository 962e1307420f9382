"""The on-call schedule engine: who is on call for a layered rotation at any instant, with overrides and leave.

Pure: frozen values in, frozen values out; no database and no clock (every instant is passed in, aware).
Layers hand off at a local wall-clock time in their own zone, so daylight-saving changes lengthen or shorten
a shift instead of moving the handoff. Where several layers are on duty the later one wins; an override beats
every layer; a person on leave is never on call: the next member of the layer covers, and an override by
someone on leave is skipped. Answers are UTC.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta

from console.schedule_resolve import (
    Context,
    Nobody,
    Pick,
    change_before,
    last_change,
    layer_handoff,
    layer_shift,
    next_change,
    on_duty,
    prepare,
    resolve,
)
from console.schedule_text import gap_reason, pick_reason
from console.schedule_types import (
    EVERY_DAY,
    Gap,
    GapCause,
    Layer,
    Leave,
    OnCall,
    Override,
    PersonId,
    Restriction,
    Rotation,
    Shift,
    Slot,
    Source,
    as_utc,
)

__all__ = [
    "EVERY_DAY", "Gap", "GapCause", "Layer", "Leave", "OnCall", "Override", "PersonId", "Restriction",
    "Rotation", "Shift", "Slot", "Source", "coverage_gaps", "next_on_call", "on_call", "shift_of", "timeline",
]

Names = Mapping[PersonId, str]
# Far enough for any real rotation to change hands; a one-person rotation never does, so the search must stop.
NEXT_HORIZON = timedelta(days=366)


def on_call(
    *, rotation: Rotation, overrides: Iterable[Override], leaves: Iterable[Leave], at: datetime,
    names: Names | None = None,
) -> OnCall | None:
    """Return who is on call for the rotation at `at`, since and until when, and why; None if nobody is."""
    context = prepare(rotation=rotation, overrides=overrides, leaves=leaves)
    instant = as_utc(value=at, what="at")
    outcome = resolve(context=context, at=instant)
    if isinstance(outcome, Nobody):
        return None
    return _answer(context=context, pick=outcome, at=instant, names=names or {})


def next_on_call(
    *, rotation: Rotation, overrides: Iterable[Override], leaves: Iterable[Leave], after: datetime,
    names: Names | None = None, horizon: timedelta = NEXT_HORIZON,
) -> OnCall | None:
    """Return the next person, other than whoever is on call at `after`, and when they start; None within `horizon`."""
    context = prepare(rotation=rotation, overrides=overrides, leaves=leaves)
    instant = as_utc(value=after, what="after")
    now = resolve(context=context, at=instant)
    current = now.person_id if isinstance(now, Pick) else None
    limit = instant + horizon
    at = instant
    while (upcoming := next_change(context=context, at=at)) is not None and upcoming <= limit:
        at = upcoming
        found = resolve(context=context, at=at)
        if isinstance(found, Pick) and found.person_id != current:
            return _answer(context=context, pick=found, at=at, names=names or {})
    return None


def timeline(
    *, rotation: Rotation, overrides: Iterable[Override], leaves: Iterable[Leave], start: datetime,
    end: datetime, names: Names | None = None,
) -> tuple[Slot, ...]:
    """Return who is on call from `start` to `end`, one slot per person and reason; holes are coverage gaps."""
    context = prepare(rotation=rotation, overrides=overrides, leaves=leaves)
    merged: list[tuple[datetime, datetime, Pick]] = []
    for begins, ends, outcome in _stretches(context=context, start=start, end=end):
        if isinstance(outcome, Nobody):
            continue
        if merged and merged[-1][1] == begins and merged[-1][2].slot_key == outcome.slot_key:
            merged[-1] = (merged[-1][0], ends, merged[-1][2])
        else:
            merged.append((begins, ends, outcome))
    layers = rotation.layers
    return tuple(
        Slot(
            rotation_id=rotation.id,
            person_id=pick.person_id,
            layer=None if pick.layer is None else layers[pick.layer].name,
            starts_at=begins,
            ends_at=ends,
            source=Source.OVERRIDE if pick.layer is None else Source.LAYER,
            covering_for=pick.covering_for,
            reason=pick_reason(context=context, pick=pick, names=names or {}, until=None),
        )
        for begins, ends, pick in merged
    )


def coverage_gaps(
    *, rotation: Rotation, overrides: Iterable[Override], leaves: Iterable[Leave], start: datetime,
    end: datetime, names: Names | None = None,
) -> tuple[Gap, ...]:
    """Return the stretches from `start` to `end` with nobody available on call, and why."""
    context = prepare(rotation=rotation, overrides=overrides, leaves=leaves)
    gaps: list[Gap] = []
    for begins, ends, outcome in _stretches(context=context, start=start, end=end):
        if isinstance(outcome, Pick):
            continue
        cause, reason = gap_reason(context=context, nobody=outcome, names=names or {}, at=begins)
        last = gaps[-1] if gaps else None
        if last is not None and last.ends_at == begins and (last.cause, last.reason) == (cause, reason):
            gaps[-1] = Gap(rotation.id, last.starts_at, ends, cause, reason)
        else:
            gaps.append(Gap(rotation.id, begins, ends, cause, reason))
    return tuple(gaps)


def shift_of(
    *, rotation: Rotation, person_id: PersonId, at: datetime, overrides: Iterable[Override] = ()
) -> Shift | None:
    """Return the person's turn containing `at`: an override of theirs, else their scheduled layer shift."""
    # Fatigue is counted per turn as scheduled: leave cover is the covered person's shift, not a new one.
    instant = as_utc(value=at, what="at")
    context = prepare(rotation=rotation, overrides=overrides, leaves=())
    for override in context.overrides:
        if override.person_id == person_id and override.starts_at <= instant < override.ends_at:
            return Shift(person_id, None, override.starts_at, override.ends_at)
    layers = rotation.layers[::-1]
    # A layer on duty at `at` is the one the page came through; otherwise any layer that schedules them.
    for layer in (*(x for x in layers if on_duty(layer=x, at=instant)), *layers):
        if not layer.members or instant < layer.start:
            continue
        index = layer_shift(layer=layer, at=instant)
        if layer.members[index % len(layer.members)] == person_id:
            return Shift(
                person_id, layer.name, layer_handoff(layer=layer, index=index),
                layer_handoff(layer=layer, index=index + 1),
            )
    return None


def _stretches(
    *, context: Context, start: datetime, end: datetime
) -> Iterator[tuple[datetime, datetime, Pick | Nobody]]:
    """Yield the stretches of a window over which the answer is constant, with that answer."""
    at = as_utc(value=start, what="start")
    stop = as_utc(value=end, what="end")
    if stop < at:
        raise ValueError(f"window ends at {stop.isoformat()}, before it starts at {at.isoformat()}")
    while at < stop:
        upcoming = next_change(context=context, at=at)
        ends = stop if upcoming is None or upcoming > stop else upcoming
        yield at, ends, resolve(context=context, at=at)
        at = ends


def _answer(*, context: Context, pick: Pick, at: datetime, names: Names) -> OnCall:
    """Return the picked person's turn around `at`: stretched back and forth while the same turn goes on."""
    since = last_change(context=context, at=at)
    assert since is not None, "a person is on call only after a layer or an override has started"
    while (earlier := change_before(context=context, at=since)) is not None:
        before = resolve(context=context, at=earlier)
        if not isinstance(before, Pick) or before.turn_key != pick.turn_key:
            break
        since = earlier
    until = next_change(context=context, at=at)
    while until is not None:
        after = resolve(context=context, at=until)
        if not isinstance(after, Pick) or after.turn_key != pick.turn_key:
            break
        until = next_change(context=context, at=until)
    assert until is not None, "a turn ends at a handoff or at the end of an override"
    layers = context.rotation.layers
    return OnCall(
        rotation_id=context.rotation.id,
        person_id=pick.person_id,
        layer=None if pick.layer is None else layers[pick.layer].name,
        since=since,
        until=until,
        source=Source.OVERRIDE if pick.layer is None else Source.LAYER,
        covering_for=pick.covering_for,
        reason=pick_reason(context=context, pick=pick, names=names, until=until, reference=at),
    )
