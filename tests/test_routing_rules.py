"""Windows and the rule engine, driven by explicit timestamps: burn rates, flapping, sustained change, raises, floors.

Property-based tests (hypothesis) compare the sliding windows and a threshold rule's firings with brute force.
"""
from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.errors import InvalidInput
from console.routing import Action, Decision, Policy, RuleEngine, Sample, apply_person_floor, load_policy
from console.routing.policy import DEFAULT_PATH
from console.routing.windows import Series
from models.enums import Severity

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
LEVELS = DEFAULT_PATH.read_text(encoding="utf-8").split("[[rules]]")[0]
PROPERTY = settings(max_examples=150, deadline=None, database=None)


def _policy(rules: str) -> Policy:
    """The shipped levels with only the given rules."""
    return load_policy(text=LEVELS + rules)


def _threshold_rule(**overrides: str | float) -> str:
    """One [[rules]] table: error rate averaged over a window above a threshold, with the keys given changed."""
    keys = {"id": "errors-high", "description": "Too many errors.", "kind": "threshold", "metric": "error_rate",
            "services": "*", "aggregate": "mean", "window": "1m", "comparison": ">", "threshold": 5.0,
            "sustain": "0m", "clear_after": "10m", "severity": "SEV3", "action": "page"} | overrides
    return "\n[[rules]]\n" + "".join(f"{key} = {json.dumps(value)}\n" for key, value in keys.items())


def _feed(engine: RuleEngine, *, service: str, tier: str, metric: str, values: list[float], start: datetime,
          step: timedelta = timedelta(minutes=1)) -> list[Decision]:
    decisions = []
    for index, value in enumerate(values):
        sample = Sample(service=service, tier=tier, metric=metric, value=value, at=start + index * step)
        decisions += engine.observe(sample=sample)
    return decisions


# --- windows -----------------------------------------------------------------------------------------------------

def test_a_window_holds_the_samples_of_its_last_seconds() -> None:
    series = Series()
    five, ten = series.window(seconds=300, extremes=True), series.window(seconds=600)
    for minute, value in enumerate([1.0, 9.0, 3.0, 4.0, 5.0, 6.0, 2.0]):
        series.add(at=minute * 60.0, value=value)
    # At minute 6 the 5-minute window holds minutes 2..6 (minute 1 is exactly 300 s old: out).
    assert (five.count(), five.total, five.mean()) == (5, 20.0, 4.0)
    assert (five.maximum(), five.minimum(), five.first(), five.first_time()) == (6.0, 2.0, 3.0, 120.0)
    assert (ten.count(), ten.total) == (7, 30.0)


def test_a_late_sample_lands_in_place_and_a_too_old_one_is_dropped() -> None:
    series = Series()
    window = series.window(seconds=300, extremes=True)
    for second, value in ((0, 1.0), (100, 2.0), (200, 3.0)):
        series.add(at=float(second), value=value)
    assert series.add(at=150.0, value=10.0)
    assert (window.count(), window.total, window.maximum(), series.last) == (4, 16.0, 10.0, 3.0)
    series.add(at=600.0, value=1.0)
    assert not series.add(at=250.0, value=99.0)  # older than the longest window: no window could hold it
    assert (window.count(), window.total) == (1, 1.0)


def test_memory_stays_bounded_on_a_long_stream() -> None:
    series = Series()
    window = series.window(seconds=60)
    for second in range(100_000):
        series.add(at=float(second), value=float(second % 7))
    assert len(series) <= 2 * 4096 + 60
    assert window.count() == 60
    assert window.mean() == pytest.approx(sum(float(s % 7) for s in range(100_000 - 60, 100_000)) / 60)


@PROPERTY
@given(windows=st.lists(st.integers(1, 900), min_size=1, max_size=4, unique=True),
       steps=st.lists(st.tuples(st.integers(-120, 90), st.floats(0, 1e5, allow_nan=False).map(lambda v: round(v, 2))),
                      min_size=1, max_size=250))
def test_window_aggregates_equal_brute_force(windows: list[int], steps: list[tuple[int, float]]) -> None:
    series = Series()
    made = {seconds: series.window(seconds=seconds, extremes=True) for seconds in windows}
    kept: list[tuple[float, float]] = []  # accepted samples in arrival order
    clock = 1_800_000_000.0
    for delta, value in steps:
        at = clock + delta
        clock = max(clock, at)
        newest = max((t for t, _ in kept), default=at)
        expected_kept = at >= newest or at > newest - max(windows)
        same_time = [v for t, v in kept if t == at]
        repeat = expected_kept and bool(same_time) and same_time[-1] == value  # the same observation sent again
        assert series.add(at=at, value=value) == expected_kept
        if expected_kept and not repeat:
            kept.append((at, value))
        newest = max(t for t, _ in kept) if kept else at
        ordered = sorted(kept, key=lambda sample: sample[0])  # stable: equal times keep their arrival order
        for seconds, window in made.items():
            inside = [v for t, v in ordered if newest - seconds < t <= newest]
            assert window.count() == len(inside)
            assert window.seen() == min(seconds, newest - ordered[0][0])
            if not inside:
                continue
            assert math.isclose(window.mean() or 0.0, math.fsum(inside) / len(inside), rel_tol=1e-9, abs_tol=1e-6)
            assert (window.maximum(), window.minimum(), window.first()) == (max(inside), min(inside), inside[0])


