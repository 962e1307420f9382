"""Pager fatigue: the pages that woke each person in their current shift (or the last 24 hours off shift), those at
night in the person's own time zone, against the policy's limits, in words a commander reads."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from console import commands
from console.clock import ManualClock
from console.fatigue import fatigue_counts
from console.routing.definitions import Fatigue
from console.routing.policy import DEFAULT_PATH, default_policy
from console.uow import UnitOfWork
from models.org import Person
from models.policy import Override
from models.routing import Page
from tests.conftest import T0

DAY_START = T0.replace(hour=0)


def _page_checkout(db, at, org) -> int:  # type: ignore[no-untyped-def]
    """Open a checkout SEV3 at `at`: tier 1 pages whoever is on call for identity-primary then."""
    return commands.open_incident(UnitOfWork(db, ManualClock(at)), actor_id=None, title="Checkout errors",
                                  severity="SEV3", service_id=org.checkout).created_incident  # type: ignore[return-value]


def _tell_checkout(db, at, org) -> None:  # type: ignore[no-untyped-def]
    """Open a checkout SEV4 at `at`: the on-call is told, not woken."""
    commands.open_incident(UnitOfWork(db, ManualClock(at)), actor_id=None, title="Slow report", severity="SEV4",
                           service_id=org.checkout)


def _counts(db, people: list[int], at, fatigue: Fatigue | None = None):  # type: ignore[no-untyped-def]
    with db.reader() as s:
        return fatigue_counts(s, person_ids=people, at=at, fatigue=fatigue or default_policy().fatigue)


def _timezone(db, person: int, zone: str) -> None:  # type: ignore[no-untyped-def]
    with db.writer() as s:
        s.get_one(Person, person).timezone = zone
        s.commit()


@pytest.fixture
def bobs_day(db, org, escalating):  # type: ignore[no-untyped-def]
    """Bob (in Tokyo, UTC+9) is on call from 00:00 UTC today; paged before, during and after, and told once."""
    _timezone(db, org.bob, "Asia/Tokyo")
    with db.writer() as s:  # he covered the last two hours of yesterday too
        s.add(Override(rotation_id=org.rotation, person_id=org.bob, starts_at=DAY_START - timedelta(hours=2),
                       ends_at=DAY_START, reason="swap"))
        s.commit()
    _page_checkout(db, DAY_START - timedelta(hours=1), org)  # yesterday: not this shift
    _page_checkout(db, T0, org)  # 19:00 in Tokyo
    _tell_checkout(db, T0 + timedelta(hours=1), org)  # told, not woken
    _page_checkout(db, T0 + timedelta(hours=4), org)  # 23:00 in Tokyo: night
    _page_checkout(db, T0 + timedelta(hours=10), org)  # 05:00 in Tokyo: night
    _page_checkout(db, T0 + timedelta(hours=11, minutes=30), org)  # after the moment asked about
    return T0 + timedelta(hours=11)


def test_only_pages_that_woke_the_person_in_this_shift_count(db, org, bobs_day) -> None:  # type: ignore[no-untyped-def]
    count = _counts(db, [org.bob], bobs_day)[org.bob]
    assert (count.pages, count.night_pages, count.on_shift, count.since) == (3, 2, True, DAY_START)
    assert count.text == "3 pages this shift (2 at night)"
    assert not count.over_limit  # 2 at night is the limit, not past it
    with db.reader() as s:
        woken = s.execute(select(Page.paged_at, Page.night).where(Page.person_id == org.bob, Page.urgent.is_(True))
                          .order_by(Page.paged_at)).all()
    # 08:00, 19:00, 23:00, 05:00 and 06:30 in Tokyo (the last one after the moment counted)
    assert [night for _, night in woken] == [False, False, True, True, True]


def test_past_the_limits_the_count_says_so(db, org, bobs_day) -> None:  # type: ignore[no-untyped-def]
    pages = _counts(db, [org.bob], bobs_day, Fatigue(max_pages_per_shift=2, max_night_pages_per_shift=2))[org.bob]
    assert pages.over_limit and pages.text == "3 pages this shift (2 at night): over the limit of 2"
    nights = _counts(db, [org.bob], bobs_day, Fatigue(max_pages_per_shift=6, max_night_pages_per_shift=1))[org.bob]
    assert nights.over_limit and nights.text == "3 pages this shift (2 at night): over the night limit of 1"
    exactly = _counts(db, [org.bob], bobs_day, Fatigue(max_pages_per_shift=3, max_night_pages_per_shift=2))[org.bob]
    assert not exactly.over_limit and exactly.text == "3 pages this shift (2 at night)"


def test_off_shift_the_last_24_hours_count(db, org, clock, escalating) -> None:  # type: ignore[no-untyped-def]
    # Alice is on call yesterday (00:00-24:00 UTC) and leads the team: tier 2 pages her today.
    _page_checkout(db, T0 - timedelta(hours=25), org)  # more than a day ago
    _page_checkout(db, T0 - timedelta(hours=23), org)
    incident = _page_checkout(db, T0, org)
    commands.escalation_tick(UnitOfWork(db, ManualClock(T0 + timedelta(minutes=5))))
    with db.reader() as s:
        assert s.execute(select(Page.person_id).where(Page.incident_id == incident, Page.step == 2)).scalar_one() == org.alice
    count = _counts(db, [org.alice, org.carol], T0 + timedelta(hours=1))
    alice, carol = count[org.alice], count[org.carol]
    assert (alice.pages, alice.on_shift, alice.since) == (2, False, T0 - timedelta(hours=23))
    assert alice.text == "2 pages in 24 h"
    assert (carol.pages, carol.text) == (0, "0 pages in 24 h")
    assert set(count) == {org.alice, org.carol}


def test_an_override_is_a_shift_of_its_own(db, org, escalating) -> None:  # type: ignore[no-untyped-def]
    with db.writer() as s:
        s.add(Override(rotation_id=org.rotation, person_id=org.carol, starts_at=T0 - timedelta(hours=2),
                       ends_at=T0 + timedelta(hours=2), reason="Bob at the dentist"))
        s.commit()
    _page_checkout(db, T0 - timedelta(hours=3), org)  # Bob's
    _page_checkout(db, T0 - timedelta(hours=1), org)  # Carol's
    count = _counts(db, [org.carol, org.bob], T0)
    assert (count[org.carol].pages, count[org.carol].since, count[org.carol].on_shift) == (
        1, T0 - timedelta(hours=2), True)
    # Bob is still on his day's turn as scheduled: his page before the override counts in it.
    assert (count[org.bob].pages, count[org.bob].since) == (1, DAY_START)


def test_the_night_is_the_one_the_loaded_policy_says(db, uow, org, escalating, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    evening = T0.replace(hour=19)
    first = _page_checkout(db, evening, org)
    text = DEFAULT_PATH.read_text(encoding="utf-8").replace('night = "22:00-07:00"', 'night = "18:00-06:00"')
    assert 'night = "18:00-06:00"' in text
    path = tmp_path / "impact.toml"
    path.write_text(text, encoding="utf-8")
    commands.load_policy(uow, actor_id=org.alice, reason="on-call review: evenings count as nights", path=path)
    second = _page_checkout(db, evening, org)
    with db.reader() as s:
        night = dict(s.execute(select(Page.incident_id, Page.night).where(Page.person_id == org.bob)).all())
    assert night == {first: False, second: True}  # Bob is in UTC: 19:00 is a night only by the new policy
