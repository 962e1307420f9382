"""One numeric rule bound to one service's series: whether it holds now, and the facts that explain it.

Private to console/routing; rules.py runs the checks and turns the facts into decisions. `holds` runs on every
sample and stays small; `explain` runs only when a rule fires and writes the plain-language part of the reason.
"""
from __future__ import annotations

import operator
from collections.abc import Callable

from console.routing.definitions import Rule
from console.routing.vocabulary import (
    Aggregate,
    Comparison,
    RuleKind,
    duration_token,
    duration_words,
    number_words,
)
from console.routing.windows import Series, Window

Facts = tuple[str, dict[str, float | str], dict[str, float | str]]  # sentence, inputs, thresholds

_COMPARE: dict[Comparison, Callable[[float, float], bool]] = {
    Comparison.GT: operator.gt, Comparison.GE: operator.ge, Comparison.LT: operator.lt, Comparison.LE: operator.le,
}
# (aggregate, whether the rule looks upward) -> the verb; the max of a window that must stay low reads differently.
_AGGREGATE_WORDS = {
    (Aggregate.MEAN, True): "averaged", (Aggregate.MEAN, False): "averaged",
    (Aggregate.MAX, True): "peaked at", (Aggregate.MAX, False): "stayed at or below",
    (Aggregate.MIN, True): "stayed at or above", (Aggregate.MIN, False): "dipped to",
    (Aggregate.SUM, True): "totalled", (Aggregate.SUM, False): "totalled",
    (Aggregate.COUNT, True): "came in", (Aggregate.COUNT, False): "came in",
}


def make_check(*, rule: Rule, series: Series) -> Check:
    """Bind a numeric rule to the series of one service."""
    kind = {RuleKind.THRESHOLD: ThresholdCheck, RuleKind.BURN_RATE: BurnRateCheck,
            RuleKind.RATE_OF_CHANGE: ChangeCheck}[rule.kind]
    return kind(rule=rule, series=series)


def _number(value: float, digits: int) -> str:
    return number_words(value=value, digits=digits)


class Check:
    """The part every numeric check shares."""

    __slots__ = ("clear_after", "compare", "rule", "series", "sustain", "threshold")

    def __init__(self, *, rule: Rule, series: Series) -> None:
        assert rule.comparison is not None and rule.threshold is not None
        self.rule, self.series = rule, series
        self.compare = _COMPARE[rule.comparison]
        self.threshold = rule.threshold
        self.sustain, self.clear_after = rule.sustain_seconds, rule.clear_after_seconds

    def holds(self) -> bool:
        """Tell whether the condition is true at the series' newest sample."""
        raise NotImplementedError

    def explain(self, *, service: str, sustained: float) -> Facts:
        """Say what was measured, with the numbers, the inputs and the thresholds."""
        raise NotImplementedError


class ThresholdCheck(Check):
    """An aggregate over one window against a threshold."""

    __slots__ = ("mean_only", "throughout", "value", "window")

    def __init__(self, *, rule: Rule, series: Series) -> None:
        super().__init__(rule=rule, series=series)
        aggregate = rule.aggregate
        self.window = window = series.window(seconds=rule.windows[0],
                                             extremes=aggregate in (Aggregate.MAX, Aggregate.MIN))
        self.value: Callable[[], float | None] = {
            Aggregate.MEAN: window.mean, Aggregate.MAX: window.maximum, Aggregate.MIN: window.minimum,
            Aggregate.SUM: lambda: window.total, Aggregate.COUNT: window.count,
        }[aggregate or Aggregate.MEAN]
        self.mean_only = aggregate is Aggregate.MEAN
        # "min above X" and "max below X" claim every sample of the window: a window not yet full cannot say so.
        upward = rule.comparison in (Comparison.GT, Comparison.GE)
        self.throughout = aggregate is (Aggregate.MIN if upward else Aggregate.MAX)

    def holds(self) -> bool:
        """Tell whether the window's aggregate passes the threshold."""
        if self.mean_only:  # the common case, without a call per aggregate
            window = self.window
            count = self.series.end - window.start
            return count > 0 and self.compare(window.total / count, self.threshold)
        value = self.value()
        if value is None or self.throughout and not self.window.covered():
            return False
        return self.compare(value, self.threshold)

    def explain(self, *, service: str, sustained: float) -> Facts:
        """Say the aggregate, the window and the threshold."""
        rule, metric = self.rule, self.rule.metric
        value = self.value() or 0.0
        aggregate = rule.aggregate or Aggregate.MEAN
        token = duration_token(seconds=rule.windows[0])
        upward = rule.comparison in (Comparison.GT, Comparison.GE)
        shown = f"{_number(value, metric.digits)}{metric.unit}"
        if aggregate is Aggregate.COUNT:
            shown = f"{int(value)} times"
        text = (f"{metric.label.capitalize()} of {service} {_AGGREGATE_WORDS[aggregate, upward]} {shown} over "
                f"{duration_words(seconds=rule.windows[0])}{_sustained(rule.sustain_seconds, sustained)} "
                f"({_partial(self.window, '; ')}threshold {rule.comparison.words if rule.comparison else ''} "
                f"{_number(self.threshold, 2)}{'' if aggregate is Aggregate.COUNT else metric.unit})")
        inputs: dict[str, float | str] = {f"{metric}_{aggregate}_{token}": value,
                                          f"samples_{token}": float(self.window.count())}
        thresholds: dict[str, float | str] = {"threshold": self.threshold, "comparison": str(rule.comparison),
                                              "aggregate": str(aggregate), "window": token}
        if rule.sustain_seconds:
            inputs["sustained_seconds"] = sustained
            thresholds["sustain"] = duration_token(seconds=rule.sustain_seconds)
        return text, inputs, thresholds


