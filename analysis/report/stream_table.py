"""The report's streaming section (--streaming): per level, perf_analyzer's Response
Throughput, responses per request, and the latency to each request's first response and
between its responses."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from analysis.report.summary import LevelRow
from analysis.statistics import STREAM_PERCENTILES

NOTE = (
    "A streamed request's latency runs to its last response, as perf_analyzer's does. "
    "First response: from the request's start to its first response; inter-response: the "
    "gaps between one request's consecutive responses. A final flag sent alone is not a "
    "response (perf_analyzer's rule)."
)


def stream_section(levels: Sequence[LevelRow], load: str = "concurrency") -> str:
    """The section's HTML, or "" when no level streamed."""
    from analysis.report.html import _table  # html.py draws the report that holds this

    present = [r for r in levels if r.stream is not None]
    if not present:
        return ""
    headers: list[Any] = [load, "responses/sec", "per request"]
    headers += [f"first p{p} (us)" for p in STREAM_PERCENTILES]
    headers += [f"inter-response p{p} (us)" for p in STREAM_PERCENTILES]
    rows: list[list[Any]] = []
    for r in present:
        s = r.stream
        assert s is not None
        rows.append(
            [
                str(r.concurrency),
                f"{s.response_throughput:,.1f}",
                f"{s.responses_per_request:.4g}",
                *(_us(s.first_us.get(p)) for p in STREAM_PERCENTILES),
                *(_us(s.inter_us.get(p)) for p in STREAM_PERCENTILES),
            ]
        )
    return (
        "<h2>Streamed responses</h2>"
        + _table(headers, rows)
        + f'<p class="note">{html.escape(NOTE)}</p>'
    )


def _us(x: float | None) -> str:
    return "-" if x is None else f"{x:,.0f}"
