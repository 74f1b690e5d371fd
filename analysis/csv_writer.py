"""perf_analyzer 2.51's CSV (report_writer.cc): one row per reported level, ordered by
throughput, every figure computed as its C++ computes it (integer microseconds)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from analysis.atomic_write import write_text
from analysis.console import client_split_us, fmt
from analysis.csv_columns import header
from analysis.results import LevelResult, SweepResult
from analysis.server_stats import ServerStats
from analysis.statistics import wanted_percentiles


def _avg_ns(total: int, count: int) -> int:
    return total // count if count else 0


def server_columns_us(
    w_latency_ns: int, send_ns: int, recv_ns: int, s: ServerStats | None
) -> list[int]:
    """Network+Server Send/Recv, Server Queue, Compute Input, Compute Infer, Compute Output."""
    if s is None:
        return [0, 0, 0, 0, 0]
    queue = _avg_ns(s.queue_ns, s.queue_count)
    compute = _avg_ns(
        s.compute_input_ns + s.compute_infer_ns + s.compute_output_ns, s.compute_input_count
    )
    client_wait = w_latency_ns - send_ns - recv_ns
    # Client and server clocks measure different things: capped at 0, as perf_analyzer does.
    network = max(0, client_wait - (queue + compute))
    return [
        network // 1000,
        queue // 1000,
        _avg_ns(s.compute_input_ns, s.compute_input_count) // 1000,
        _avg_ns(s.compute_infer_ns, s.compute_infer_count) // 1000,
        _avg_ns(s.compute_output_ns, s.compute_output_count) // 1000,
    ]


def _row(level: LevelResult, percentiles: list[int], verbose: bool, on_average: bool) -> list[str]:
    w = level.merged
    assert w is not None
    latency_ns = w.avg_latency_ns or 0
    row = [str(level.concurrency), fmt(w.throughput), str(w.avg_send_ns // 1000)]
    row += [str(v) for v in server_columns_us(latency_ns, w.avg_send_ns, w.avg_recv_ns, w.server)]
    row.append(str(w.avg_recv_ns // 1000))
    row += [str(w.percentiles_ns[p] // 1000) for p in percentiles]
    if verbose:
        request, send, wait, recv = client_split_us(w)
        if on_average:
            row.append(str(latency_ns // 1000))
        row += [str(send + recv), str(wait)]
    return row


def csv_text(result: SweepResult, verbose: bool = False) -> str:
    settings = result.settings
    percentiles = wanted_percentiles(settings.percentile)
    on_average = settings.percentile is None
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header(percentiles, verbose, on_average))
    levels = sorted(result.reported_levels, key=lambda lvl: lvl.merged.throughput)  # type: ignore[union-attr]
    for level in levels:
        writer.writerow(_row(level, percentiles, verbose, on_average))
    return out.getvalue()


def write_csv(result: SweepResult, path: str | Path, verbose: bool = False) -> None:
    write_text(path, csv_text(result, verbose))