# --- burn rates --------------------------------------------------------------------------------------------------

def test_a_burn_rate_pages_only_when_both_windows_burn_and_again_after_recovery() -> None:
    engine = RuleEngine(policy=load_policy())
    quiet, burning = 0.05, 3.0  # percent of requests failing; the 99.9% SLO leaves 0.1%, so 30x while burning
    values = ([quiet] * 120  # minutes 0-119: nothing
              + [10.0] + [quiet] * 59  # 120-179: a one-minute spike, only the 5-minute window burns
              + [burning] * 60  # 180-239: a real burn
              + [quiet] * 60  # 240-299: recovered; the 1-hour window still burns, the 5-minute one does not
              + [burning] * 60)  # 300-359: burning again
    decisions = [d for d in _feed(engine, service="identity", tier="foundational", metric="error_rate",
                                  values=values, start=T0) if d.rule_id == "slo-fast-burn"]
    # The 1-hour mean passes 1.44% once 29 of its 60 samples burn: minute 208; the 5-minute one passed at 182.
    assert [d.at for d in decisions][:1] == [T0 + timedelta(minutes=208)]
    assert len(decisions) == 2 and decisions[1].at > T0 + timedelta(minutes=300)
    first = decisions[0]
    assert (first.severity, first.action, first.service, first.policy_version) == (
        Severity.SEV1, Action.PAGE, "identity", "2026-11-27.1")
    assert re.fullmatch(r"Error budget of identity burning 14\.\dx over 1 h and 30x over 5 min \(threshold 14\.4x "
                        r"both, SLO 99\.9%\) — page SEV1 \(rule slo-fast-burn, policy 2026-11-27\.1\)",
                        first.reason), first.reason
    assert first.inputs["burn_rate_5m"] == pytest.approx(30.0) and first.inputs["burn_rate_1h"] >= 14.4
    assert dict(first.thresholds) == {"burn_rate": 14.4, "comparison": ">=", "slo_percent": 99.9,
                                      "long_window": "1h", "short_window": "5m"}


def test_a_burn_rule_for_one_tier_leaves_other_tiers_alone() -> None:
    engine = RuleEngine(policy=load_policy())
    decisions = _feed(engine, service="web-app", tier="edge", metric="error_rate", values=[50.0] * 361, start=T0)
    assert {d.rule_id for d in decisions} == {"slo-fast-burn-edge", "slo-slow-burn", "slo-budget-drain"}
    assert {d.severity for d in decisions if d.rule_id == "slo-fast-burn-edge"} == {Severity.SEV2}


def test_a_burn_rate_waits_for_its_short_window_of_history_and_says_how_much_it_has() -> None:
    engine = RuleEngine(policy=load_policy())
    decisions = _feed(engine, service="identity", tier="foundational", metric="error_rate", values=[5.0] * 400,
                      start=T0)
    when = {d.rule_id: d.at - T0 for d in decisions}
    # A console that has just started pages after the short window, not on its first sample.
    assert when == {"slo-fast-burn": timedelta(minutes=5), "slo-slow-burn": timedelta(minutes=30),
                    "slo-budget-drain": timedelta(hours=6)}
    fast = next(d for d in decisions if d.rule_id == "slo-fast-burn")
    assert fast.reason.startswith("Error budget of identity burning 50x over 1 h (only 5 min of data so far) and "
                                  "50x over 5 min (threshold")


def test_a_window_that_claims_every_sample_waits_until_it_is_full() -> None:
    engine = RuleEngine(policy=load_policy())
    slow = [5000.0] * 15  # latency-p99-edge: the min over 10 min above 3 s, i.e. slow throughout
    decisions = [d for d in _feed(engine, service="web-app", tier="edge", metric="latency_p99_ms", values=slow,
                                  start=T0) if d.rule_id == "latency-p99-edge"]
    assert [d.at - T0 for d in decisions] == [timedelta(minutes=10)]
    assert decisions[0].reason.startswith("P99 latency of web-app stayed at or above 5,000 ms over 10 min (threshold")


# --- flapping ----------------------------------------------------------------------------------------------------

