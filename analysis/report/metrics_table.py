"""The report's server metrics (--collect-metrics): per level, Triton's CPU figures and, on a
server with GPUs, perf_analyzer's four figures per GPU, as aggregated over the level's
reported windows (analysis/server_metrics.py)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from analysis.server_metrics import ServerMetrics

NOTE = (
    "Scraped from Triton's Prometheus endpoint while each level ran, over the windows the "
    "level reports, aggregated as perf_analyzer aggregates its GPU figures: the average "
    "utilisation and power, the highest memory used, the first total seen. Triton's CPU "
    "figures are its machine's, aggregated alike but for the total: the highest seen (Triton "
    "says 0 before its first CPU poll)."
)


def metrics_section(
    levels: Sequence[tuple[str, ServerMetrics | None]], load: str = "concurrency"
) -> str:
    """The section's HTML, or "" when no level has metrics. `levels`: (the level's load as
    shown, its metrics); `load`: what the first column is ('concurrency', 'request rate')."""
    from analysis.report.html import _table  # html.py draws the report that holds this

    present = [(name, m) for name, m in levels if m is not None]
    if not present:
        return ""
    cpu_rows: list[list[Any]] = [
        [
            name,
            f"{len(m.scrapes)}" + (f" ({m.failed} failed)" if m.failed else ""),
            _pct(m.cpu_utilization),
            _mib(m.cpu_memory_used_bytes),
            _mib(m.cpu_memory_total_bytes),
        ]
        for name, m in present
    ]
    parts = [
        "<h2>Server metrics</h2>",
        _table(
            [load, "scrapes", "CPU utilisation (avg)", "CPU memory used (max)", "CPU memory"],
            cpu_rows,
        ),
    ]
    gpu_rows: list[list[Any]] = []
    for name, m in present:
        utilization, power = m.gpu_utilization, m.gpu_power_usage
        used, total = m.gpu_memory_used_bytes, m.gpu_memory_total_bytes
        for uuid in sorted({*utilization, *power, *used, *total}):
            gpu_rows.append(
                [
                    name,
                    (uuid, "text"),
                    _pct(utilization.get(uuid)),
                    "-" if uuid not in power else f"{power[uuid]:.1f} W",
                    _mib(used.get(uuid)),
                    _mib(total.get(uuid)),
                ]
            )
    if gpu_rows:
        headers = [load, ("GPU", "text"), "utilisation (avg)", "power (avg)"]
        parts.append(_table(headers + ["memory used (max)", "memory"], gpu_rows))
    else:
        parts.append('<p class="note">The server reported no GPU metrics (no GPU).</p>')
    parts.append(f'<p class="note">{html.escape(NOTE)}</p>')
    return "".join(parts)


def _pct(share: float | None) -> str:
    return "-" if share is None else f"{share:.1%}"


def _mib(n: int | None) -> str:
    return "-" if n is None else f"{n / 2**20:,.0f} MiB"
