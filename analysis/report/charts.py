"""The report's charts as matplotlib figures, drawn from a RunSummary (or two).

matplotlib is imported by the first chart drawn, not with this module: every Locust
worker and CLI command loads the report code, and few of them draw (0.3 s each)."""

from __future__ import annotations

import functools
from types import ModuleType
from typing import TYPE_CHECKING, Any

from analysis.report.recommend import Recommendation
from analysis.report.summary import BREAKDOWN_PARTS, LevelRow, RunSummary

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@functools.cache
def _pyplot() -> ModuleType:
    import matplotlib

    matplotlib.use("Agg")  # files only, never a screen
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "svg.fonttype": "none",  # text stays text: labels are searchable in the page
            "svg.hashsalt": "triton-locust",  # stable ids: the same run gives the same file
            "figure.dpi": 100,
            "axes.grid": True,
            "grid.alpha": 0.3,
        }
    )
    return plt


def _subplots(*args: Any, **kwargs: Any) -> Any:
    return _pyplot().subplots(*args, **kwargs)


def close(fig: Figure) -> None:
    """Free a drawn figure (pyplot keeps every figure until closed)."""
    _pyplot().close(fig)


UNSTABLE_COLOR = "#d62728"
RUN_COLORS = ("#1f77b4", "#ff7f0e")
# The windows a level reports: perf_analyzer's stability window (StabilityRule.window_count).
REPORTED_WINDOWS = 3

# Each rule's mark on the curve: rings of different shapes and sizes, so that picks landing
# on the same level all stay visible. (marker, area in pt^2, colour, legend text)
PICK_MARKS: dict[str, tuple[str, float, str, str]] = {
    "knee": ("o", 170, "#2ca02c", "knee"),
    "latency_budget": ("D", 260, "#17becf", "within budget"),
    "saturation": ("s", 340, "#9467bd", "saturation"),
    "max_throughput": ("h", 480, "#e6a700", "max throughput"),
}


def hover_titles(fig: Figure) -> dict[str, str]:
    """{SVG group id: text} of the figure's points: the HTML writes each text as the
    group's SVG <title>, which browsers show on hover (offline, no script)."""
    titles: dict[str, str] = fig.__dict__.setdefault("_hover_titles", {})
    return titles


def _hover(fig: Figure, artist: Any, name: str, text: str) -> None:
    titles = hover_titles(fig)
    gid = f"hover-{name}-{len(titles)}"  # unique in the page: each chart has its own name
    artist.set_gid(gid)
    titles[gid] = text


def level_text(r: LevelRow, latency_label: str) -> str:
    """A level's figures in one line, as hover text."""
    parts = [f"{r.name}: {r.throughput:.6g} infer/sec"]
    parts.append(f"{latency_label} latency {int(r.latency_us)} usec")
    if r.avg_latency_us is not None and latency_label != "avg":
        parts.append(f"avg {int(r.avg_latency_us)} usec")
    if r.stable is False:
        parts.append(
            "UNSTABLE" + (f" ({spread_text(r.spread, latency_label)})" if r.spread else "")
        )
    return ", ".join(parts)


def spread_text(spread: tuple[float, float], latency_label: str) -> str:
    """'throughput varied 46%, p95 160%': max/min - 1 over the windows the level reports."""
    return f"throughput varied {spread_pct(spread[0])}, {latency_label} {spread_pct(spread[1])}"


def spread_pct(ratio: float) -> str:
    """A max/min ratio as the percentage it exceeds 1 by."""
    return "without bound (an empty window)" if ratio == float("inf") else f"{ratio - 1:.0%}"


