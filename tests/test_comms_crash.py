"""A console killed in the middle of a send: the message is neither lost nor, where the channel takes an
idempotency key, sent twice. The sender runs in a real process that is SIGKILLed while the request is in flight."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from console import commands
from console.clock import ManualClock
from console.commands import comms
from console.comms.channels import ADAPTERS
from console.comms.sender import Sender
from console.comms.wire import Endpoint
from console.uow import UnitOfWork
from models.comms import Delivery
from models.enums import DeliveryState
from tests.comms_servers import HttpStub

ROOT = Path(__file__).resolve().parent.parent
SENDER = textwrap.dedent("""
    import sys
    from console.clock import SystemClock
    from console.commands import comms
    from console.comms.channels import ADAPTERS
    from console.comms.sender import Sender
    from console.comms.wire import Endpoint
    from console.db import open_database
    from console.uow import UnitOfWork
    uow = UnitOfWork(open_database(sys.argv[1]), SystemClock())
    sender = Sender(claim=None, settle=lambda outcomes: comms.settle_deliveries(uow, outcomes=outcomes),
                    adapters=ADAPTERS, endpoints={"ops-webhook": Endpoint(url=sys.argv[2])}.get, clock=SystemClock())
    sender.deliver_now(comms.claim_deliveries(uow, sender_id="doomed", timeout=30.0, horizon=0.0))
""")


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    return sqlite_url


def test_a_sender_killed_mid_send_leaves_the_message_to_be_sent_again_with_the_same_key(db, org, db_url) -> None:  # type: ignore[no-untyped-def]
    now = datetime.now(timezone.utc)
    uow = UnitOfWork(db, ManualClock(now))
    incident = commands.open_incident(uow, actor_id=org.alice, title="Logins failing", severity="SEV1",
                                      service_id=org.identity).created_incident
    comms.send_message(uow, actor_id=org.alice, incident_id=incident, template="internal_brief", subject="Logins",
                       body="We are on it.", channels=("ops-webhook",))
    with HttpStub() as stub:
        stub.slow(60)  # the first request hangs until the process is gone
        process = subprocess.Popen([sys.executable, "-c", SENDER, db_url, f"{stub.url}/hook"], cwd=ROOT,
                                   env=dict(os.environ, PYTHONPATH=str(ROOT)))
        try:
            (first,) = stub.wait_for_requests(1, timeout=30)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
        with db.reader() as s:
            assert s.execute(select(Delivery.state)).scalar_one() is DeliveryState.SENDING  # not lost: still claimed
        later = UnitOfWork(db, ManualClock(now + timedelta(minutes=2)))  # past the lease (30 s + 30 s margin)
        sender = Sender(claim=None, settle=lambda outcomes: comms.settle_deliveries(later, outcomes=outcomes),
                        adapters=ADAPTERS, endpoints={"ops-webhook": Endpoint(url=f"{stub.url}/hook")}.get,
                        clock=later.clock)
        (again,) = comms.claim_deliveries(later, sender_id="restarted", timeout=10.0, horizon=0.0)
        assert again.resent
        sender.deliver_now([again])
        second = stub.requests[-1]
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]  # the receiver drops the repeat
    with db.reader() as s:
        delivery = s.execute(select(Delivery)).scalar_one()
    assert delivery.state is DeliveryState.DELIVERED and delivery.interrupted == 1 and delivery.attempts == 2
