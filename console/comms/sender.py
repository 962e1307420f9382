"""The sender: claims due deliveries, sends each at its slot on its channel's own thread, settles the outcome.

Given its database steps as functions (the commands claim_deliveries and settle_delivery, wired by the caller:
nothing in console/ imports the commands), adapters by channel kind and an endpoint source. One thread per
channel keeps a channel's messages in order and a slow provider from holding up the others; the claim loop
skips channels still busy, so a claimed row is never left waiting in memory long enough for its lease to end.

A sandbox delivery never reaches an adapter: it is settled as kept on this machine.
"""
from __future__ import annotations

import collections
import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from console.clock import Clock
from console.comms.wire import Endpoint, Outcome, OutcomeKind
from console.comms.outbox import Claim
from console.errors import DatabaseUnavailable
from models.enums import ChannelKind

if TYPE_CHECKING:  # the adapters import requests: the sender is handed them, it does not import them
    from console.comms.channels.base import Adapter

log = logging.getLogger(__name__)

SANDBOX_DETAIL = "kept in the sandbox outbox: nothing left this machine"
ClaimStep = Callable[[frozenset[str]], list[Claim]]
SettleStep = Callable[[list[tuple[Claim, Outcome, float]]], None]
_SETTLE_BATCH = 200


@dataclass(frozen=True)
class SenderSettings:
    timeout: float = 10.0  # one request
    idle_poll: float = 1.0  # look for work queued by other consoles this often
    busy_poll: float = 0.05
    # A channel is claimed for again once less than this much of its claimed work is left (in seconds of its
    # slots), so the next batch is in hand before the last one runs out and the destination never waits on a claim.
    lookahead: float = 0.5
    settle_retry: float = 1.0  # the database was away: try recording the outcome again after this


