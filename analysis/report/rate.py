"""The HTML report of a request-rate sweep: per rate, what was wanted and sent, the
throughput, perf_analyzer's latency (from each request's send) beside ours from its slot
(corrected for coordinated omission), and the late requests; a chart of both latencies."""

from __future__ import annotations

import html
from typing import Any

from analysis.pa_arithmetic import NS_PER_US, fmt, whole_us
from analysis.report import charts
from analysis.report.metrics_table import metrics_section
from analysis.report.settings_words import settings_rows
from analysis.results import LevelResult, SweepResult
from analysis.statistics import wanted_percentiles


def rate_report_html(result: SweepResult) -> str:
    from analysis.report.html import _page, _table, svg  # html.py dispatches here

    settings = result.settings
    p = settings.percentile or 95
    levels = by_rate(result)
    headers = [
        "request rate",
        "sent/sec",
        "infer/sec",
        f"p{p} from send (perf_analyzer)",
        f"p{p} from slot (ours)",
        "p99 from slot",
        "late",
        "late by p50 (usec)",
        "late by p99 (usec)",
        "stable",
    ]
    rows: list[list[Any]] = []
    for lvl in levels:
        w = lvl.merged
        assert w is not None  # reported levels have one
        rows.append(
            [
                fmt(lvl.request_rate or 0.0),
                f"{w.send_rate:.2f}",
                fmt(w.throughput),
                whole_us(w.percentiles_ns.get(p, 0)),
                whole_us(w.scheduled_percentiles_ns.get(p, 0)),
                whole_us(w.scheduled_percentiles_ns.get(99, 0)),
                f"{w.late_count} ({w.late_share:.2%})",
                "-" if w.late_p50_ns is None else whole_us(w.late_p50_ns),
                "-" if w.late_p99_ns is None else whole_us(w.late_p99_ns),
                "yes" if lvl.stable else "no",
            ]
        )
    title = f"{settings.model}: latency by request rate"
    sections = [
        f"<p>{html.escape(settings.url)}, {settings.protocol.upper()}, "
        f"{settings.rate.max_threads} users (--max-threads), {settings.rate.distribution} "
        f"arrivals; stopped: {html.escape(result.stop_reason)}</p>",
        "<h2>Levels</h2>" + _table(headers, rows),
        '<p class="note">From send: perf_analyzer\'s latency, from when each request left. '
        "From slot: from when it was due; a request that waited for a free user counts the "
        "wait, as a caller arriving at that rate would. Late: left more than 1 ms after its "
        "slot (perf_analyzer's delayed).</p>",
    ]
    if levels:
        sections.append("<h2>Latency by request rate</h2>" + svg(_latency_chart(result, p)))
    sections.append(
        metrics_section(
            [
                (fmt(lvl.request_rate or 0.0), lvl.merged.server_metrics)
                for lvl in levels
                if lvl.merged is not None
            ],
            load="request rate",
        )
    )
    sections.append(
        "<h2>Settings</h2>"
        + _table(["setting", "value"], [[k, v] for k, v in settings_rows(settings.to_dict())])
    )
    data = {
        "request_rate": True,
        "percentiles": wanted_percentiles(settings.percentile),
        "levels": [lvl.to_dict() for lvl in levels],
    }
    for level in data["levels"]:
        level.pop("windows", None)
    return _page(title, sections, data)


def by_rate(result: SweepResult) -> list[LevelResult]:
    """The reported levels by ascending rate: --binary-search measures them out of order."""
    levels = [lvl for lvl in result.reported_levels if lvl.request_rate is not None]
    return sorted(levels, key=lambda lvl: lvl.request_rate or 0.0)


def _latency_chart(result: SweepResult, p: int) -> Any:
    fig, ax = charts._subplots(figsize=(8, 4))
    levels = [lvl for lvl in by_rate(result) if lvl.merged is not None]
    rates = [lvl.request_rate or 0.0 for lvl in levels]
    send = [lvl.merged.percentiles_ns.get(p, 0) / NS_PER_US for lvl in levels]  # type: ignore[union-attr]
    slot = [lvl.merged.scheduled_percentiles_ns.get(p, 0) / NS_PER_US for lvl in levels]  # type: ignore[union-attr]
    ax.plot(rates, send, "o-", label=f"p{p} from send (perf_analyzer)")
    ax.plot(rates, slot, "s--", label=f"p{p} from slot (corrected)")
    ax.set_xlabel("request rate (requests/sec)")
    ax.set_ylabel("latency (usec)")
    ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    return fig