def throughput_latency(
    summary: RunSummary,
    rec: Recommendation | None = None,
    other: RunSummary | None = None,
    names: tuple[str, str] = ("A", "B"),
) -> Figure:
    """The walkthrough's chart: throughput against latency, each point its concurrency, the
    recommendation's picks ringed; with `other`, both runs overlaid under their names."""
    fig, ax = _subplots(figsize=(10, 5.5))
    runs = [(summary, RUN_COLORS[0], names[0] if other else None)]
    if other is not None:
        runs.append((other, RUN_COLORS[1], names[1]))
    for run, color, name in runs:
        xs = [r.latency_us / 1000 for r in run.levels]
        ys = [r.throughput for r in run.levels]
        ax.plot(xs, ys, "-", color=color, label=name, zorder=1)
        for r, x, y in zip(run.levels, xs, ys, strict=True):
            unstable = r.stable is False
            if unstable:
                _window_range(ax, r, x, y)
            point = ax.scatter(
                [x], [y], s=36, color=UNSTABLE_COLOR if unstable else color, zorder=4
            )
            _hover(
                fig, point, "tl", (f"{name}: " if name else "") + level_text(r, run.latency_label)
            )
            ax.annotate(
                r.short_name + (" (unstable)" if unstable else ""),
                (x, y),
                textcoords="offset points",
                xytext=(8, -13),
                fontsize=8,
                color=UNSTABLE_COLOR if unstable else "#333",
            )
    if rec is not None:
        _mark_picks(fig, ax, rec)
    ax.set_xlabel(f"{summary.latency_label} latency (ms)")
    ax.set_ylabel("throughput (infer/sec)")
    ax.set_title("Throughput vs latency")
    ax.set_ylim(0, ax.get_ylim()[1] * 1.08)  # room above the top point for its rings
    if other is not None or rec is not None:
        ax.legend(loc="lower right", fontsize=8, markerscale=0.6)
    fig.tight_layout()
    return fig


def _window_range(ax: Any, r: LevelRow, x: float, y: float) -> None:
    """Bars over the range of the windows an unstable level reports: its spread, drawn."""
    tail = r.windows[-REPORTED_WINDOWS:]
    lats = [w.latency_us / 1000 for w in tail if w.latency_us is not None]
    thrs = [w.throughput for w in tail]
    if not lats or not thrs:
        return
    ax.errorbar(
        [x],
        [y],
        xerr=[[max(0.0, x - min(lats))], [max(0.0, max(lats) - x)]],
        yerr=[[max(0.0, y - min(thrs))], [max(0.0, max(thrs) - y)]],
        fmt="none",
        ecolor=UNSTABLE_COLOR,
        alpha=0.6,
        capsize=3,
        zorder=2,
    )


def _mark_picks(fig: Figure, ax: Any, rec: Recommendation) -> None:
    picks = {
        "knee": rec.knee,
        "latency_budget": rec.latency_budget,
        "saturation": rec.saturation,
        "max_throughput": rec.max_throughput,
    }
    for key, pick in picks.items():
        if pick is None:
            continue
        marker, size, color, text = PICK_MARKS[key]
        if key == "knee" and not rec.knee_found:
            text = "knee not reached, last level"
        ring = ax.scatter(
            [pick.latency_us / 1000],
            [pick.throughput],
            s=size,
            marker=marker,
            facecolors="none",
            edgecolors=color,
            linewidths=1.6,
            zorder=3,
            label=f"{text}: c={pick.concurrency}",
        )
        _hover(fig, ring, "tl", f"{text}: concurrency {pick.concurrency}")
    if rec.latency_budget_ms is not None:
        # Drawn only where the data already reaches: a far budget would squash the curve.
        lo, hi = ax.get_xlim()
        if lo <= rec.latency_budget_ms <= hi:
            ax.axvline(
                rec.latency_budget_ms,
                linestyle="--",
                color=PICK_MARKS["latency_budget"][2],
                linewidth=1,
                label=f"latency budget {rec.latency_budget_ms:g} ms",
            )
            ax.set_xlim(lo, hi)


