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
from analysis.window import Window


def _avg_ns(total: int, count: int) -> int:
    return total // count if count else 0


def server_columns_us(
    w_latency_ns: int, send_ns: int, recv_ns: int, s: ServerStats | None
) -> list[int]:
    """Network+Server Send/Recv, Server Queue, Compute Input, Compute Infer, Compute Output,
    from the client's average latency/send/recv (ns) and the server's deltas; zeros when
    the server gave no statistics."""
    if s is None:
        return [0, 0, 0, 0, 0]
    queue = _avg_ns(s.queue_ns, s.queue_count)
    compute = _avg_ns(
        s.compute_input_ns + s.compute_infer_ns + s.compute_output_ns, s.compute_input_count
    )
    cache = _avg_ns(s.cache_hit_ns, s.cache_hit_count) + _avg_ns(
        s.cache_miss_ns, s.cache_miss_count
    )
    client_wait = w_latency_ns - send_ns - recv_ns
    # Client and server clocks measure different things: capped at 0, as perf_analyzer does.
    network = max(0, client_wait - (queue + compute + cache))
    return [
        network // 1000,
        queue // 1000,
        _avg_ns(s.compute_input_ns, s.compute_input_count) // 1000,
        _avg_ns(s.compute_infer_ns, s.compute_infer_count) // 1000,
        _avg_ns(s.compute_output_ns, s.compute_output_count) // 1000,
    ]


def _row(
    w: Window, concurrency: int, percentiles: list[int], verbose: bool, on_average: bool
) -> list[object]:
    latency_ns = w.avg_latency_ns or 0
    row: list[object] = [concurrency, fmt(w.throughput), w.avg_send_ns // 1000]
    row += server_columns_us(latency_ns, w.avg_send_ns, w.avg_recv_ns, w.server)
    row.append(w.avg_recv_ns // 1000)
    row += [w.percentiles_ns[p] // 1000 for p in percentiles]
    if verbose:
        _, send, wait, recv = client_split_us(w)
        if on_average:
            row.append(latency_ns // 1000)
        row += [send + recv, wait]
    return row


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
    writer.writerow(header(percentiles, verbose, on_average))
    for level, merged in _by_throughput(result.reported_levels):
        writer.writerow(_row(merged, level.concurrency, percentiles, verbose, on_average))
    return out.getvalue()


def write_csv(result: SweepResult, path: str | Path, verbose: bool = False) -> None:
    """Written whole or not at all (temporary file, then rename)."""
    write_text(path, csv_text(result, verbose))