def test_a_flapping_metric_fires_once_and_again_only_after_staying_clear() -> None:
    engine = RuleEngine(policy=_policy(_threshold_rule(clear_after="10m")))
    flapping = [10.0, 0.0] * 30 + [0.0] * 15 + [10.0]  # an hour of flapping, 15 quiet minutes, a new problem
    decisions = _feed(engine, service="billing-engine", tier="core", metric="error_rate", values=flapping, start=T0)
    assert [d.at for d in decisions] == [T0, T0 + timedelta(minutes=75)]
    assert decisions[1].reason == ("Error rate of billing-engine averaged 10% over 1 min (threshold above 5%) — "
                                   "page SEV3 (rule errors-high, policy 2026-11-27.1)")
    assert "(only one sample so far; threshold above 5%)" in decisions[0].reason  # the console had just started


def test_without_a_clear_time_every_rise_fires_which_is_what_clear_after_prevents() -> None:
    engine = RuleEngine(policy=_policy(_threshold_rule(clear_after="0m")))
    decisions = _feed(engine, service="billing-engine", tier="core", metric="error_rate", values=[10.0, 0.0] * 30,
                      start=T0)
    assert len(decisions) == 30


@pytest.mark.parametrize(("quiet_minutes", "fires_again"), [(9, False), (10, True)])
def test_a_rule_rearms_after_exactly_clear_after_of_false(quiet_minutes: int, fires_again: bool) -> None:
    engine = RuleEngine(policy=_policy(_threshold_rule(clear_after="10m")))
    values = [10.0] + [0.0] * quiet_minutes + [10.0]  # false from minute 1 until the next true sample
    decisions = _feed(engine, service="ledger", tier="core", metric="error_rate", values=values, start=T0)
    assert len(decisions) == (2 if fires_again else 1)


def _brute_fires(times: list[float], values: list[int], *, window: int, threshold: float, clear: int,
                 sustain: int) -> list[float]:
    """When a threshold rule should fire, from the raw samples, reasoning over runs of true and false."""
    conditions = []
    for index, now in enumerate(times):
        inside = [v for t, v in zip(times[:index + 1], values, strict=False) if now - window < t]
        conditions.append(sum(inside) / len(inside) > threshold)
    fires: list[float] = []
    armed, false_from, run_from = True, None, None
    for now, holds in zip(times, conditions, strict=True):
        if not holds:
            false_from = now if false_from is None else false_from
            run_from = None
            continue
        if run_from is None:  # a run of true starts; a long enough false spell before it makes it a new episode
            if false_from is not None and now - false_from >= clear:
                armed = True
            run_from, false_from = now, None
        if armed and now - run_from >= sustain:
            fires.append(now)
            armed = False
    return fires


@PROPERTY
@given(values=st.lists(st.integers(0, 20), min_size=1, max_size=120),
       gaps=st.lists(st.integers(10, 150), min_size=120, max_size=120),
       window=st.sampled_from([60, 300, 600]), whole=st.integers(0, 19),
       clear=st.sampled_from([0, 180, 600]), sustain=st.sampled_from([0, 120, 300]))
def test_a_threshold_rule_fires_exactly_where_brute_force_says(
        values: list[int], gaps: list[int], window: int, whole: int, clear: int, sustain: int) -> None:
    threshold = whole + 0.37  # a mean of at most 90 whole numbers never equals it: no ties at the boundary
    engine = RuleEngine(policy=_policy(_threshold_rule(window=f"{window}s", threshold=threshold,
                                                       sustain=f"{sustain}s", clear_after=f"{clear}s")))
    times, at, fired = [], T0, []
    for value, gap in zip(values, gaps, strict=False):
        at += timedelta(seconds=gap)
        times.append(at.timestamp())
        fired += [d.at.timestamp() for d in engine.observe(
            sample=Sample(service="ledger", tier="core", metric="error_rate", value=float(value), at=at))]
    assert fired == _brute_fires(times, values, window=window, threshold=threshold, clear=clear, sustain=sustain)


# --- sustained rate of change ------------------------------------------------------------------------------------