class Sender:
    """Delivers the outbox until stopped. `run_once` does one claim round (tests drive it directly)."""

    def __init__(self, *, claim: ClaimStep, settle: SettleStep, adapters: Mapping[ChannelKind, Adapter],
                 endpoints: Callable[[str], Endpoint | None], clock: Clock,
                 settings: SenderSettings = SenderSettings(), rng: random.Random | None = None) -> None:
        self._claim, self._settle = claim, settle
        self._adapters, self._endpoints, self._clock = adapters, endpoints, clock
        self.settings = settings
        self._rng = rng or random.Random()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._queues: dict[str, queue.Queue[Claim | None]] = {}
        self._busy: dict[str, int] = {}
        self._queued_until: dict[str, datetime] = {}  # the last slot claimed per channel
        self._threads: list[threading.Thread] = []
        self._loop: threading.Thread | None = None
        # Outcomes are recorded by one thread, many to a transaction: a commit per message (an fsync on SQLite)
        # capped a destination at ~30 messages a second; batching keeps the crash window to one batch.
        self._outcomes: queue.Queue[tuple[Claim, Outcome, float] | None] = queue.Queue()
        self._settler: threading.Thread | None = None

    def start(self) -> None:
        """Run the claim loop on a thread of its own."""
        self._loop = threading.Thread(target=self._run, name="comms-sender", daemon=True)
        self._settler = threading.Thread(target=self._settle_outcomes, name="comms-settle", daemon=True)
        self._settler.start()
        self._loop.start()

    def wake(self) -> None:
        """Look for work now (a message was just queued here)."""
        self._wake.set()

    def stop(self, *, timeout: float = 5.0) -> None:
        """Stop claiming, let each channel finish the request in flight, and return."""
        self._stop.set()
        self._wake.set()
        with self._lock:
            for q in self._queues.values():
                q.put(None)
        for thread in [*self._threads, *([self._loop] if self._loop else [])]:
            thread.join(timeout)
        self._outcomes.put(None)  # after the channels: what they sent is recorded before the settler ends
        if self._settler is not None:
            self._settler.join(timeout)

    def idle(self) -> bool:
        """Say whether no channel has claimed work in hand."""
        with self._lock:
            return not any(self._busy.values())

    def run_once(self) -> int:
        """Claim what is due and hand it to the channels' threads; return how many were claimed."""
        with self._lock:
            busy = frozenset(channel for channel, count in self._busy.items() if count and self._ahead(channel))
        try:
            claims = self._claim(busy)
        except DatabaseUnavailable as error:
            log.info("sender: cannot claim deliveries now (%s)", error)
            return 0
        for claim in claims:
            self._queue_for(claim.channel).put(claim)
            with self._lock:
                self._queued_until[claim.channel] = max(claim.send_at, self._queued_until.get(claim.channel,
                                                                                             claim.send_at))
        return len(claims)

    def _ahead(self, channel: str) -> bool:
        """Say whether a channel still holds more than the lookahead of claimed work (call with the lock held)."""
        until = self._queued_until.get(channel)
        return until is not None and (until - self._clock.now()).total_seconds() > self.settings.lookahead

    def deliver_now(self, claims: list[Claim]) -> None:
        """Attempt and settle claims on the calling thread, in order (tests and the command line)."""
        for claim in claims:
            self._record([(claim, self.attempt(claim), self._rng.random())])

    def _run(self) -> None:
        while not self._stop.is_set():
            claimed = self.run_once()
            self._wake.wait(self.settings.busy_poll if claimed else self.settings.idle_poll)
            self._wake.clear()

    def _queue_for(self, channel: str) -> queue.Queue[Claim | None]:
        with self._lock:
            self._busy[channel] = self._busy.get(channel, 0) + 1
            if channel not in self._queues:
                self._queues[channel] = queue.Queue()
                thread = threading.Thread(target=self._work, args=(channel, self._queues[channel]),
                                          name=f"comms-{channel}", daemon=True)
                self._threads.append(thread)
                thread.start()
            return self._queues[channel]

    def _work(self, channel: str, claims: queue.Queue[Claim | None]) -> None:
        recent: collections.deque[float] = collections.deque()  # when the last second's sends went out
        while (claim := claims.get()) is not None:
            try:
                # At its slot, and never more sends in any one second than the destination allows: a send held up
                # (a slow reply, the GIL) may catch up on the slots it overran, but not in a burst past the limit.
                per_second = max(1, round(1 / claim.interval)) if claim.interval else 0
                delay = (claim.send_at - self._clock.now()).total_seconds()
                if per_second and len(recent) >= per_second:
                    # (30 ms to spare: the network and a busy receiver may bring two requests closer than they left)
                    delay = max(delay, recent[-per_second] + 1.03 - time.monotonic())
                if delay > 0 and self._stop.wait(delay):
                    return  # stopping: the lease lets the next sender have it
                recent.append(time.monotonic())
                while len(recent) > max(per_second, 1):
                    recent.popleft()
                self._outcomes.put((claim, self.attempt(claim), self._rng.random()))
            finally:
                with self._lock:
                    self._busy[channel] -= 1
                    running_low = not self._busy[channel] or not self._ahead(channel)
                if running_low:
                    self._wake.set()

    def _settle_outcomes(self) -> None:
        while (first := self._outcomes.get()) is not None:
            batch = [first]
            while len(batch) < _SETTLE_BATCH:
                try:
                    item = self._outcomes.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._record(batch)
                    return
                batch.append(item)
            self._record(batch)

    def attempt(self, claim: Claim) -> Outcome:
        """Make one attempt at a claimed delivery and say what happened; never raises."""
        if claim.sandbox:
            return Outcome(OutcomeKind.DELIVERED, SANDBOX_DETAIL)
        endpoint = self._endpoints(claim.channel)
        if endpoint is None:
            return Outcome(OutcomeKind.FAILED, f"no endpoint is set for channel {claim.channel}: set it with "
                                               f"`python main.py channel set {claim.channel}`, then send again")
        try:
            return self._adapters[claim.kind].deliver(claim.outgoing, endpoint, timeout=self.settings.timeout, now=self._clock.now())
        except Exception as error:  # noqa: BLE001 - an adapter bug must not kill the channel's thread
            log.exception("sender: the %s adapter failed on delivery #%d", claim.channel, claim.delivery_id)
            return Outcome(OutcomeKind.RETRY, f"the {claim.channel} adapter failed ({type(error).__name__})")

    def _record(self, outcomes: list[tuple[Claim, Outcome, float]]) -> None:
        while True:
            try:
                self._settle(outcomes)
                return
            except DatabaseUnavailable as error:
                # The attempts are made; only their record is waiting. Should this process die now, the leases run
                # out and the deliveries are sent again with the same idempotency keys.
                log.info("sender: cannot record %d outcome(s) yet (%s)", len(outcomes), error)
                if self._stop.wait(self.settings.settle_retry):
                    return
