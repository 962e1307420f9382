"""The plain-language reasons of the schedule engine: why this person is on call, why nobody is."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from console.schedule_resolve import Context, Nobody, Pick
from console.schedule_time import zone_named
from console.schedule_types import GapCause, PersonId, Restriction

# Spelled out rather than strftime's %a: Qt sets the C locale from the environment, which would turn "Tue"
# into "Di" on a German desk and make reasons differ between the GUI and the tests.
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_LEAVE = {"pto": "PTO", "holiday": "holiday", "sick": "sick leave"}
_SOON = timedelta(days=6)


def name_of(*, names: Mapping[PersonId, str], person_id: PersonId) -> str:
    """Return a person's display name, or a stand-in that still identifies them."""
    return names.get(person_id) or f"person {person_id}"


def when(*, instant: datetime, zone: str, reference: datetime | None = None) -> str:
    """Return an instant in a zone's local time: the weekday alone when it is within the coming days."""
    local = instant.astimezone(zone_named(name=zone))
    clock = f"{local:%H:%M}"
    if reference is not None and timedelta(0) <= instant - reference < _SOON:
        return f"{_DAYS[local.weekday()]} {clock} {zone}"
    return f"{_DAYS[local.weekday()]} {local:%Y-%m-%d} {clock} {zone}"


def weekdays_text(*, weekdays: frozenset[int]) -> str:
    """Return weekdays as runs: 'Mon–Fri', 'Sat, Sun', 'every day'."""
    if len(weekdays) == 7:
        return "every day"
    runs: list[list[int]] = []
    for day in sorted(weekdays):
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return ", ".join(
        _DAYS[run[0]] if len(run) == 1 else f"{_DAYS[run[0]]}–{_DAYS[run[-1]]}" if len(run) > 2
        else f"{_DAYS[run[0]]}, {_DAYS[run[1]]}"
        for run in runs
    )


def restriction_text(*, restriction: Restriction, zone: str) -> str:
    """Return a restriction as '09:00–17:00 Mon–Fri Europe/Berlin' (or 'all day Sat, Sun Europe/Berlin')."""
    days = weekdays_text(weekdays=restriction.weekdays)
    if restriction.opens == restriction.closes:
        return f"all day {days} {zone}"
    return f"{restriction.opens:%H:%M}–{restriction.closes:%H:%M} {days} {zone}"


def leave_text(*, kind: str) -> str:
    """Return a leave kind as people say it."""
    return _LEAVE.get(str(kind), str(kind).replace("_", " "))


def display_zone(*, context: Context) -> str:
    """Return the zone in which to show times that belong to no layer (overrides): the base layer's."""
    layers = context.rotation.layers
    return layers[0].zone if layers else "UTC"


def _away_list(*, away: tuple[tuple[PersonId, str], ...], names: Mapping[PersonId, str]) -> str:
    """Return people away as 'Ana (PTO), Ben (sick leave)'."""
    # By name, not by who was scheduled: the same people away must read the same across a handoff, or one gap
    # would be reported as two.
    shown = sorted((name_of(names=names, person_id=p), leave_text(kind=k)) for p, k in away)
    return ", ".join(f"{name} ({kind})" for name, kind in shown)


def pick_reason(
    *, context: Context, pick: Pick, names: Mapping[PersonId, str], until: datetime | None,
    reference: datetime | None = None,
) -> str:
    """Return why the picked person is on call; with `until`, say until when."""
    layers = context.rotation.layers
    person = name_of(names=names, person_id=pick.person_id)
    parts: list[str] = []
    if pick.covered:
        if len(pick.covered) == 1:
            scheduled, kind = pick.covered[0]
            parts.append(f"covering: {name_of(names=names, person_id=scheduled)} is on leave ({leave_text(kind=kind)})")
        else:
            parts.append(f"covering: on leave: {_away_list(away=pick.covered, names=names)}")
    if pick.layer is None:
        zone = display_zone(context=context)
        tail = f" until {when(instant=until, zone=zone, reference=reference)}" if until else ""
        parts.append(f"override by {person}{tail}")
    else:
        layer = layers[pick.layer]
        tail = f" ({person} until {when(instant=until, zone=layer.zone, reference=reference)})" if until else ""
        parts.append(f"layer {layer.name!r}{tail}")
    parts.extend(
        f"override by {name_of(names=names, person_id=p)} skipped: on leave ({leave_text(kind=k)})"
        for p, k in pick.skipped_overrides
    )
    parts.extend(f"everyone in layer {layers[n].name!r} is on leave" for n in pick.exhausted_layers)
    return "; ".join(parts)


def gap_reason(
    *, context: Context, nobody: Nobody, names: Mapping[PersonId, str], at: datetime
) -> tuple[GapCause, str]:
    """Return why nobody is on call, as a cause and a sentence."""
    layers = context.rotation.layers
    if not layers:
        idle = f"rotation {context.rotation.name!r} has no layers"
    elif len(nobody.idle_layers) == len(layers):
        idle = _idle_text(context=context, nobody=nobody, at=at)
    else:
        idle = ""
    if nobody.away:
        # Only an override was skipped when no layer is on duty either: say both, or the gap reads as leave alone.
        text = f"everyone is on leave: {_away_list(away=nobody.away, names=names)}"
        return GapCause.ON_LEAVE, f"{text}; {idle}" if idle else text
    return (GapCause.NO_LAYERS if not layers else GapCause.NO_LAYER_ON_DUTY), idle


def _idle_text(*, context: Context, nobody: Nobody, at: datetime) -> str:
    """Return why no layer is on duty at `at`, layer by layer from the top."""
    layers = context.rotation.layers
    reasons = []
    for number in nobody.idle_layers:
        layer = layers[number]
        if not layer.members:
            reasons.append(f"layer {layer.name!r} has no members")
        elif layer.restriction is not None and at >= layer.start:
            reasons.append(f"layer {layer.name!r} covers only "
                           f"{restriction_text(restriction=layer.restriction, zone=layer.zone)}")
        else:
            reasons.append(f"layer {layer.name!r} starts {when(instant=layer.start, zone=layer.zone)}")
    text = "no layer is on duty: " + "; ".join(reasons)
    if not any(layer.restriction is None and layer.members for layer in layers):
        text += "; there is no unrestricted base layer"
    return text
