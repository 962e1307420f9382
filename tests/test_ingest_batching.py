"""Group commit in the ingest sink: requests that queue up are stored together, each still answered on its own."""
from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime

from console.errors import DatabaseUnavailable, InvalidInput
from console.ingest.batching import BatchingSink
from console.ingest.events import EventAction, IngestOutcome, SignalEvent, SignalKind, SignalSource


def _event(key: str) -> SignalEvent:
    return SignalEvent(source=SignalSource.GENERIC, action=EventAction.TRIGGER, dedup_key=key, service="checkout",
                       summary=key, severity_hint=None, value=None, observed_at=datetime(2026, 12, 1, tzinfo=UTC),
                       kind=SignalKind.ALERT, labels={}, attributes={}, raw_ref="")


class _Store:
    """A store that holds the first call until released, so that the requests behind it queue up."""

    def __init__(self, *, refuse: str = "", unavailable: bool = False) -> None:
        self.calls: list[list[str]] = []
        self.first_started, self.release = threading.Event(), threading.Event()
        self.refuse, self.unavailable = refuse, unavailable

    def __call__(self, events: Sequence[SignalEvent]) -> None:
        keys = [e.dedup_key for e in events]
        if not self.calls:
            self.calls.append(keys)
            self.first_started.set()
            self.release.wait(timeout=30)
            return
        if self.unavailable:
            raise DatabaseUnavailable("the database is unreachable")
        if self.refuse in keys:
            raise InvalidInput(f"events: {self.refuse} is refused")
        self.calls.append(keys)


def _flood(sink: BatchingSink, store: _Store, keys: list[str]) -> dict[str, object]:
    """Send one request first and hold it; send the rest while it is held; then let everything through."""
    results: dict[str, object] = {}

    def send(key: str) -> None:
        try:
            results[key] = sink([_event(key)])
        except Exception as error:  # noqa: BLE001 - the answer this request got
            results[key] = error

    first = threading.Thread(target=send, args=(keys[0],))
    first.start()
    assert store.first_started.wait(timeout=30)
    rest = [threading.Thread(target=send, args=(key,)) for key in keys[1:]]
    for thread in rest:
        thread.start()
    assert sink.wait_for_queue(length=len(rest), timeout=30)
    store.release.set()
    for thread in [first, *rest]:
        thread.join(timeout=30)
    return results


def test_requests_that_queue_behind_one_are_stored_together_in_one_call() -> None:
    store = _Store()
    sink = BatchingSink(store=store)
    results = _flood(sink, store, [f"k{n}" for n in range(8)])
    assert all(getattr(r, "outcome", None) is IngestOutcome.ACCEPTED for r in results.values())
    assert store.calls[0] == ["k0"] and len(store.calls) == 2  # the seven that queued: one transaction
    assert sorted(store.calls[1]) == [f"k{n}" for n in range(1, 8)]


def test_one_bad_request_in_a_batch_is_refused_alone_and_the_others_are_stored() -> None:
    store = _Store(refuse="k3")
    sink = BatchingSink(store=store)
    results = _flood(sink, store, [f"k{n}" for n in range(6)])
    assert isinstance(results["k3"], InvalidInput) and "k3 is refused" in str(results["k3"])
    assert all(getattr(results[k], "outcome", None) is IngestOutcome.ACCEPTED for k in ("k0", "k1", "k2", "k4", "k5"))
    stored = sorted(k for call in store.calls for k in call)
    assert stored == ["k0", "k1", "k2", "k4", "k5"]  # each stored once, none twice, the bad one never


def test_a_lost_database_fails_every_queued_request_so_each_sender_retries() -> None:
    store = _Store(unavailable=True)
    sink = BatchingSink(store=store)
    results = _flood(sink, store, ["k0", "k1", "k2"])
    assert all(isinstance(results[k], DatabaseUnavailable) for k in ("k1", "k2"))


def test_a_combined_store_never_exceeds_its_size() -> None:
    store = _Store()
    sink = BatchingSink(store=store, max_events=3)
    _flood(sink, store, [f"k{n}" for n in range(8)])
    assert [len(call) for call in store.calls] == [1, 3, 3, 1]


def test_a_single_request_is_stored_at_once() -> None:
    calls: list[int] = []
    sink = BatchingSink(store=lambda events: calls.append(len(events)))
    assert sink([_event("solo"), _event("duo")]).accepted == 2 and calls == [2]
