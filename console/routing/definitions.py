"""The policy's frozen values: severity levels, rules, and the policy that holds them.

console/routing/policy.py reads them from TOML; console/routing/rules.py evaluates the rules.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from console.errors import InvalidInput
from console.routing.vocabulary import (
    Action,
    Aggregate,
    Audience,
    Comparison,
    Metric,
    Recipient,
    RuleKind,
)
from models.enums import ChannelKind, ServiceTier, Severity

EVERY_SERVICE = "*"
_EMPTY: Mapping[str, tuple[str, ...]] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class SeverityLevel:
    """What a severity means and whom it engages."""

    severity: Severity
    name: str
    description: str
    ack_minutes: int
    page: tuple[Recipient, ...]
    inform: tuple[Recipient, ...]
    templates: tuple[str, ...]
    updates: Mapping[Audience, int] = field(hash=False)  # minutes between updates; absent = none scheduled
    # The channels a communication to each audience goes to unless the sender picks others.
    channels: Mapping[Audience, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}), hash=False)

    def update_minutes(self, *, audience: Audience) -> int | None:
        """Return the minutes between updates for the audience, or None when it gets no scheduled updates."""
        return self.updates.get(audience)


@dataclass(frozen=True, slots=True)
class ChannelDef:
    """A place communications go to: its kind (the adapter), how fast it may be sent to, status page components."""

    name: str
    kind: ChannelKind
    description: str
    per_second: float  # the provider's rate limit for this destination
    components: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), hash=False)  # service -> id

    @property
    def interval(self) -> float:
        """Return the seconds between two sends to this destination."""
        return 1.0 / self.per_second


@dataclass(frozen=True, slots=True)
class Rule:
    """One criterion: which services, which metric over which windows, and the severity and action it implies.

    Windows and durations are in seconds. Fields a kind does not use keep their empty defaults.
    """

    id: str
    description: str
    kind: RuleKind
    metric: Metric
    severity: Severity
    action: Action
    services: tuple[str, ...] = ()  # ("*",) for every service; empty when `tiers` says which
    tiers: tuple[ServiceTier, ...] = ()
    windows: tuple[int, ...] = ()  # one window, or (long, short) for a burn rate
    aggregate: Aggregate | None = None
    comparison: Comparison | None = None
    threshold: float | None = None
    slo_percent: float | None = None
    sustain_seconds: int = 0
    clear_after_seconds: int = 0
    hold_seconds: int = 0
    match: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: _EMPTY, hash=False)

    def applies_to(self, *, service: str, tier: str) -> bool:
        """Tell whether the rule concerns a service of this tier."""
        return self.services == (EVERY_SERVICE,) or service in self.services or tier in self.tiers


@dataclass(frozen=True, slots=True)
class Fatigue:
    """How many pages a person may get before the commander is warned: per on-call shift, and at night."""

    max_pages_per_shift: int = 6
    max_night_pages_per_shift: int = 2
    night_starts_hour: int = 22  # in the person's own time zone
    night_ends_hour: int = 7

    def is_night(self, *, hour: int) -> bool:
        """Say whether a local hour falls in the night."""
        if self.night_starts_hour <= self.night_ends_hour:
            return self.night_starts_hour <= hour < self.night_ends_hour
        return hour >= self.night_starts_hour or hour < self.night_ends_hour


@dataclass(frozen=True, slots=True)
class Policy:
    """One version of the impact policy."""

    version: str
    description: str
    digest: str  # sha256 of the text (line endings normalised), see policy_digest
    source: str  # the file it was read from, for messages
    levels: tuple[SeverityLevel, ...]  # SEV1 first
    rules: tuple[Rule, ...]
    fatigue: Fatigue = Fatigue()
    channels: Mapping[str, ChannelDef] = field(default_factory=lambda: MappingProxyType({}), hash=False)

    def channel(self, *, name: str) -> ChannelDef:
        """Return the channel with this name; raise InvalidInput naming the policy if there is none."""
        try:
            return self.channels[name]
        except KeyError:
            raise InvalidInput(f"policy {self.version} has no channel {name!r}") from None

    def level(self, *, severity: Severity) -> SeverityLevel:
        """Return the level of a severity."""
        return self.levels[Severity(severity).rank - 1]

    def rule(self, *, rule_id: str) -> Rule:
        """Return the rule with this id; raise InvalidInput naming the policy if there is none."""
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise InvalidInput(f"policy {self.version} has no rule {rule_id!r}")
