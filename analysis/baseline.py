"""This run against an earlier one of the same scenario, level by level: better, worse or
within noise. A level is worse when its throughput fell, or its latency rose, by more than
both --max-regression and the noise its windows show (analysis/report/compare.py pairs the
levels and measures that noise); worse fails the build."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from analysis.checks import BASELINE, CheckResult
from analysis.report.compare import compare
from analysis.report.summary import RunSummary
from analysis.results import LevelLoad

BETTER, WORSE, WITHIN_NOISE = "better", "worse", "within noise"
NOT_IN_BASELINE, MISSING_NOW = "not in baseline", "not measured now"
DEFAULT_MAX_REGRESSION = 0.10  # --max-regression 10


@dataclass(frozen=True)
class LevelVerdict(LevelLoad):
    concurrency: int  # in a request-rate sweep: 0, its levels are `request_rate`
    verdict: str  # BETTER, WORSE, WITHIN_NOISE, NOT_IN_BASELINE or MISSING_NOW
    baseline_throughput: float | None
    throughput: float | None
    baseline_latency_us: float | None
    latency_us: float | None
    throughput_change: float | None  # +0.10: 10% more than the baseline
    latency_change: float | None
    # The change each figure may show and still be "within noise": the larger of
    # --max-regression and the windows' own spread there, as a fraction.
    throughput_band: float
    latency_band: float
    request_rate: float | None = None

    @property
    def regressed(self) -> bool:
        return self.verdict in (WORSE, MISSING_NOW)


@dataclass(frozen=True)
class BaselineVerdict:
    baseline: str  # which run: "history run 12 (2026-11-25T02:00:00Z)" or a file's path
    latency_label: str  # what latency compares: "p95", "avg"
    max_regression: float
    levels: list[LevelVerdict]
    warnings: list[str] = field(default_factory=list)  # the runs measured differently

    @property
    def regressed(self) -> bool:
        return any(level.regressed for level in self.levels)

    @property
    def rate_mode(self) -> bool:
        """Request-rate sweeps: the levels are rates."""
        return any(level.request_rate is not None for level in self.levels)

    def checks(self) -> list[CheckResult]:
        """One check per level the baseline measured: JUnit's test cases, the exit code."""
        return [
            CheckResult(
                name=f"baseline at {level.name}",
                passed=not level.regressed,
                measured=verdict_words(level, self.latency_label),
                kind=BASELINE,
            )
            for level in self.levels
            if level.verdict != NOT_IN_BASELINE
        ]


def against_baseline(
    baseline: RunSummary,
    now: RunSummary,
    max_regression: float = DEFAULT_MAX_REGRESSION,
    baseline_name: str = "",
) -> BaselineVerdict:
    """`now` level by level against `baseline` (both our results, or a CSV for the baseline)."""
    cmp = compare(baseline, now)
    levels = []
    for diff in cmp.levels:
        t_band = _band(max_regression, diff.throughput_noise)
        l_band = _band(max_regression, diff.latency_noise)
        if diff.a_throughput is None:
            verdict = NOT_IN_BASELINE
        elif diff.b_throughput is None:
            verdict = MISSING_NOW
        else:
            t, lat = diff.throughput_change, diff.latency_change
            worse = (t is not None and t < -t_band) or (lat is not None and lat > l_band)
            better = (t is not None and t > t_band) or (lat is not None and lat < -l_band)
            verdict = WORSE if worse else BETTER if better else WITHIN_NOISE
        levels.append(
            LevelVerdict(
                concurrency=diff.concurrency,
                verdict=verdict,
                baseline_throughput=diff.a_throughput,
                throughput=diff.b_throughput,
                baseline_latency_us=diff.a_latency_us,
                latency_us=diff.b_latency_us,
                throughput_change=diff.throughput_change,
                latency_change=diff.latency_change,
                throughput_band=t_band,
                latency_band=l_band,
                request_rate=diff.request_rate,
            )
        )
    return BaselineVerdict(
        baseline=baseline_name or baseline.source,
        latency_label=cmp.latency_label,
        max_regression=max_regression,
        levels=levels,
        warnings=cmp.warnings,
    )


def _band(max_regression: float, noise: float) -> float:
    # A window that served nothing makes the spread infinite: that says nothing of the
    # level's noise, and must not excuse any change at all.
    return max(max_regression, noise) if math.isfinite(noise) else max_regression


def verdict_words(level: LevelVerdict, latency_label: str) -> str:
    """'worse: throughput -48.1% (band ±10.0%), p95 +92.3% (band ±10.0%)'."""
    if level.verdict in (NOT_IN_BASELINE, MISSING_NOW):
        return level.verdict
    return (
        f"{level.verdict}: throughput {_pct(level.throughput_change)} "
        f"(band ±{level.throughput_band:.1%}), {latency_label} {_pct(level.latency_change)} "
        f"(band ±{level.latency_band:.1%})"
    )


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.1%}"
