"""Sliding-window aggregates over one stream of timed samples (one service's one metric), updated per sample.

A `Series` keeps its samples in two arrays of doubles (times in epoch seconds, values), shared by all of its
windows. A `Window` holds the samples with `newest - seconds < at <= newest`, where newest is the latest sample
time of the series (times are passed in, never read from a clock). Each window knows where it starts in the
arrays and keeps a running sum, so its mean, total and count cost O(1) per sample; its maximum and minimum keep
a monotonic deque, built only for windows a rule asks them of. The rule engine sits on the hot path of every
signal, hence this shape rather than re-scanning samples.

Decisions:
- Latency percentiles. A latency sample already is its interval's p99 (exporters compute it from their own
  histograms); a window does not pretend to compute a p99 of p99s. Rules choose the mean of those p99s
  (smooths one slow scrape), the max (the worst interval) or the min (every interval was at least this slow).
- Memory. 16 bytes per sample inside the longest window of the series; samples older than that are cut off
  in blocks, so memory is bounded by the sample rate times the longest window.
- Order. Samples arrive roughly in time order. A late sample is inserted in its place (a memmove, rare); one
  older than the longest window is dropped, since no window could hold it.
- Precision. A running sum drifts as values are added and removed; each window re-adds its samples exactly
  (math.fsum) once it has turned over, so a stream that runs for months keeps its means exact to ~1e-12.
"""
from __future__ import annotations

import math
from array import array
from bisect import bisect_right
from collections import deque

__all__ = ["Series", "Window"]

_COMPACT_AT = 4096  # cut old samples off in blocks: a memmove per sample would cost more than it saves
_SLACK = 32  # evictions beyond a window's size before its running sum is recomputed


class Window:
    """The samples of a series within the last `seconds`, with their running aggregates."""

    __slots__ = ("_highs", "_lows", "_series", "_turnover", "seconds", "start", "total")

    def __init__(self, *, series: Series, seconds: float, start: int, extremes: bool) -> None:
        self.seconds = seconds
        self.start = start  # logical index (series.base + position) of the oldest sample inside the window
        self._series = series
        self._turnover = 0
        self.total = 0.0
        self._highs: deque[tuple[float, float]] | None = None
        self._lows: deque[tuple[float, float]] | None = None
        self.refresh(extremes=extremes)

    def count(self) -> int:
        """Return how many samples the window holds."""
        return self._series.end - self.start

    def mean(self) -> float | None:
        """Return the mean of the window's samples, or None when it is empty."""
        count = self.count()
        return self.total / count if count else None

    def maximum(self) -> float | None:
        """Return the largest sample in the window (the window must have been asked with extremes=True)."""
        return self._highs[0][1] if self._highs else None

    def minimum(self) -> float | None:
        """Return the smallest sample in the window (the window must have been asked with extremes=True)."""
        return self._lows[0][1] if self._lows else None

    def first(self) -> float | None:
        """Return the oldest sample in the window, or None when it is empty."""
        series = self._series
        index = self.start - series.base
        return series.values[index] if index < len(series.values) else None

    def seen(self) -> float:
        """Return how many of the window's seconds the series has history for (less than `seconds` early on)."""
        series = self._series
        if series.started is None or not series.times:
            return 0.0
        return min(float(self.seconds), series.times[-1] - series.started)

    def covered(self) -> bool:
        """Tell whether the series has history for the whole window."""
        return self.seen() >= self.seconds

    def first_time(self) -> float | None:
        """Return the time of the oldest sample in the window, or None when it is empty."""
        series = self._series
        index = self.start - series.base
        return series.times[index] if index < len(series.times) else None

    def refresh(self, *, extremes: bool) -> None:
        """Recompute the sum (and, if asked or kept, the extremes) from the samples themselves."""
        series = self._series
        index = self.start - series.base
        self.total = math.fsum(series.values[index:])
        self._turnover = 0
        if extremes or self._highs is not None:
            self._highs, self._lows = deque(), deque()
            for at, value in zip(series.times[index:], series.values[index:], strict=True):
                self._push_extremes(at, value)

    def _push_extremes(self, at: float, value: float) -> None:
        # Monotonic deques: a sample smaller than a newer one can never again be the maximum, so it goes.
        highs, lows = self._highs, self._lows
        assert highs is not None and lows is not None
        while highs and highs[-1][1] <= value:
            highs.pop()
        highs.append((at, value))
        while lows and lows[-1][1] >= value:
            lows.pop()
        lows.append((at, value))


