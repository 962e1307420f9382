"""The closed sets of the impact policy and the rule engine, and how the policy writes durations and numbers.

Severity and ServiceTier come from models.enums; everything only routing speaks of is here.
"""
from __future__ import annotations

import re
from enum import StrEnum


class Metric(StrEnum):
    """What a sample measures. Numeric samples are per scrape interval; qualitative ones carry attributes."""

    AVAILABILITY = "availability"  # percent of requests served successfully in the interval
    ERROR_RATE = "error_rate"  # percent of requests that failed in the interval
    LATENCY_P99_MS = "latency_p99_ms"  # the interval's own 99th percentile, in milliseconds
    TICKETS = "tickets"  # customer tickets opened since the previous sample
    AFFECTED_ACCOUNTS = "affected_accounts"  # accounts affected right now (a gauge, not a counter)
    SENTIMENT = "sentiment"  # customer success: attributes value, account, strategic
    BUSINESS_IMPACT = "business_impact"  # product: attributes value, account

    @property
    def qualitative(self) -> bool:
        """Whether samples of this metric carry attributes rather than a number worth aggregating."""
        return self in (Metric.SENTIMENT, Metric.BUSINESS_IMPACT)

    @property
    def percent(self) -> bool:
        """Whether values are percentages (0 to 100)."""
        return self in (Metric.AVAILABILITY, Metric.ERROR_RATE)

    @property
    def additive(self) -> bool:
        """Whether adding samples up means something (tickets do; a gauge or a percentage does not)."""
        return self is Metric.TICKETS

    @property
    def label(self) -> str:
        """Name the metric in a sentence."""
        return _LABELS[self]

    @property
    def unit(self) -> str:
        """Return the suffix written after a value."""
        return "%" if self.percent else " ms" if self is Metric.LATENCY_P99_MS else ""

    @property
    def digits(self) -> int:
        """Return how many decimals a reader needs (99.95% is not 100%)."""
        return 2 if self.percent else 0


_LABELS = {
    Metric.AVAILABILITY: "availability", Metric.ERROR_RATE: "error rate", Metric.LATENCY_P99_MS: "p99 latency",
    Metric.TICKETS: "tickets", Metric.AFFECTED_ACCOUNTS: "affected accounts", Metric.SENTIMENT: "sentiment",
    Metric.BUSINESS_IMPACT: "business impact",
}


class Sentiment(StrEnum):
    """What customer success reports about an account."""

    POSITIVE = "positive"
    NEUTRAL = "neutral"
    NEGATIVE = "negative"


class BusinessImpact(StrEnum):
    """What product says an incident puts at stake."""

    REVENUE = "revenue"
    COMPLIANCE = "compliance"
    SECURITY = "security"
    REPUTATION = "reputation"
    NONE = "none"


# The attribute values a qualitative rule may match on, so a typo in the policy ("negtive") is refused.
QUALITATIVE_VALUES: dict[Metric, dict[str, tuple[str, ...]]] = {
    Metric.SENTIMENT: {"value": tuple(Sentiment), "strategic": ("true", "false")},
    Metric.BUSINESS_IMPACT: {"value": tuple(BusinessImpact), "strategic": ("true", "false")},
}


class RuleKind(StrEnum):
    THRESHOLD = "threshold"  # an aggregate over one window against a threshold
    BURN_RATE = "burn_rate"  # error-budget burn over a long and a short window, both past the threshold
    RATE_OF_CHANGE = "rate_of_change"  # relative change across a window, usually sustained for a while
    QUALITATIVE = "qualitative"  # a report from a person (sentiment, business impact) that raises a severity


class Action(StrEnum):
    PAGE = "page"  # wake someone now
    TICKET = "ticket"  # a SEV3/SEV4 problem for working hours
    RAISE = "raise"  # bring an incident up to at least this severity; never lowers one


class Aggregate(StrEnum):
    MEAN = "mean"
    MAX = "max"
    MIN = "min"  # "above X for the whole window": every sample was at least this
    SUM = "sum"
    COUNT = "count"


class Comparison(StrEnum):
    GT = ">"
    GE = ">="
    LT = "<"
    LE = "<="

    @property
    def words(self) -> str:
        """Say the comparison in a sentence."""
        return {">": "above", ">=": "at or above", "<": "below", "<=": "at or below"}[self.value]


class Recipient(StrEnum):
    """Who a severity level pages or informs; the routing layer resolves each to people on call."""

    OWNER_ROTATION = "owner_rotation"
    TEAM_LEAD = "team_lead"
    DEPENDENT_ROTATIONS = "dependent_rotations"
    INCIDENT_COMMANDERS = "incident_commanders"
    SUPPORT_LEADS = "support_leads"
    CUSTOMER_SUCCESS = "customer_success"
    EXECUTIVE_ROSTER = "executive_roster"


class Audience(StrEnum):
    INTERNAL = "internal"
    CUSTOMERS = "customers"
    EXECUTIVES = "executives"


_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d{1,7})([smhd])")
_UNIT_WORDS = (("d", 86400, "day"), ("h", 3600, "h"), ("m", 60, "min"), ("s", 1, "s"))


def parse_duration(*, text: str) -> int | None:
    """Return the seconds in a duration such as "90s", "5m", "1h" or "3d", or None if it is not one."""
    found = _DURATION.fullmatch(text.strip())
    return int(found.group(1)) * _UNIT_SECONDS[found.group(2)] if found else None


def duration_token(*, seconds: int) -> str:
    """Write seconds the way the policy file does: 300 -> "5m", 259200 -> "3d"."""
    for unit, size, _ in _UNIT_WORDS:
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def duration_words(*, seconds: int) -> str:
    """Write seconds for a reader: 300 -> "5 min", 3600 -> "1 h", 259200 -> "3 days"."""
    for _, size, word in _UNIT_WORDS:
        if seconds and seconds % size == 0:
            count = seconds // size
            return f"{count} {word}s" if word == "day" and count != 1 else f"{count} {word}"
    return f"{seconds} s"


def number_words(*, value: float, digits: int) -> str:
    """Write a number with thousands separators and no trailing zeros: 2000.0 -> "2,000", 14.40 -> "14.4"."""
    text = f"{value:,.{digits}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text