def by_concurrency(summary: RunSummary, rec: Recommendation | None = None) -> Figure:
    """Throughput, and the average and percentile latencies, against concurrency."""
    fig, (top, bottom) = _subplots(2, 1, figsize=(10, 6), sharex=True)
    cs = [r.concurrency for r in summary.levels]
    top.plot(cs, [r.throughput for r in summary.levels], "-", color=RUN_COLORS[0])
    for r in summary.levels:
        color = UNSTABLE_COLOR if r.stable is False else RUN_COLORS[0]
        point = top.scatter([r.concurrency], [r.throughput], s=30, color=color, zorder=3)
        _hover(fig, point, "bc", level_text(r, summary.latency_label))
    top.set_ylabel("infer/sec")
    top.set_ylim(bottom=0)
    top.set_title("Throughput and latency by concurrency")
    series: list[tuple[str, list[float | None]]] = []
    if any(r.avg_latency_us is not None for r in summary.levels):
        series.append(("avg", [r.avg_latency_us for r in summary.levels]))
    percentiles = sorted({p for r in summary.levels for p in r.percentiles_us})
    series += [(f"p{p}", [r.percentiles_us.get(p) for r in summary.levels]) for p in percentiles]
    for label, values in series:
        ms = [float("nan") if v is None else v / 1000 for v in values]
        shown = label + (" (stabilised on)" if label == summary.latency_label else "")
        line = bottom.plot(cs, ms, "-", label=shown)[0]
        for c, v in zip(cs, values, strict=True):
            if v is not None:
                point = bottom.scatter([c], [v / 1000], s=18, color=line.get_color(), zorder=3)
                _hover(fig, point, "bc", f"concurrency {c}: {label} latency {int(v)} usec")
    if rec is not None and rec.knee is not None:
        for ax in (top, bottom):
            ax.axvline(
                rec.knee.concurrency,
                linestyle=":",
                color=PICK_MARKS["knee"][2],
                label=(
                    ("knee" if rec.knee_found else "knee not reached, last level")
                    + f": c={rec.knee.concurrency}"
                )
                if ax is top
                else None,
            )
        top.legend(fontsize=8, loc="lower right")
    bottom.set_ylabel("latency (ms)")
    bottom.set_ylim(bottom=0)
    bottom.set_xlabel("concurrency")
    from matplotlib.ticker import MaxNLocator

    bottom.xaxis.set_major_locator(MaxNLocator(integer=True))
    bottom.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def breakdown(summary: RunSummary) -> Figure:
    """Where each level's average request time goes, stacked."""
    fig, ax = _subplots(figsize=(10, 4.5))
    labels = [str(r.concurrency) for r in summary.levels]
    bottoms = [0.0] * len(labels)
    totals = [sum(r.breakdown_us.get(p, 0.0) for p in BREAKDOWN_PARTS) for r in summary.levels]
    for part in BREAKDOWN_PARTS:
        values = [r.breakdown_us.get(part, 0.0) / 1000 for r in summary.levels]
        bars = ax.bar(labels, values, bottom=bottoms, label=part.replace("_", " "))
        for r, bar, v, total in zip(summary.levels, bars.patches, values, totals, strict=True):
            share = f" ({v * 1000 / total:.0%} of {total:.0f})" if total else ""
            _hover(
                fig,
                bar,
                "bd",
                f"concurrency {r.concurrency}: {part.replace('_', ' ')} {v * 1000:.0f} usec{share}",
            )
        bottoms = [b + v for b, v in zip(bottoms, values, strict=True)]
    ax.set_xlabel("concurrency")
    ax.set_ylabel("average latency (ms)")
    ax.set_title("Latency breakdown per level")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    return fig


def windows(summary: RunSummary) -> Figure:
    """Each window's throughput and latency over the sweep: how every level settled. The
    windows a level reports are filled, the earlier ones hollow."""
    fig, (top, bottom) = _subplots(2, 1, figsize=(10, 5), sharex=True)
    for r in summary.levels:
        ts = [w.t_s for w in r.windows]
        lats = [(w.latency_us or float("nan")) / 1000 for w in r.windows]
        style = "-" if r.stable is not False else "--"
        color = top.plot(ts, [w.throughput for w in r.windows], style, label=r.short_name)[
            0
        ].get_color()
        bottom.plot(ts, lats, style, color=color)
        n = len(r.windows)
        for i, (w, lat) in enumerate(zip(r.windows, lats, strict=True), 1):
            reported = i > n - REPORTED_WINDOWS
            face = color if reported else "none"
            marker = "o" if r.stable is not False else "X"
            text = (
                f"concurrency {r.concurrency}, window {i} of {n}"
                + (" (reported)" if reported else "")
                + f": {w.throughput:.6g} infer/sec, {summary.latency_label} latency "
                + ("-" if w.latency_us is None else f"{int(w.latency_us)} usec")
            )
            for ax, y in ((top, w.throughput), (bottom, lat)):
                point = ax.scatter(
                    [w.t_s], [y], s=22, marker=marker, facecolors=face, edgecolors=color, zorder=3
                )
                _hover(fig, point, "win", text)
    top.set_ylabel("infer/sec")
    top.set_title("Windows over time (filled: the windows each level reports; X: unstable level)")
    bottom.set_ylabel(f"{summary.latency_label} latency (ms)")
    bottom.set_xlabel("seconds since the first window")
    top.legend(fontsize=8, ncols=4)
    fig.tight_layout()
    return fig
