"""Which concurrency to run: the reading the walkthrough does by eye on the chart.

- max_throughput: the level with the highest throughput.
- saturation: the first level (by concurrency) within 5% of that throughput: where more
  concurrency stops buying throughput.
- knee: Kneedle (Satopää, Albrecht, Irwin and Raghavan, "Finding a 'Kneedle' in a
  Haystack", 2011) over the whole curve of throughput against concurrency, drawn from
  (0, 0) (no request in flight serves nothing). With both axes scaled to [0, 1], the knee
  is where the curve peaks above its diagonal and then falls back by more than one mean
  step between levels: where more concurrency stops buying throughput in proportion. A
  curve that never bends has its knee at the last level. One noisy step does not end the
  search early, as the rule before it (the first step where latency grew faster than
  throughput) did.
- latency_budget: the highest-throughput level whose latency stays within the budget.
Latency is the one the run stabilised on (the summary's latency_label).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from analysis.report.summary import LevelRow, RunSummary

SATURATION_SHARE = 0.95
# Kneedle's sensitivity: 1 is the paper's (and kneed's) default.
KNEEDLE_SENSITIVITY = 1.0
# The report's one sentence on the knee.
KNEE_METHOD = (
    "Knee: Kneedle (Satopää et al., 2011) on throughput against concurrency, drawn from "
    "(0, 0): with both axes scaled to 0–1, the knee is where the curve peaks above its "
    "diagonal and then falls back by more than one mean step, i.e. where more concurrency "
    "stops buying throughput in proportion (the last level if the curve never bends)."
)


@dataclass(frozen=True)
class Pick:
    concurrency: int
    throughput: float
    latency_us: float
    stable: bool | None  # None: not known (a CSV does not say)

    @classmethod
    def of(cls, row: LevelRow) -> Pick:
        return cls(row.concurrency, row.throughput, row.latency_us, row.stable)

    def to_dict(self) -> dict[str, Any]:
        return {
            "concurrency": self.concurrency,
            "throughput": self.throughput,
            "latency_us": self.latency_us,
            "stable": self.stable,
        }


@dataclass(frozen=True)
class Recommendation:
    latency_label: str
    max_throughput: Pick | None
    saturation: Pick | None
    knee: Pick | None
    latency_budget: Pick | None
    latency_budget_ms: float | None = None
    # False: the curve did not bend within the sweep, the knee is only its last level.
    knee_found: bool = True

    def to_dict(self) -> dict[str, Any]:
        picks = {
            "max_throughput": self.max_throughput,
            "saturation": self.saturation,
            "knee": self.knee,
        }
        if self.latency_budget_ms is not None:
            picks["latency_budget"] = self.latency_budget
        out: dict[str, Any] = {k: v.to_dict() if v else None for k, v in picks.items()}
        out["latency"] = self.latency_label
        out["knee_found"] = self.knee_found
        if self.latency_budget_ms is not None:
            out["latency_budget_ms"] = self.latency_budget_ms
        return out


def recommend(summary: RunSummary, latency_budget_ms: float | None = None) -> Recommendation:
    levels = sorted(summary.levels, key=lambda r: r.concurrency)
    # A rate sweep's levels share one concurrency (--max-threads): there is none to pick.
    if not levels or summary.rate_mode:
        return Recommendation(summary.latency_label, None, None, None, None, latency_budget_ms)
    # Ties go to the lower concurrency: the same throughput for fewer requests in flight.
    best = max(levels, key=lambda r: (r.throughput, -r.concurrency))
    saturation = next(r for r in levels if r.throughput >= SATURATION_SHARE * best.throughput)
    within = (
        [r for r in levels if r.latency_us <= latency_budget_ms * 1000]
        if latency_budget_ms is not None
        else []
    )
    in_budget = max(within, key=lambda r: (r.throughput, -r.concurrency)) if within else None
    return Recommendation(
        latency_label=summary.latency_label,
        max_throughput=Pick.of(best),
        saturation=Pick.of(saturation),
        knee=Pick.of(knee(levels)),
        knee_found=knee_index(levels) is not None,
        latency_budget=Pick.of(in_budget) if in_budget else None,
        latency_budget_ms=latency_budget_ms,
    )


def knee(levels: list[LevelRow]) -> LevelRow:
    """See the module's docstring; `levels` sorted by concurrency, not empty."""
    found = knee_index(levels)
    # None: no bend, throughput kept pace with concurrency to the last level.
    return levels[-1] if found is None else levels[found]


def knee_index(levels: list[LevelRow]) -> int | None:
    """Where in `levels` (sorted by concurrency) Kneedle finds the knee; None: no bend."""
    xs = [0.0] + [float(r.concurrency) for r in levels]
    ys = [0.0] + [max(r.throughput, 0.0) for r in levels]
    found = kneedle(xs, ys)
    return None if found is None else found - 1  # the origin is not a level


def kneedle(
    xs: list[float], ys: list[float], sensitivity: float = KNEEDLE_SENSITIVITY
) -> int | None:
    """The index of the knee of a concave, increasing curve (xs ascending), or None.

    Satopää et al.'s offline Kneedle as the reference implementation (`kneed`, its
    defaults) runs it, without its scipy: scale both axes to [0, 1]; the difference curve
    is y - x; each local maximum of it sets a threshold, its value less `sensitivity`
    times the mean x step; the first maximum after which the difference falls below its
    threshold (before a local minimum) is the knee."""
    n = len(xs)
    x_lo, x_hi, y_lo, y_hi = xs[0], xs[-1], min(ys), max(ys)
    if n < 3 or x_hi <= x_lo or y_hi <= y_lo:
        return None
    diff = [
        (y - y_lo) / (y_hi - y_lo) - (x - x_lo) / (x_hi - x_lo) for x, y in zip(xs, ys, strict=True)
    ]

    def neighbours(i: int) -> tuple[float, float]:
        return diff[max(i - 1, 0)], diff[min(i + 1, n - 1)]

    maxima = [i for i in range(n) if diff[i] >= max(neighbours(i))]
    minima = {i for i in range(n) if diff[i] <= min(neighbours(i))}
    if not maxima:
        return None
    step = 1.0 / (n - 1)  # the mean step of the scaled x
    candidate, threshold, active = maxima[0], 0.0, True
    for i in range(maxima[0], n - 1):
        if i in maxima:
            candidate, threshold, active = i, diff[i] - sensitivity * step, True
        if i in minima:  # a dip: wait for the next maximum before declaring anything
            threshold, active = 0.0, False
        if active and diff[i + 1] < threshold:
            return candidate
    return None
