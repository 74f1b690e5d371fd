"""The report's charts as matplotlib figures, drawn from a RunSummary (or two).

matplotlib is imported by the first chart drawn, not with this module: every Locust
worker and CLI command loads the report code, and few of them draw (0.3 s each)."""

from __future__ import annotations

import functools
from types import ModuleType
from typing import TYPE_CHECKING, Any

from analysis.report.recommend import Recommendation
from analysis.report.summary import BREAKDOWN_PARTS, RunSummary

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


def throughput_latency(
    summary: RunSummary, rec: Recommendation | None = None, other: RunSummary | None = None
) -> Figure:
    """The walkthrough's chart: throughput against latency, each point its concurrency."""
    fig, ax = _subplots(figsize=(8, 5))
    runs = [(summary, "#1f77b4", "A" if other else None)]
    if other is not None:
        runs.append((other, "#ff7f0e", "B"))
    for run, color, name in runs:
        xs = [r.latency_us / 1000 for r in run.levels]
        ys = [r.throughput for r in run.levels]
        ax.plot(xs, ys, "-", color=color, label=name, zorder=1)
        for r, x, y in zip(run.levels, xs, ys, strict=True):
            ax.scatter(
                [x],
                [y],
                color=color if r.stable else UNSTABLE_COLOR,
                zorder=2,
                gid=f"point-{name or 'run'}-c{r.concurrency}",
            )
            ax.annotate(
                f"c={r.concurrency}" + ("" if r.stable else " (unstable)"),
                (x, y),
                textcoords="offset points",
                xytext=(5, 5),
                fontsize=8,
            )
    if rec is not None and rec.knee is not None:
        ax.scatter(
            [rec.knee.latency_us / 1000],
            [rec.knee.throughput],
            s=200,
            facecolors="none",
            edgecolors="green",
            zorder=3,
            label="knee",
        )
    ax.set_xlabel(f"{summary.latency_label} latency (ms)")
    ax.set_ylabel("throughput (infer/sec)")
    ax.set_title("Throughput vs latency")
    if other is not None or rec is not None:
        ax.legend()
    fig.tight_layout()
    return fig


def by_concurrency(summary: RunSummary) -> Figure:
    """Throughput and latency percentiles against concurrency."""
    fig, (top, bottom) = _subplots(2, 1, figsize=(8, 6), sharex=True)
    cs = [r.concurrency for r in summary.levels]
    top.plot(cs, [r.throughput for r in summary.levels], "o-")
    top.set_ylabel("infer/sec")
    top.set_title("Throughput and latency by concurrency")
    percentiles = sorted({p for r in summary.levels for p in r.percentiles_us})
    for p in percentiles:
        bottom.plot(
            cs,
            [r.percentiles_us.get(p, float("nan")) / 1000 for r in summary.levels],
            "o-",
            label=f"p{p}",
        )
    bottom.set_ylabel("latency (ms)")
    bottom.set_xlabel("concurrency")
    from matplotlib.ticker import MaxNLocator

    bottom.xaxis.set_major_locator(MaxNLocator(integer=True))
    bottom.legend()
    fig.tight_layout()
    return fig


def breakdown(summary: RunSummary) -> Figure:
    """Where each level's average request time goes, stacked."""
    fig, ax = _subplots(figsize=(8, 4.5))
    labels = [str(r.concurrency) for r in summary.levels]
    bottoms = [0.0] * len(labels)
    for part in BREAKDOWN_PARTS:
        values = [r.breakdown_us.get(part, 0.0) / 1000 for r in summary.levels]
        ax.bar(labels, values, bottom=bottoms, label=part.replace("_", " "))
        bottoms = [b + v for b, v in zip(bottoms, values, strict=True)]
    ax.set_xlabel("concurrency")
    ax.set_ylabel("average latency (ms)")
    ax.set_title("Latency breakdown per level")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    return fig


def windows(summary: RunSummary) -> Figure:
    """Each window's throughput and latency over the sweep: how every level settled."""
    fig, (top, bottom) = _subplots(2, 1, figsize=(8, 5), sharex=True)
    for r in summary.levels:
        ts = [w.t_s for w in r.windows]
        style = "o-" if r.stable else "x--"
        top.plot(ts, [w.throughput for w in r.windows], style, label=f"c={r.concurrency}")
        bottom.plot(ts, [(w.latency_us or float("nan")) / 1000 for w in r.windows], style)
    top.set_ylabel("infer/sec")
    top.set_title("Windows over time (x: unstable level)")
    bottom.set_ylabel(f"{summary.latency_label} latency (ms)")
    bottom.set_xlabel("seconds since the first window")
    top.legend(fontsize=8, ncols=4)
    fig.tight_layout()
    return fig
