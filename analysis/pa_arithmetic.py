"""perf_analyzer 2.51's arithmetic, in one place: the averages, splits, rounding and units
behind every figure the console, the CSV, the JSON and the report show. Integer figures are
floored, as the C++'s unsigned divisions floor them; each function names the C++ it follows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from analysis.server_stats import ServerStats

if TYPE_CHECKING:  # window.py reads its throughput and averages from here
    from analysis.window import Window

NS_PER_US = 1_000
NS_PER_S = 1_000_000_000


# -- rounding and units ----------------------------------------------------------------------


def fmt(x: float) -> str:
    """A double as C++ iostreams print it by default: 6 significant digits."""
    return f"{x:.6g}"


def whole_us(ns: int) -> int:
    """Nanoseconds as perf_analyzer prints microseconds: floored to a whole µs."""
    return ns // NS_PER_US


def avg_ns(total_ns: int, count: int) -> int:
    """A per-request average in whole ns; 0 when nothing was counted."""
    return total_ns // count if count else 0


def avg_us(total_ns: int, count: int) -> int:
    """perf_analyzer's AverageDurationInUs: whole µs, 0 when nothing was counted."""
    # Flooring to ns and then to µs is the same as flooring total / (count * 1000) once.
    return whole_us(avg_ns(total_ns, count))


def throughput(requests: int, batch_size: int, duration_ns: int) -> float:
    """Inferences per second: requests x batch size over the window's real length."""
    if duration_ns <= 0:
        return 0.0
    # perf_analyzer divides in single precision (SummarizeClientStat's float seconds):
    # in double, about 1 figure in 80 would print a different 6th digit.
    seconds = np.float32(duration_ns) / np.float32(NS_PER_S)
    return float(np.float32(requests * batch_size) / seconds)


# -- the client ------------------------------------------------------------------------------


class ClientSplit(NamedTuple):
    """The "Avg HTTP/gRPC time" figures (ReportClientSideStats), whole µs."""

    request_us: int  # ours is the whole measured latency
    send_us: int
    response_wait_us: int
    recv_us: int


def client_split_us(w: Window) -> ClientSplit:
    """perf_analyzer floors each figure to µs first, then takes the wait as what is left."""
    request = whole_us(w.avg_latency_ns or 0)
    send, recv = whole_us(w.avg_send_ns), whole_us(w.avg_recv_ns)
    return ClientSplit(request, send, request - send - recv, recv)


# -- the server ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerBreakdown:
    """Average microseconds per request of the statistics extension's deltas."""

    request_us: int
    overhead_us: int
    queue_us: int
    compute_input_us: int
    compute_infer_us: int
    compute_output_us: int

    @property
    def compute_us(self) -> int:
        return self.compute_input_us + self.compute_infer_us + self.compute_output_us


def server_breakdown(stats: ServerStats) -> ServerBreakdown:
    """The console's "Avg request latency: X usec (overhead + queue + compute ...)" figures
    (ReportServerSideStats); the queue and compute ones are the CSV's too."""
    request_us = avg_us(stats.success_ns, stats.success_count)
    queue_us = avg_us(stats.queue_ns, stats.queue_count)
    compute_ns = stats.compute_input_ns + stats.compute_infer_ns + stats.compute_output_ns
    # The whole compute over compute input's count, as perf_analyzer divides it.
    compute_us = avg_us(compute_ns, stats.compute_input_count)
    return ServerBreakdown(
        request_us=request_us,
        overhead_us=max(0, request_us - queue_us - compute_us),
        queue_us=queue_us,
        compute_input_us=avg_us(stats.compute_input_ns, stats.compute_input_count),
        compute_infer_us=avg_us(stats.compute_infer_ns, stats.compute_infer_count),
        compute_output_us=avg_us(stats.compute_output_ns, stats.compute_output_count),
    )


class ServerColumns(NamedTuple):
    """The CSV's columns from "Network+Server Send/Recv" to "Server Compute Output"
    (report_writer.cc), whole µs."""

    network_us: int
    queue_us: int
    compute_input_us: int
    compute_infer_us: int
    compute_output_us: int


def server_columns_us(w: Window) -> ServerColumns:
    """From the window's client averages and server deltas; zeros when the server gave no
    statistics."""
    s = w.server
    if s is None:
        return ServerColumns(0, 0, 0, 0, 0)
    b = server_breakdown(s)
    return ServerColumns(
        whole_us(_network_ns(w, s)),
        b.queue_us,
        b.compute_input_us,
        b.compute_infer_us,
        b.compute_output_us,
    )


def _network_ns(w: Window, s: ServerStats) -> int:
    """What the client waited beyond the server's queue, compute and cache time. Worked in
    ns, not from the floored µs figures, as report_writer.cc does."""
    client_wait = (w.avg_latency_ns or 0) - w.avg_send_ns - w.avg_recv_ns
    compute = s.compute_input_ns + s.compute_infer_ns + s.compute_output_ns
    server = (
        avg_ns(s.queue_ns, s.queue_count)
        + avg_ns(compute, s.compute_input_count)
        + avg_ns(s.cache_hit_ns, s.cache_hit_count)
        + avg_ns(s.cache_miss_ns, s.cache_miss_count)
    )
    # Client and server clocks measure different things: capped at 0, as perf_analyzer does.
    return max(0, client_wait - server)
