"""perf_analyzer 2.51's CSV (report_writer.cc): one row per reported level, ordered by
throughput; the figures come from analysis/pa_arithmetic.py (integer microseconds)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from analysis.atomic_write import write_text
from analysis.csv_columns import SCHEDULED_PERCENTILES, header
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
) -> list[object]:
    # perf_analyzer writes the rate as an ofstream writes a double (6 significant digits).
    load = level.concurrency if level.request_rate is None else fmt(level.request_rate)
    row: list[object] = [load, fmt(w.throughput), whole_us(w.avg_send_ns)]
    row += server_columns_us(w)
    row.append(whole_us(w.avg_recv_ns))
    row += [whole_us(w.percentiles_ns[p]) for p in percentiles]
    if verbose:
        split = client_split_us(w)
        if on_average:
            row.append(split.request_us)
        row += [split.send_us + split.recv_us, split.response_wait_us]
        server_metrics = w.server_metrics or ServerMetrics()
        if metrics:
            row += gpu_metric_cells(server_metrics)
        if level.request_rate is not None:
            row += [whole_us(w.scheduled_percentiles_ns.get(p, 0)) for p in SCHEDULED_PERCENTILES]
            row.append(w.late_count)
        if metrics:
            row += cpu_metric_cells(server_metrics)
    return row


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
    writer.writerow(header(percentiles, verbose, on_average, settings.rate_mode, metrics))
    for level, merged in _by_throughput(result.reported_levels):
        writer.writerow(_row(merged, level, percentiles, verbose, on_average, metrics))
    return out.getvalue()


def write_csv(result: SweepResult, path: str | Path, verbose: bool = False) -> None:
    """Written whole or not at all (temporary file, then rename)."""
    write_text(path, csv_text(result, verbose))
