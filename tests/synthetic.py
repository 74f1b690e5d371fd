"""Windows made of synthetic requests, for the pure tests."""

from __future__ import annotations

from analysis.records import Records
from analysis.window import Window, summarize

MS = 1_000_000


def window(
    count: int,
    latency_us: float,
    duration_ms: float = 1000,
    batch: int = 1,
    percentile: int | None = None,
    spread_us: float = 0,
) -> Window:
    """`count` requests evenly spread over the window, latencies from latency_us up to
    latency_us + spread_us."""
    end = int(duration_ms * MS)
    rows = []
    for i in range(count):
        finish = (i + 1) * end // max(count, 1)
        lat = int((latency_us + spread_us * i / max(count - 1, 1)) * 1000)
        rows.append((finish - lat, finish, 10_000, 5_000, True))
    return summarize(Records.from_rows(rows), 0, end, batch, percentile)
