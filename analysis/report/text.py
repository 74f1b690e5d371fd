"""Plain-text outputs: the recommendation for the console, the comparison table, a scheduled
run's checks and its verdict against the baseline."""

from __future__ import annotations

from analysis.baseline import BaselineVerdict
from analysis.checks import CheckResult
from analysis.report.compare import Comparison
from analysis.report.recommend import Pick, Recommendation

_MEANINGS = {
    "max_throughput": "highest throughput",
    "saturation": "first within 5% of the highest",
    "knee": "where the curve bends: more concurrency stops paying in throughput (Kneedle)",
    "latency_budget": "highest throughput within the latency budget",
}


def _pick(p: Pick, label: str) -> str:
    flag = " (unstable)" if p.stable is False else ""
    return (
        f"concurrency {p.concurrency}: {p.throughput:.6g} infer/sec, {label} latency "
        f"{int(p.latency_us)} usec{flag}"
    )


def recommendation_groups(rec: Recommendation) -> list[tuple[list[str], Pick]]:
    """The rules' picks, one entry per distinct level (by concurrency), naming every rule
    that chose it, in rule order."""
    by_level: dict[int, tuple[list[str], Pick]] = {}
    for key, pick in _picks(rec):
        if pick is not None:
            by_level.setdefault(pick.concurrency, ([], pick))[0].append(key)
    return [by_level[c] for c in sorted(by_level)]


def _picks(rec: Recommendation) -> list[tuple[str, Pick | None]]:
    picks = [
        ("max_throughput", rec.max_throughput),
        ("saturation", rec.saturation),
        ("knee", rec.knee),
    ]
    if rec.latency_budget_ms is not None:
        picks.append(("latency_budget", rec.latency_budget))
    return picks


def meaning(key: str, rec: Recommendation) -> str:
    if key == "latency_budget":
        return f"{_MEANINGS[key]} ({rec.latency_budget_ms:g} ms)"
    if key == "knee" and not rec.knee_found:
        return "the last level: the curve has not bent yet (Kneedle); sweep higher to find it"
    return _MEANINGS[key]


def recommendation_lines(rec: Recommendation) -> list[str]:
    """One line per distinct level: a one-level sweep gives one line, not three."""
    groups = recommendation_groups(rec)
    names = [", ".join(keys) for keys, _ in groups]
    width = max([len(n) for n in names] + [len("latency_budget")])
    lines = ["Recommended concurrency:"]
    for name, (keys, pick) in zip(names, groups, strict=True):
        why = "; ".join(meaning(k, rec) for k in keys)
        lines.append(f"  {name:<{width}}  {_pick(pick, rec.latency_label)}  [{why}]")
    if rec.latency_budget_ms is not None and rec.latency_budget is None:
        lines.append(
            f"  {'latency_budget':<{width}}  none: no level within {rec.latency_budget_ms:g} ms"
        )
    return lines


def comparison_lines(cmp: Comparison) -> list[str]:
    """The runs by file, what differs between them, then a row per level with a verdict."""
    lines = [f"A: {cmp.a_name}  ({cmp.a_source})", f"B: {cmp.b_name}  ({cmp.b_source})"]
    lines += [f"Warning: {w}" for w in cmp.warnings]
    lat = cmp.latency_label
    load = "rate" if cmp.rate_mode else "conc"
    width = max([5, *(len(d.load_words) for d in cmp.levels)])
    lines.append(
        f"{load:>{width}} {'A infer/s':>11} {'B infer/s':>11} {'change':>8} "
        f"{f'A {lat} us':>12} {f'B {lat} us':>12} {'change':>8} {'noise':>11}  verdict"
    )
    for d in cmp.levels:
        noise = f"±{d.throughput_noise:.0%}/{d.latency_noise:.0%}" + ("" if d.noise_known else "?")
        unstable = [n for n, s in (("A", d.a_stable), ("B", d.b_stable)) if s is False]
        lines.append(
            f"{d.load_words:>{width}} {_num(d.a_throughput, '.1f'):>11} "
            f"{_num(d.b_throughput, '.1f'):>11} {_pct(d.throughput_change):>8} "
            f"{_us(d.a_latency_us):>12} "
            f"{_us(d.b_latency_us):>12} {_pct(d.latency_change):>8} {noise:>11}  "
            f"{d.verdict}" + (f" (unstable in {' and '.join(unstable)})" if unstable else "")
        )
    lines.append(
        cmp.noise_note + " Noise column: throughput/latency band; '?': a default, not measured."
    )
    return lines


def check_lines(checks: list[CheckResult]) -> list[str]:
    """One line per check: '  PASS  p95 < 50ms at concurrency 2  (p95 at concurrency 2: 11.2 ms)'
    or '  FAIL  ...'."""
    return [
        f"  {'PASS' if c.passed else 'FAIL'}  {c.name}"
        + (f"  ({c.measured})" if c.measured else "")
        for c in checks
    ]


def baseline_lines(verdict: BaselineVerdict) -> list[str]:
    """Which baseline, then a row per level: throughput baseline → now (change), latency
    change, the band a change must leave to count, and the verdict."""
    max_regression = _plain_pct(verdict.max_regression)
    lines = [
        f"Against the baseline: {verdict.baseline}  (max regression {max_regression}, "
        "or the level's window noise where larger: the band)"
    ]
    lines += [f"Warning: {w}" for w in verdict.warnings]
    base = [_num(v.baseline_throughput, ".1f") for v in verdict.levels]
    now = [_num(v.throughput, ".1f") for v in verdict.levels]
    wb, wn = max(map(len, base), default=0), max(map(len, now), default=0)
    load = "rate" if verdict.rate_mode else "conc"
    rows = [(load, "infer/s: baseline → now (change)", f"{verdict.latency_label} change", "band")]
    rows += [
        (
            v.load_words,
            f"{b:>{wb}} → {n:>{wn}} ({_pct(v.throughput_change)})",
            _pct(v.latency_change),
            f"±{v.throughput_band:.0%}/±{v.latency_band:.0%}",
        )
        for v, b, n in zip(verdict.levels, base, now, strict=True)
    ]
    verdicts = ["verdict"] + [v.verdict for v in verdict.levels]
    w = [max(len(r[i]) for r in rows) for i in range(4)]
    for (conc, tput, lat, band), word in zip(rows, verdicts, strict=True):
        lines.append(f"  {conc:>{w[0]}}  {tput:<{w[1]}}  {lat:>{w[2]}}  {band:>{w[3]}}  {word}")
    return lines


def _plain_pct(x: float) -> str:
    """0.1 -> '10%', 0.125 -> '12.5%': as --max-regression was given."""
    return f"{x * 100:.6g}%"


def _us(x: float | None) -> str:
    """Whole microseconds, truncated as perf_analyzer prints them."""
    return "-" if x is None else str(int(x))


def _num(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:+.1%}"
