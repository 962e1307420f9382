"""Who is on call, read from the database: layered rotations with restricted layers, local handoffs across
daylight-saving changes, overrides and leave, the next person up, and coverage gaps flagged a week ahead."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from console.oncall import coverage_gaps, load_schedule, on_call_for_rotation, on_call_for_team, rotations_of
from models.enums import LeaveKind
from models.org import Person
from models.policy import Leave, Override, Rotation, RotationLayer, RotationLayerMember
from tests.conftest import T0

UTC = timezone.utc


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def _layer(position: int, name: str, members: list[int], *, starts_at: datetime, hours: int, handoff: str,
           zone: str, opens: str | None = None, closes: str | None = None,
           weekdays: str | None = None) -> RotationLayer:
    return RotationLayer(position=position, name=name, starts_at=starts_at, shift_minutes=hours * 60, handoff=handoff,
                         timezone=zone, restrict_opens=opens, restrict_closes=closes, restrict_weekdays=weekdays,
                         members=[RotationLayerMember(position=n, person_id=p) for n, p in enumerate(members)])


def _rotation(db, name: str, *layers: RotationLayer, team: int | None = None) -> int:  # type: ignore[no-untyped-def]
    with db.writer() as s:
        rotation = Rotation(name=name, team_id=team, layers=list(layers))
        s.add(rotation)
        s.commit()
        return rotation.id


def _get(db, rotation_id: int):  # type: ignore[no-untyped-def]
    """Ask one rotation a question in a fresh read."""
    session = db.reader()
    return session, session.get_one(Rotation, rotation_id)


def _on_call(db, rotation_id: int, at: datetime):  # type: ignore[no-untyped-def]
    session, rotation = _get(db, rotation_id)
    with session:
        return on_call_for_rotation(session, rotation=rotation, at=at)


def _add(db, *rows) -> None:  # type: ignore[no-untyped-def]
    with db.writer() as s:
        s.add_all(rows)
        s.commit()


def _person(db, handle: str, name: str, zone: str = "UTC") -> int:  # type: ignore[no-untyped-def]
    with db.writer() as s:
        person = Person(handle=handle, name=name, email=f"{handle}@example.com", title="", timezone=zone, active=True)
        s.add(person)
        s.commit()
        return person.id


# --- a business-hours layer over a 24/7 base ---------------------------------------------------------------------

MONDAY_0900_BERLIN = _utc(2026, 11, 23, 8)  # CET is UTC+1 in November


@pytest.fixture
def layered(db, org) -> int:  # type: ignore[no-untyped-def]
    """Bob and Carol a week each around the clock; Alice on weekdays 09:00-17:00 Berlin time, over them."""
    return _rotation(
        db, "identity-hours",
        _layer(0, "base", [org.bob, org.carol], starts_at=MONDAY_0900_BERLIN, hours=168, handoff="09:00",
               zone="Europe/Berlin"),
        _layer(1, "business-hours", [org.alice], starts_at=MONDAY_0900_BERLIN, hours=24, handoff="09:00",
               zone="Europe/Berlin", opens="09:00", closes="17:00", weekdays="01234"),
        team=org.team)


def test_the_restricted_layer_answers_in_business_hours_on_a_weekday(db, org, layered) -> None:  # type: ignore[no-untyped-def]
    friday_10 = _utc(2026, 11, 27, 9)  # T0's Friday, 10:00 in Berlin
    found = _on_call(db, layered, friday_10)
    assert (found.person_id, found.layer, found.note) == (org.alice, "business-hours", "layer business-hours")
    assert (found.since, found.until) == (_utc(2026, 11, 27, 8), _utc(2026, 11, 27, 16))  # 09:00-17:00 local


def test_the_base_layer_answers_in_the_evening_and_at_the_weekend(db, org, layered) -> None:  # type: ignore[no-untyped-def]
    friday_20 = _utc(2026, 11, 27, 19)
    evening = _on_call(db, layered, friday_20)
    assert (evening.person_id, evening.layer) == (org.bob, "base")
    assert (evening.since, evening.until) == (_utc(2026, 11, 27, 16), _utc(2026, 11, 30, 8))  # to Monday 09:00
    saturday_10 = _utc(2026, 11, 28, 9)
    assert (_on_call(db, layered, saturday_10).person_id, _on_call(db, layered, saturday_10).layer) == (org.bob, "base")
    next_monday_10 = _utc(2026, 11, 30, 9)
    assert _on_call(db, layered, next_monday_10).person_id == org.alice
    next_monday_20 = _utc(2026, 11, 30, 19)
    assert _on_call(db, layered, next_monday_20).person_id == org.carol  # the base layer handed over at 09:00


def test_next_on_call_is_whoever_takes_over_and_from_when(db, org, layered) -> None:  # type: ignore[no-untyped-def]
    session, rotation = _get(db, layered)
    with session:
        schedule = load_schedule(session, rotation=rotation, around=_utc(2026, 11, 27, 19))
        upcoming = schedule.next_on_call(after=_utc(2026, 11, 27, 19))
        after_hours = schedule.next_on_call(after=_utc(2026, 11, 27, 9))
    assert (upcoming.person_id, upcoming.since) == (org.alice, _utc(2026, 11, 30, 8))
    assert (after_hours.person_id, after_hours.since) == (org.bob, _utc(2026, 11, 27, 16))


def test_a_team_answers_with_the_on_call_of_each_of_its_rotations(db, org, layered) -> None:  # type: ignore[no-untyped-def]
    with db.reader() as s:
        entries = on_call_for_team(s, team_id=org.team, at=_utc(2026, 11, 27, 9))
    assert [(e.rotation, e.person_id) for e in entries] == [("identity-hours", org.alice),
                                                           ("identity-primary", org.bob)]


def test_a_restricted_rotation_without_a_base_layer_has_gaps_and_says_why(db, org) -> None:  # type: ignore[no-untyped-def]
    rotation = _rotation(db, "office-only", _layer(0, "business-hours", [org.alice], starts_at=MONDAY_0900_BERLIN,
                                                   hours=24, handoff="09:00", zone="Europe/Berlin", opens="09:00",
                                                   closes="17:00", weekdays="01234"))
    assert _on_call(db, rotation, _utc(2026, 11, 27, 19)) is None
    with db.reader() as s:
        gaps = coverage_gaps(s, at=T0, rotations=[s.get_one(Rotation, rotation)])
    first = gaps[0]
    assert (first.rotation, first.starts_at, first.ends_at) == ("office-only", _utc(2026, 11, 27, 16),
                                                                _utc(2026, 11, 30, 8))  # Friday 17:00 to Monday 09:00
    assert first.reason == ("no layer is on duty: layer 'business-hours' covers only 09:00–17:00 Mon–Fri "
                            "Europe/Berlin; there is no unrestricted base layer")
    assert len(gaps) == 5  # the weekend, then four weekday evenings within the 7 days


# --- daylight saving ----------------------------------------------------------------------------------------------

def test_a_london_handoff_stays_at_local_0800_when_the_clocks_go_forward(db, org) -> None:  # type: ignore[no-untyped-def]
    rotation = _rotation(db, "london-daily", _layer(0, "daily", [org.bob, org.carol, org.alice],
                                                    starts_at=_utc(2027, 3, 26, 8), hours=24, handoff="08:00",
                                                    zone="Europe/London"))
    saturday = _on_call(db, rotation, _utc(2027, 3, 27, 12))
    assert (saturday.person_id, saturday.since, saturday.until) == (org.carol, _utc(2027, 3, 27, 8),
                                                                    _utc(2027, 3, 28, 7))  # 08:00 GMT to 08:00 BST
    sunday = _on_call(db, rotation, _utc(2027, 3, 28, 7, 30))  # 08:30 BST
    assert (sunday.person_id, sunday.since, sunday.until) == (org.alice, _utc(2027, 3, 28, 7), _utc(2027, 3, 29, 7))
    assert _on_call(db, rotation, _utc(2027, 3, 28, 6, 59)).person_id == org.carol  # 07:59 BST: still Carol
    session, row = _get(db, rotation)
    with session:
        shift = load_schedule(session, rotation=row, around=_utc(2027, 3, 28, 12)).shift_of(
            person_id=org.carol, at=_utc(2027, 3, 28, 1))
    assert shift.ends_at - shift.starts_at == timedelta(hours=23)


def test_a_london_handoff_stays_at_local_0800_when_the_clocks_go_back(db, org) -> None:  # type: ignore[no-untyped-def]
    rotation = _rotation(db, "london-autumn", _layer(0, "daily", [org.bob, org.carol],
                                                     starts_at=_utc(2026, 10, 24, 7), hours=24, handoff="08:00",
                                                     zone="Europe/London"))  # Saturday 08:00 BST
    carol = _on_call(db, rotation, _utc(2026, 10, 25, 12))
    assert (carol.person_id, carol.since, carol.until) == (org.carol, _utc(2026, 10, 25, 8), _utc(2026, 10, 26, 8))
    bob = _on_call(db, rotation, _utc(2026, 10, 25, 7, 30))  # 07:30 GMT: Bob's 25-hour Saturday turn
    assert (bob.person_id, bob.since, bob.until) == (org.bob, _utc(2026, 10, 24, 7), _utc(2026, 10, 25, 8))


# --- overrides and leave from the database --------------------------------------------------------------------------

def test_an_override_takes_the_rotation_for_its_window(db, org) -> None:  # type: ignore[no-untyped-def]
    _add(db, Override(rotation_id=org.rotation, person_id=org.carol, starts_at=T0 - timedelta(hours=1),
                      ends_at=T0 + timedelta(hours=1), reason="Bob at the dentist"))
    found = _on_call(db, org.rotation, T0)
    assert (found.person_id, found.note, found.layer) == (org.carol, "override", None)
    assert (found.since, found.until) == (T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    assert _on_call(db, org.rotation, T0 + timedelta(hours=1)).person_id == org.bob


def test_a_person_on_leave_is_covered_by_the_next_and_an_override_by_someone_away_is_skipped(db, org) -> None:  # type: ignore[no-untyped-def]
    _add(db, Leave(person_id=org.bob, kind=LeaveKind.SICK, starts_at=T0 - timedelta(hours=2),
                   ends_at=T0 + timedelta(hours=2)),
         Leave(person_id=org.alice, kind=LeaveKind.PTO, starts_at=T0 - timedelta(days=1), ends_at=T0 + timedelta(days=1)),
         Override(rotation_id=org.rotation, person_id=org.alice, starts_at=T0 - timedelta(hours=1),
                  ends_at=T0 + timedelta(hours=1), reason="swap"))
    found = _on_call(db, org.rotation, T0)
    assert (found.person_id, found.note) == (org.carol, "covering: Bob Burns is on leave (sick leave)")
    assert "override by Alice Ames skipped: on leave (PTO)" in found.reason
    assert _on_call(db, org.rotation, T0 + timedelta(hours=3)).person_id == org.bob  # back from sick leave


def test_rotations_of_a_person_are_those_they_take_turns_in_or_override(db, org) -> None:  # type: ignore[no-untyped-def]
    stranger = _person(db, "sid", "Sid Stone")
    helper = _person(db, "hal", "Hal Hope")
    other = _rotation(db, "payments-primary", _layer(0, "daily", [helper], starts_at=T0.replace(hour=0), hours=24,
                                                     handoff="00:00", zone="UTC"))
    _add(db, Override(rotation_id=org.rotation, person_id=helper, starts_at=T0, ends_at=T0 + timedelta(hours=1)))
    with db.reader() as s:
        assert [r.name for r in rotations_of(s, person_id=org.bob)] == ["identity-primary"]
        assert [r.id for r in rotations_of(s, person_id=helper)] == [org.rotation, other]  # by name
        assert rotations_of(s, person_id=stranger) == []


# --- coverage gaps a week ahead ------------------------------------------------------------------------------------

@pytest.fixture
def pair(db, org) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    """A two-person weekly rotation handing off Mondays 09:00 New York time."""
    pia = _person(db, "pia", "Pia Park", "America/New_York")
    quinn = _person(db, "quinn", "Quinn Quarles", "America/New_York")
    rotation = _rotation(db, "data-secondary", _layer(0, "weekly", [pia, quinn], starts_at=_utc(2026, 11, 23, 14),
                                                      hours=168, handoff="09:00", zone="America/New_York"))
    return rotation, pia, quinn


def test_a_gap_when_both_of_a_pair_are_away_is_found_days_ahead_with_the_reason(db, org, pair) -> None:  # type: ignore[no-untyped-def]
    rotation, pia, quinn = pair
    _add(db, Leave(person_id=pia, kind=LeaveKind.PTO, starts_at=T0 + timedelta(days=2), ends_at=T0 + timedelta(days=5)),
         Leave(person_id=quinn, kind=LeaveKind.HOLIDAY, starts_at=T0 + timedelta(days=3),
               ends_at=T0 + timedelta(days=4, hours=12)))
    with db.reader() as s:
        gaps = coverage_gaps(s, at=T0)
    assert gaps  # identity-primary is fully staffed; only the pair has a hole
    assert {(g.rotation_id, g.rotation) for g in gaps} == {(rotation, "data-secondary")}
    # The whole hole, from when the second one leaves to when the first one is back, without a break.
    assert (gaps[0].starts_at, gaps[-1].ends_at) == (T0 + timedelta(days=3), T0 + timedelta(days=4, hours=12))
    assert all(a.ends_at == b.starts_at for a, b in zip(gaps, gaps[1:]))
    for gap in gaps:
        assert gap.reason.startswith("everyone is on leave: ")
        assert "Pia Park (PTO)" in gap.reason and "Quinn Quarles (holiday)" in gap.reason
    # While only one is away, the other covers: no gap.
    assert _on_call(db, rotation, T0 + timedelta(days=2, hours=1)).person_id == quinn
    assert _on_call(db, rotation, T0 + timedelta(days=4, hours=12)).person_id == quinn


def test_one_hole_across_a_handoff_is_one_gap(db, org, pair) -> None:  # type: ignore[no-untyped-def]
    rotation, pia, quinn = pair
    _add(db, Leave(person_id=pia, kind=LeaveKind.PTO, starts_at=T0 + timedelta(days=2), ends_at=T0 + timedelta(days=5)),
         Leave(person_id=quinn, kind=LeaveKind.HOLIDAY, starts_at=T0 + timedelta(days=3),
               ends_at=T0 + timedelta(days=4, hours=12)))  # the Monday 09:00 New York handoff falls inside
    with db.reader() as s:
        [gap] = coverage_gaps(s, at=T0)
    assert (gap.starts_at, gap.ends_at) == (T0 + timedelta(days=3), T0 + timedelta(days=4, hours=12))
    assert gap.reason == "everyone is on leave: Pia Park (PTO), Quinn Quarles (holiday)"


def test_a_gap_beyond_the_coming_week_is_not_flagged_yet(db, org, pair) -> None:  # type: ignore[no-untyped-def]
    rotation, pia, quinn = pair
    later = T0 + timedelta(days=8)
    _add(db, *(Leave(person_id=p, kind=LeaveKind.PTO, starts_at=later, ends_at=later + timedelta(days=1))
               for p in (pia, quinn)))
    with db.reader() as s:
        assert coverage_gaps(s, at=T0) == []
        [gap] = coverage_gaps(s, at=T0, horizon=timedelta(days=10))
        assert (gap.starts_at, gap.ends_at) == (later, later + timedelta(days=1))
        assert coverage_gaps(s, at=later - timedelta(days=6))[0].starts_at == later  # a week before, it shows


def test_someone_who_left_is_never_on_call_and_a_broken_layer_does_not_stop_the_rest(db, org) -> None:  # type: ignore[no-untyped-def]
    """A person marked inactive is skipped like someone on leave; a layer someone mis-edited is ignored (and
    logged), so paging goes on from the layers that still work."""
    with db.writer() as s:
        s.get_one(Person, org.bob).active = False  # bob, first in the rotation on T0's day, has left
        rotation = s.get_one(Rotation, org.rotation)
        rotation.layers.append(RotationLayer(position=1, name="broken", starts_at=T0, shift_minutes=60,
                                             handoff="25:99", timezone="Mars/Olympus",
                                             members=[RotationLayerMember(position=0, person_id=org.alice)]))
        s.commit()
    with db.reader() as s:
        found = on_call_for_rotation(s, rotation=s.get_one(Rotation, org.rotation), at=T0)
    assert found is not None and found.person_id != org.bob and found.layer == "daily"
