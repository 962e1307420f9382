"""A rule engine that follows the impact policy loaded in the database.

The engine keeps each service's recent samples (its windows), so it lives as long as the process that routes;
when someone loads a new policy version it is rebuilt from that version (looked up at most every
`check_seconds`, a one-row query).
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable

from console.queries import Reader
from console.routing.rules import RuleEngine

CHECK_SECONDS = 10.0


class FollowedEngine:
    """Hand out the rule engine for the newest loaded policy; safe to call from several threads."""

    def __init__(self, *, reader: Reader, check_seconds: float = CHECK_SECONDS,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._reader, self._check_seconds, self._monotonic = reader, check_seconds, monotonic
        self._lock = threading.Lock()
        self._engine: RuleEngine | None = None
        self._checked = 0.0

    def engine(self) -> RuleEngine:
        """Return the engine, rebuilt first if a newer policy version was loaded since the last look."""
        with self._lock:
            now = self._monotonic()
            if self._engine is None:
                policy = self._reader.current_policy()
                assert policy is not None
                self._engine, self._checked = RuleEngine(policy=policy), now
            elif now - self._checked >= self._check_seconds:
                self._checked = now
                newer = self._reader.current_policy(known_digest=self._engine.policy.digest)
                if newer is not None:  # new rules, the same router: it keeps its lease on the samples
                    self._engine = RuleEngine(policy=newer, instance_id=self._engine.instance_id)
            return self._engine
