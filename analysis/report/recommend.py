"""Which concurrency to run: the reading the walkthrough does by eye on the chart.

- max_throughput: the level with the highest throughput.
- saturation: the first level (by concurrency) within 5% of that throughput: where more
  concurrency stops buying throughput.
- knee: the last level before latency starts climbing faster than throughput. Going from
  one level to the next, throughput grows by a factor T'/T and latency by L'/L; the knee is
  the level before the first step where L'/L > T'/T (latency per unit of throughput, the
  cost of one more request in flight, starts to rise); the last level if no step does.
- latency_budget: the highest-throughput level whose latency stays within the budget.
Latency is the one the run stabilised on (the summary's latency_label).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from analysis.report.summary import LevelRow, RunSummary

SATURATION_SHARE = 0.95


@dataclass(frozen=True)
class Pick:
    concurrency: int
    throughput: float
    latency_us: float
    stable: bool

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
        if self.latency_budget_ms is not None:
            out["latency_budget_ms"] = self.latency_budget_ms
        return out


def recommend(summary: RunSummary, latency_budget_ms: float | None = None) -> Recommendation:
    levels = sorted(summary.levels, key=lambda r: r.concurrency)
    if not levels:
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
        latency_budget=Pick.of(in_budget) if in_budget else None,
        latency_budget_ms=latency_budget_ms,
    )


def knee(levels: list[LevelRow]) -> LevelRow:
    """See the module's docstring; `levels` sorted by concurrency, not empty."""
    for here, after in zip(levels, levels[1:], strict=False):
        if here.throughput <= 0 or here.latency_us <= 0:
            continue
        if after.latency_us / here.latency_us > after.throughput / here.throughput:
            return here
    return levels[-1]
