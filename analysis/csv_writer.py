"""perf_analyzer 2.51's CSV (report_writer.cc): one row per reported level, ordered by
throughput; the figures come from analysis/pa_arithmetic.py (integer microseconds)."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from pathlib import Path

from analysis.atomic_write import write_text
from analysis.csv_columns import SCHEDULED_PERCENTILES, STREAM_COLUMN_PERCENTILES, header
from analysis.model_config import is_decoupled
from analysis.pa_arithmetic import client_split_us, fmt, server_columns_us, whole_us
from analysis.results import LevelResult, SweepResult
from analysis.server_metrics import ServerMetrics
from analysis.statistics import wanted_percentiles
from analysis.window import Window


def _row(
    w: Window,
    level: LevelResult,
    percentiles: list[int],
    verbose: bool,
    on_average: bool,
    metrics: bool = False,
    decoupled: bool = False,
    streamed: bool = False,
) -> list[object]:
    # perf_analyzer writes the rate as an ofstream writes a double (6 significant digits).
    load = level.concurrency if level.request_rate is None else fmt(level.request_rate)
    if decoupled:  # perf_analyzer has no client library figures for it: 0 (include_lib_stats)
        w = replace(w, avg_send_ns=0, avg_recv_ns=0)
    row: list[object] = [load, fmt(w.throughput)]
    if decoupled:
        row.append(fmt(w.response_throughput))
    row.append(whole_us(w.avg_send_ns))
    row += server_columns_us(w)
    row.append(whole_us(w.avg_recv_ns))
    row += [whole_us(w.percentiles_ns[p]) for p in percentiles]
    if verbose:
        split = client_split_us(w)
        if on_average:
            row.append(split.request_us)
        # A decoupled model's response wait is 0 in perf_analyzer's CSV: no library figures.
        row += [split.send_us + split.recv_us, 0 if decoupled else split.response_wait_us]
        server_metrics = w.server_metrics or ServerMetrics()
        if metrics:
            row += gpu_metric_cells(server_metrics)
        if level.request_rate is not None:
            row += [whole_us(w.scheduled_percentiles_ns.get(p, 0)) for p in SCHEDULED_PERCENTILES]
            row.append(w.late_count)
        if metrics:
            row += cpu_metric_cells(server_metrics)
        if streamed:
            row += [
                _us_or_empty(w.first_response_percentiles_ns, p) for p in STREAM_COLUMN_PERCENTILES
            ]
            row += [
                _us_or_empty(w.inter_response_percentiles_ns, p) for p in STREAM_COLUMN_PERCENTILES
            ]
    return row


def _us_or_empty(percentiles_ns: dict[int, int], p: int) -> object:
    """A streaming percentile in whole usec; empty when no request had such a response."""
    return whole_us(percentiles_ns[p]) if p in percentiles_ns else ""


def gpu_metric_cells(m: ServerMetrics) -> list[str]:
    """perf_analyzer's WriteGpuMetrics: "uuid:value;" per GPU, utilisation as a fraction."""
    return [
        "".join(f"{uuid}:{fmt(v)};" for uuid, v in m.gpu_utilization.items()),
        "".join(f"{uuid}:{fmt(v)};" for uuid, v in m.gpu_power_usage.items()),
        "".join(f"{uuid}:{v};" for uuid, v in m.gpu_memory_used_bytes.items()),
        "".join(f"{uuid}:{v};" for uuid, v in m.gpu_memory_total_bytes.items()),
    ]


def cpu_metric_cells(m: ServerMetrics) -> list[str]:
    """Ours: the CPU's figures as the GPU's are written (utilisation a fraction); empty when
    the server reported none."""
    util, used, total = m.cpu_utilization, m.cpu_memory_used_bytes, m.cpu_memory_total_bytes
    return [
        "" if util is None else fmt(util),
        "" if used is None else str(used),
        "" if total is None else str(total),
    ]


def _by_throughput(levels: list[LevelResult]) -> list[tuple[LevelResult, Window]]:
    # perf_analyzer sorts by ascending infer/sec; a stable sort keeps ties in sweep order.
    pairs = [(lvl, lvl.merged) for lvl in levels if lvl.merged is not None]
    return sorted(pairs, key=lambda pair: pair[1].throughput)


def csv_text(result: SweepResult, verbose: bool = False) -> str:
    """The whole CSV: header, then the reported levels (stable and unstable, not those over
    -l) by ascending throughput."""
    settings = result.settings
    percentiles = wanted_percentiles(settings.percentile)
    on_average = settings.percentile is None
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    metrics = settings.collect_metrics
    decoupled, streamed = is_decoupled(result.model_config), settings.streaming
    writer.writerow(
        header(percentiles, verbose, on_average, settings.rate_mode, metrics, decoupled, streamed)
    )
    for level, merged in _by_throughput(result.reported_levels):
        writer.writerow(
            _row(merged, level, percentiles, verbose, on_average, metrics, decoupled, streamed)
        )
    return out.getvalue()


def write_csv(result: SweepResult, path: str | Path, verbose: bool = False) -> None:
    """Written whole or not at all (temporary file, then rename)."""
    write_text(path, csv_text(result, verbose))
