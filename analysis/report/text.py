"""Plain-text outputs: the recommendation for the console, the comparison table."""

from __future__ import annotations

from analysis.report.compare import Comparison
from analysis.report.recommend import Pick, Recommendation

_MEANINGS = {
    "max_throughput": "highest throughput",
    "saturation": "throughput within 5% of the highest",
    "knee": "last level before latency climbs faster than throughput",
    "latency_budget": "highest throughput within the latency budget",
}


def _pick(p: Pick | None, label: str) -> str:
    if p is None:
        return "none"
    flag = "" if p.stable else " (unstable)"
    return (
        f"concurrency {p.concurrency}: {p.throughput:.6g} infer/sec, {label} latency "
        f"{int(p.latency_us)} usec{flag}"
    )


def recommendation_lines(rec: Recommendation) -> list[str]:
    lines = ["Recommended concurrency:"]
    picks = [
        ("max_throughput", rec.max_throughput),
        ("saturation", rec.saturation),
        ("knee", rec.knee),
    ]
    if rec.latency_budget_ms is not None:
        picks.append(("latency_budget", rec.latency_budget))
    for key, pick in picks:
        meaning = _MEANINGS[key]
        if key == "latency_budget":
            meaning += f" ({rec.latency_budget_ms:g} ms)"
        lines.append(f"  {key:<15} {_pick(pick, rec.latency_label)}  [{meaning}]")
    return lines


def comparison_lines(cmp: Comparison) -> list[str]:
    lines = [
        f"A: {cmp.a_source}",
        f"B: {cmp.b_source}",
        f"{'conc':>5} {'A infer/s':>11} {'B infer/s':>11} {'change':>8} "
        f"{f'A {cmp.latency_label} us':>12} {f'B {cmp.latency_label} us':>12} {'change':>8}",
    ]
    for d in cmp.levels:
        lines.append(
            f"{d.concurrency:>5} {_num(d.a_throughput, '.1f'):>11} "
            f"{_num(d.b_throughput, '.1f'):>11} {_pct(d.throughput_change):>8} "
            f"{_num(d.a_latency_us, '.0f'):>12} "
            f"{_num(d.b_latency_us, '.0f'):>12} {_pct(d.latency_change):>8}"
        )
    return lines


def _num(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:+.1%}"