class BurnRateCheck(Check):
    """Error-budget burn over a long and a short window; both must pass."""

    __slots__ = ("budget", "long", "ready", "short")

    def __init__(self, *, rule: Rule, series: Series) -> None:
        super().__init__(rule=rule, series=series)
        assert rule.slo_percent is not None
        self.budget = 100.0 - rule.slo_percent  # error_rate is in percent too
        self.long = series.window(seconds=rule.windows[0])
        self.short = series.window(seconds=rule.windows[1])
        self.ready = False

    def holds(self) -> bool:
        """Tell whether the budget burns past the threshold over both windows."""
        if not self.ready:
            # At least the short window of history, so the two windows say different things; checked until true.
            if not self.short.covered():
                return False
            self.ready = True
        long, end = self.long, self.series.end
        count = end - long.start
        if not count or not self.compare(long.total / count / self.budget, self.threshold):
            return False
        short = self.short
        count = end - short.start
        return count > 0 and self.compare(short.total / count / self.budget, self.threshold)

    def explain(self, *, service: str, sustained: float) -> Facts:
        """Say both burn rates, the threshold and the SLO."""
        rule = self.rule
        burns, inputs = [], {}
        for window in (self.long, self.short):
            token = duration_token(seconds=int(window.seconds))
            error = window.mean() or 0.0
            partial = _partial(window, "")
            burns.append(f"{_number(error / self.budget, 1)}x over {duration_words(seconds=int(window.seconds))}"
                         + (f" ({partial})" if partial else ""))
            inputs[f"burn_rate_{token}"] = round(error / self.budget, 3)
            inputs[f"error_rate_{token}"] = round(error, 6)
        text = (f"Error budget of {service} burning {burns[0]} and {burns[1]} "
                f"(threshold {_number(self.threshold, 2)}x both, SLO {_number(rule.slo_percent or 0, 3)}%)")
        thresholds: dict[str, float | str] = {
            "burn_rate": self.threshold, "comparison": str(rule.comparison), "slo_percent": rule.slo_percent or 0.0,
            "long_window": duration_token(seconds=rule.windows[0]),
            "short_window": duration_token(seconds=rule.windows[1]),
        }
        return text, inputs, thresholds


class ChangeCheck(Check):
    """Relative change from the oldest sample in the window to the newest, in percent."""

    __slots__ = ("window",)

    def __init__(self, *, rule: Rule, series: Series) -> None:
        super().__init__(rule=rule, series=series)
        self.window = series.window(seconds=rule.windows[0])

    def change(self) -> float | None:
        """Return the change in percent across the window, or None when it has no base to compare with."""
        first, last = self.window.first(), self.series.last
        if not first or last is None:  # no samples, or a base of 0 against which no change is relative
            return None
        return (last - first) / abs(first) * 100.0

    def holds(self) -> bool:
        """Tell whether the change passes the threshold."""
        change = self.change()
        return change is not None and self.compare(change, self.threshold)

    def explain(self, *, service: str, sustained: float) -> Facts:
        """Say how far the metric moved, from what to what, for how long."""
        rule, metric = self.rule, self.rule.metric
        change = self.change() or 0.0
        first, last = self.window.first() or 0.0, self.series.last or 0.0
        token = duration_token(seconds=rule.windows[0])
        partial = _partial(self.window, "")
        text = (f"{metric.label.capitalize()} of {service} {'rose' if change >= 0 else 'fell'} "
                f"{_number(abs(change), 0)}% over {duration_words(seconds=rule.windows[0])} "
                f"({_number(first, metric.digits)}{metric.unit} to {_number(last, metric.digits)}{metric.unit}"
                f"{'; ' + partial if partial else ''})"
                f"{_sustained(rule.sustain_seconds, sustained)} "
                f"(threshold {rule.comparison.words if rule.comparison else ''} {_number(self.threshold, 2)}%)")
        inputs: dict[str, float | str] = {f"change_percent_{token}": round(change, 3), f"{metric}_start": first,
                                          f"{metric}_now": last, "sustained_seconds": sustained}
        thresholds: dict[str, float | str] = {"change_percent": self.threshold, "comparison": str(rule.comparison),
                                              "window": token, "sustain": duration_token(seconds=rule.sustain_seconds)}
        return text, inputs, thresholds


def _partial(window: Window, then: str) -> str:
    """Say how little history a window has, followed by `then`, or nothing when it is full."""
    # Early on (a console just started) a window holds less history than its name says; the reason says so.
    seen = window.seen()
    if seen >= window.seconds:
        return ""
    if seen < 120:
        return ("only one sample so far" if not seen else f"only {int(seen)} s of data so far") + then
    unit, size = ("min", 60) if seen < 7200 else ("h", 3600) if seen < 172800 else ("days", 86400)
    return f"only {round(seen / size)} {unit} of data so far{then}"


def _sustained(sustain: int, sustained: float) -> str:
    return f", sustained {duration_words(seconds=int(sustained))}" if sustain else ""