class Series:
    """The samples of one service's one metric, and the windows the rules look through."""

    __slots__ = ("_windows", "base", "end", "started", "times", "values")

    def __init__(self) -> None:
        self.times = array("d")
        self.values = array("d")
        self.base = 0  # logical index of times[0]: windows keep logical indices so cutting old samples is cheap
        self.end = 0  # logical index one past the newest sample (base + len(times)), kept for the hot path
        self.started: float | None = None  # the oldest sample ever taken, evicted or not: how much history exists
        self._windows: list[Window] = []  # longest first

    def __len__(self) -> int:
        return len(self.times)

    @property
    def newest(self) -> float | None:
        """Return the latest sample time, the series' "now"."""
        return self.times[-1] if self.times else None

    @property
    def last(self) -> float | None:
        """Return the value of the latest sample."""
        return self.values[-1] if self.values else None

    def window(self, *, seconds: float, extremes: bool = False) -> Window:
        """Return the window of this length, creating it (from the samples kept so far) if it is new."""
        if seconds <= 0:
            raise ValueError(f"a window must be longer than 0 s, got {seconds}")
        for window in self._windows:
            if window.seconds == seconds:
                if extremes and window._highs is None:
                    window.refresh(extremes=True)
                return window
        newest = self.newest
        start = self.base + (bisect_right(self.times, newest - seconds) if newest is not None else 0)
        window = Window(series=self, seconds=seconds, start=start, extremes=extremes)
        self._windows.append(window)
        self._windows.sort(key=lambda w: -w.seconds)
        return window

    def add(self, *, at: float, value: float) -> bool:
        """Take one sample; return False when it is older than every window and was dropped.

        A sample equal to one already held (same time, same value) is the same observation sent again, as a
        sender retries a request the console could not store: it is not counted twice.
        """
        times, values = self.times, self.values
        if times and at <= times[-1]:
            if at == times[-1] and value == values[-1]:
                return True  # the same observation again (a sender's retry): counted once, judged again
            return self._insert_late(at, value)
        if self.started is None:
            self.started = at
        times.append(at)
        values.append(value)
        self.end += 1
        base = self.base
        for window in self._windows:
            window.total += value
            cutoff = at - window.seconds
            index = window.start - base
            if times[index] <= cutoff:
                total = window.total
                while times[index] <= cutoff:  # stops at the new sample at the latest: at > cutoff
                    total -= values[index]
                    index += 1
                window.total = total
                window._turnover += index + base - window.start
                window.start = index + base
                if window._turnover > len(times) - index + _SLACK:
                    window.refresh(extremes=False)
            if window._highs is not None:
                window._push_extremes(at, value)
                highs, lows = window._highs, window._lows
                assert lows is not None
                while highs[0][0] <= cutoff:
                    highs.popleft()
                while lows[0][0] <= cutoff:
                    lows.popleft()
        self._compact()
        return True

    def _insert_late(self, at: float, value: float) -> bool:
        newest = self.times[-1]
        if not self._windows or at <= newest - self._windows[0].seconds:
            return False
        position = bisect_right(self.times, at)
        if position and self.times[position - 1] == at and self.values[position - 1] == value:
            return True  # a retried request's earlier sample: already counted
        self.times.insert(position, at)
        self.values.insert(position, value)
        self.end += 1
        self.started = min(at, self.started if self.started is not None else at)
        for window in self._windows:
            if at > newest - window.seconds:
                window.total += value
                if window._highs is not None:
                    window.refresh(extremes=True)
            else:
                window.start += 1  # it landed before this window's oldest sample, which moved up by one
        return True

    def _compact(self) -> None:
        keep_from = self._windows[0].start - self.base if self._windows else len(self.times) - 1
        if keep_from >= _COMPACT_AT and keep_from * 2 >= len(self.times):
            del self.times[:keep_from]
            del self.values[:keep_from]
            self.base += keep_from