def test_rising_latency_pages_once_it_has_kept_rising_for_five_minutes() -> None:
    engine = RuleEngine(policy=load_policy())
    flat = [300.0] * 20
    blip = [300.0, 500.0, 520.0, 300.0] + [300.0] * 16  # rises past 50% for two minutes only
    ramp = [300.0 * 1.08 ** k for k in range(1, 30)]  # keeps climbing 8% a minute
    values = flat + blip + ramp
    decisions = [d for d in _feed(engine, service="search-index", tier="core", metric="latency_p99_ms",
                                  values=values, start=T0) if d.rule_id == "latency-rising"]
    # Brute force: the change across the 10-minute window (oldest sample in it vs the newest) per minute.
    change = [(values[i] - values[max(0, i - 9)]) / values[max(0, i - 9)] * 100 for i in range(len(values))]
    first_true = next(i for i in range(40, len(values)) if change[i] > 50)
    assert all(change[i] > 50 for i in range(first_true, first_true + 6))
    assert [d.at for d in decisions] == [T0 + timedelta(minutes=first_true + 5)]
    assert decisions[0].inputs["sustained_seconds"] == 300.0
    assert re.fullmatch(r"P99 latency of search-index rose \d+% over 10 min \([\d,]+ ms to [\d,]+ ms\), sustained "
                        r"5 min \(threshold above 50%\) — page SEV3 \(rule latency-rising, policy 2026-11-27\.1\)",
                        decisions[0].reason), decisions[0].reason


# --- qualitative raises and the person's floor -------------------------------------------------------------------

def _report(engine: RuleEngine, *, at: datetime, metric: str = "sentiment", **attributes: str) -> list[Decision]:
    return engine.observe(sample=Sample(service="payments-api", tier="core", metric=metric, value=0.0, at=at,
                                        attributes=attributes))


def test_negative_sentiment_from_a_strategic_account_raises_to_sev2_with_its_reason() -> None:
    engine = RuleEngine(policy=load_policy())
    assert _report(engine, at=T0, account="Initech", strategic="false", value="negative") == []
    [decision] = _report(engine, at=T0, account="Acme", strategic="true", value="Negative")
    assert (decision.rule_id, decision.severity, decision.action) == ("strategic-account-unhappy", Severity.SEV2,
                                                                      Action.RAISE)
    assert decision.reason == (
        "Strategic account Acme reports negative sentiment about payments-api: an unhappy strategic account puts "
        "renewals and references at risk, whatever the metrics say — raise to at least SEV2 "
        "(rule strategic-account-unhappy, policy 2026-11-27.1)")
    assert decision.inputs["account"] == "Acme" and decision.thresholds["value"] == "negative"
    later = T0 + timedelta(hours=1)
    assert _report(engine, at=later, account="Acme", strategic="true", value="negative") == []  # still in force
    assert len(_report(engine, at=later, account="Globex", strategic="true", value="negative")) == 1
    _report(engine, at=later, account="Acme", strategic="true", value="neutral")  # superseded
    assert len(_report(engine, at=later, account="Acme", strategic="true", value="negative")) == 1
    a_day_on = later + timedelta(hours=24, minutes=1)  # the hold has passed without a new report
    assert len(_report(engine, at=a_day_on, account="Acme", strategic="true", value="negative")) == 1


def test_revenue_at_stake_raises_to_sev2() -> None:
    engine = RuleEngine(policy=load_policy())
    [decision] = _report(engine, at=T0, metric="business_impact", value="revenue")
    assert (decision.rule_id, decision.severity) == ("revenue-at-stake", Severity.SEV2)
    assert decision.reason.startswith("Product reports revenue impact on payments-api: product says revenue")
    assert _report(engine, at=T0, metric="business_impact", value="reputation") == []


@PROPERTY
@given(automated=st.sampled_from(list(Severity)), person=st.none() | st.sampled_from(list(Severity)))
def test_automation_never_lowers_a_severity_a_person_set_but_may_raise_it(automated: Severity,
                                                                          person: Severity | None) -> None:
    result = apply_person_floor(automated=automated, set_by_person=person)
    assert result is (automated if person is None or automated.rank < person.rank else person)
    assert person is None or result.rank <= person.rank


# --- samples -----------------------------------------------------------------------------------------------------

def test_a_sample_without_a_time_zone_or_with_a_non_number_is_refused() -> None:
    with pytest.raises(InvalidInput, match="has no time zone"):
        Sample(service="ledger", tier="core", metric="error_rate", value=1.0, at=datetime(2026, 11, 27, 10))
    with pytest.raises(InvalidInput, match="not a finite number"):
        Sample(service="ledger", tier="core", metric="error_rate", value=float("nan"), at=T0)


def test_active_rules_name_the_episodes_that_fired_and_still_hold() -> None:
    engine = RuleEngine(policy=_policy(_threshold_rule()))
    assert engine.observe(sample=Sample(service="ledger", tier="core", metric="queue_depth", value=1e6, at=T0)) == []
    assert engine.active_rules(service="ledger") == ()
    _feed(engine, service="ledger", tier="core", metric="error_rate", values=[10.0], start=T0)
    assert engine.active_rules(service="ledger") == ("errors-high",)
    _feed(engine, service="ledger", tier="core", metric="error_rate", values=[0.0], start=T0 + timedelta(minutes=1))
    assert engine.active_rules(service="ledger") == ()
