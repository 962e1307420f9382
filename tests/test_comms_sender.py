"""The sender's own pacing, without a database: a channel that fell behind its slots catches up, but never sends
more in any one second than the destination allows."""
from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

from console.clock import SystemClock
from console.comms.outbox import Claim
from console.comms.sender import Sender, SenderSettings
from console.comms.wire import Endpoint, Outcome, OutcomeKind, Outgoing
from models.enums import ChannelKind


class _Recorder:
    kind = ChannelKind.WEBHOOK
    supports_idempotency = True

    def __init__(self, expected: int) -> None:
        self.times: list[float] = []
        self.done = threading.Event()
        self._expected = expected

    def deliver(self, outgoing: Outgoing, endpoint: Endpoint, *, timeout: float, now: datetime) -> Outcome:
        self.times.append(time.monotonic())
        if len(self.times) == self._expected:
            self.done.set()
        return Outcome(OutcomeKind.DELIVERED, "ok")

    def check(self, endpoint: Endpoint) -> None:
        pass


def _claims(count: int, *, per_second: int, late_by: float) -> list[Claim]:
    start = datetime.now(timezone.utc) - timedelta(seconds=late_by)  # every slot already past: a stalled channel
    outgoing = Outgoing(idempotency_key="k", incident_ref="INC-1", incident_title="t", severity="SEV1",
                        incident_status="triggered", audience="internal", subject="s", body="b", sent_at=start)
    return [Claim(delivery_id=n, channel="hook", kind=ChannelKind.WEBHOOK, sandbox=False,
                  send_at=start + timedelta(seconds=n / per_second), interval=1 / per_second, claimed_by="t",
                  resent=False, outgoing=outgoing) for n in range(count)]


def test_a_channel_behind_its_slots_catches_up_without_passing_its_limit_in_any_second() -> None:
    adapter = _Recorder(expected=12)
    batches = [_claims(12, per_second=5, late_by=10)]
    settled: list[Outcome] = []
    sender = Sender(claim=lambda _skip: batches.pop() if batches else [],
                    settle=lambda outcomes: settled.extend(o for _, o, _ in outcomes),
                    adapters={ChannelKind.WEBHOOK: adapter}, endpoints=lambda _name: Endpoint(url="http://x"),
                    clock=SystemClock(), settings=SenderSettings(idle_poll=0.05))
    sender.start()
    try:
        assert adapter.done.wait(timeout=10)
    finally:
        sender.stop()
    times = adapter.times
    assert max(sum(1 for t in times if start <= t < start + 1.0) for start in times) <= 5
    assert times[4] - times[0] < 0.5  # the first five went at once: the slots were long past
    assert len(settled) == 12
