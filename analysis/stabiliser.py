"""When is a concurrency level measured? perf_analyzer 2.51's rule (inference_profiler.cc,
ProfileHelper / DetermineStability / IsDoneProfiling), pure: windows in, verdict out."""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass

from analysis.window import Window, finite_or_none

NS_PER_MS = 1_000_000


class Verdict(enum.Enum):
    MEASURE_MORE = "measure_more"  # keep the level and measure another window
    STABLE = "stable"  # the last windows agree: report their merge
    UNSTABLE = "unstable"  # max trials reached without agreement
    OVER_THRESHOLD = "over_threshold"  # latency reached -l: not reported, the sweep stops
    INTERRUPTED = "interrupted"  # the run was stopped mid-level: windows kept, not reported


@dataclass(frozen=True)
class StabilityRule:
    stability_pct: float = 10.0  # -s
    max_trials: int = 10  # -r
    percentile: int | None = None  # --percentile; None stabilises on the average latency
    latency_threshold_ms: float | None = None  # -l; None (perf_analyzer's 0) is no limit
    window_count: int = 3  # perf_analyzer's fixed stability window
    # --async: after -r windows, a level whose throughput settled is stable even though its
    # latency did not (perf_analyzer then warns "Request latency is not stabilizing").
    async_calls: bool = False

    def latency(self, window: Window) -> float:
        return window.stabilising_latency_ns(self.percentile)


@dataclass(frozen=True)
class Spread:
    """max/min over the compared windows: 1.0 is perfect agreement, inf is a window with
    nothing in it."""

    throughput: float
    latency: float

    def to_dict(self) -> dict[str, float | None]:
        return {
            "throughput": finite_or_none(self.throughput),
            "latency": finite_or_none(self.latency),
        }


def _ratio(values: Sequence[float]) -> float:
    lo, hi = min(values), max(values)
    if lo <= 0 or not math.isfinite(hi):
        return math.inf
    return hi / lo


def last_windows(windows: Sequence[Window], rule: StabilityRule) -> Sequence[Window]:
    return windows[-rule.window_count :]


def spread(windows: Sequence[Window], rule: StabilityRule) -> Spread:
    """Spread of throughput and of the stabilising latency over the last windows."""
    tail = last_windows(windows, rule)
    if not tail:
        return Spread(math.inf, math.inf)
    return Spread(
        throughput=_ratio([w.throughput for w in tail]),
        latency=_ratio([rule.latency(w) for w in tail]),
    )


def is_stable(windows: Sequence[Window], rule: StabilityRule, check_latency: bool = True) -> bool:
    """The last `window_count` windows all have throughput, and both spreads (throughput
    alone without check_latency) are within 1 + s/100."""
    if len(windows) < rule.window_count:
        return False
    tail = last_windows(windows, rule)
    if any(w.throughput == 0 for w in tail):
        return False
    limit = 1 + rule.stability_pct / 100
    s = spread(tail, rule)
    return s.throughput <= limit and (s.latency <= limit or not check_latency)


def over_threshold(windows: Sequence[Window], rule: StabilityRule) -> bool:
    """perf_analyzer stops a level once any of the last windows reaches -l."""
    if rule.latency_threshold_ms is None or len(windows) < rule.window_count:
        return False
    limit_ns = rule.latency_threshold_ms * NS_PER_MS
    return any(rule.latency(w) >= limit_ns for w in last_windows(windows, rule))


def assess(windows: Sequence[Window], rule: StabilityRule) -> Verdict:
    """The verdict after the latest window of a level."""
    if is_stable(windows, rule):
        return Verdict.STABLE
    if over_threshold(windows, rule):
        return Verdict.OVER_THRESHOLD
    if len(windows) >= rule.max_trials:
        if rule.async_calls and is_stable(windows, rule, check_latency=False):
            return Verdict.STABLE
        return Verdict.UNSTABLE
    return Verdict.MEASURE_MORE


def final_verdict(merged: Window, verdict: Verdict, rule: StabilityRule) -> Verdict:
    """A stable level whose merged latency reaches -l is over the threshold after all."""
    if (
        verdict is Verdict.STABLE
        and rule.latency_threshold_ms is not None
        and rule.latency(merged) >= rule.latency_threshold_ms * NS_PER_MS
    ):
        return Verdict.OVER_THRESHOLD
    return verdict
