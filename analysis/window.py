"""A measurement window: the requests whose responses arrived in it, summarised as
perf_analyzer summarises one "pass", and the merge of several windows into a level's
reported figures."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import numpy as np

from analysis.distribution import ExactLatencies, LatencyHistogram, merge_all, percentiles_of
from analysis.pa_arithmetic import NS_PER_S, NS_PER_US, avg_ns, throughput
from analysis.records import Records
from analysis.server_metrics import ServerMetrics, merge_some
from analysis.server_stats import ServerStats

# perf_analyzer's delay_tolerance_ (request_rate_worker.h): a request that leaves more than
# this after its slot is delayed; ours counts it late.
LATE_TOLERANCE_NS = 1_000_000


@dataclass(frozen=True)
class Window:
    """Client figures of one window (or of merged windows). `latencies` holds the
    successful requests' latencies (exact samples, or a histogram from Locust workers); it
    stays in memory only."""

    start_ns: int
    end_ns: int
    duration_ns: int
    batch_size: int
    request_count: int
    error_count: int
    latencies: ExactLatencies | LatencyHistogram = field(repr=False)
    avg_latency_ns: int | None
    std_us: float | None
    percentiles_ns: dict[int, int]
    avg_send_ns: int
    avg_recv_ns: int
    server: ServerStats | None = None
    # How busy the load generator was; filled by whoever measured it (None: not measured):
    # its CPU as a share of one core, and how late (ms, mean) its event loop ran a timer.
    client_busy: float | None = None
    client_lag_ms: float | None = None
    # Locust workers that did not answer this window's cut (its counts are short of them),
    # and that joined during it (Locust moved users onto them mid-window).
    missing_workers: int = 0
    joined_workers: int = 0
    # Request-rate mode (None or 0 in concurrency mode). Latency from each request's slot
    # rather than from its send (corrected for coordinated omission); the requests that left
    # more than perf_analyzer's 1 ms after their slot, and how late (p50, p99); the requests
    # sent in the window (perf_analyzer's "Avg send request rate").
    scheduled_percentiles_ns: dict[int, int] = field(default_factory=dict)
    late_count: int = 0
    late_p50_ns: int | None = None
    late_p99_ns: int | None = None
    sent_count: int = 0
    scheduled_latencies: ExactLatencies | LatencyHistogram | None = field(default=None, repr=False)
    lateness: ExactLatencies | LatencyHistogram | None = field(default=None, repr=False)
    # --collect-metrics: Triton's Prometheus scrapes taken in the window (None: not collected).
    server_metrics: ServerMetrics | None = None
    # --streaming: the successful requests' responses (perf_analyzer's response count), the
    # latency to each one's first response and the gaps between its responses (empty, and
    # the distributions None, when no request streamed).
    response_count: int = 0
    first_response_percentiles_ns: dict[int, int] = field(default_factory=dict)
    inter_response_percentiles_ns: dict[int, int] = field(default_factory=dict)
    first_responses: ExactLatencies | LatencyHistogram | None = field(default=None, repr=False)
    inter_responses: ExactLatencies | LatencyHistogram | None = field(default=None, repr=False)
    # A sequence model only (None: not one): the successful requests that carried their
    # sequence's END flag (perf_analyzer's "Sequence count").
    sequence_count: int | None = None

    @property
    def sequence_per_sec(self) -> float:
        """perf_analyzer's seq/sec: sequences ended per second of the window, in the single
        precision of its infer/sec."""
        return throughput(self.sequence_count or 0, 1, self.duration_ns)

    @property
    def streamed(self) -> bool:
        """Whether the window's requests streamed (--streaming): its response figures apply."""
        return self.response_count > 0 or bool(self.first_response_percentiles_ns)

    @property
    def response_throughput(self) -> float:
        """perf_analyzer's "Response Throughput": responses per second of the window."""
        return self.response_count * NS_PER_S / self.duration_ns if self.duration_ns > 0 else 0.0

    @property
    def send_rate(self) -> float:
        """Requests sent per second in the window (the rate actually sent)."""
        return self.sent_count * NS_PER_S / self.duration_ns if self.duration_ns > 0 else 0.0

    @property
    def late_share(self) -> float:
        """The share of the window's requests that left late (perf_analyzer's delayed)."""
        return self.late_count / self.request_count if self.request_count else 0.0

    @property
    def throughput(self) -> float:
        """Inferences per second: requests x batch size over the window's real length."""
        return throughput(self.request_count, self.batch_size, self.duration_ns)

    def stabilising_latency_ns(self, percentile: int | None) -> float:
        """The latency the stabiliser compares: the average, or the --percentile value.
        A window with no successful request has none: infinite, as perf_analyzer's max."""
        if self.request_count == 0 or self.avg_latency_ns is None:
            return float("inf")
        if percentile is None:
            return float(self.avg_latency_ns)
        return float(self.percentiles_ns[percentile])

    def to_dict(self) -> dict[str, Any]:
        return {
            "start_ns": self.start_ns,
            "end_ns": self.end_ns,
            "duration_ns": self.duration_ns,
            "batch_size": self.batch_size,
            "request_count": self.request_count,
            "error_count": self.error_count,
            "throughput": self.throughput,
            "avg_latency_us": _us(self.avg_latency_ns),
            "std_us": finite_or_none(self.std_us),
            "percentiles_us": {f"p{p}": v / NS_PER_US for p, v in self.percentiles_ns.items()},
            "avg_send_us": self.avg_send_ns / NS_PER_US,
            "avg_recv_us": self.avg_recv_ns / NS_PER_US,
            "client_busy": self.client_busy,
            "client_lag_ms": self.client_lag_ms,
            "missing_workers": self.missing_workers,
            "joined_workers": self.joined_workers,
            "server": self.server.to_dict() if self.server is not None else None,
            **(self._rate_dict() if self.scheduled_percentiles_ns else {}),
            **(self._stream_dict() if self.streamed else {}),
            **(
                {"sequence_count": self.sequence_count, "sequence_per_sec": self.sequence_per_sec}
                if self.sequence_count is not None
                else {}
            ),
            **(
                {"server_metrics": self.server_metrics.to_dict()}
                if self.server_metrics is not None
                else {}
            ),
        }

    def _stream_dict(self) -> dict[str, Any]:
        return {
            "response_count": self.response_count,
            "response_throughput": self.response_throughput,
            "first_response_percentiles_us": _us_keys(self.first_response_percentiles_ns),
            "inter_response_percentiles_us": _us_keys(self.inter_response_percentiles_ns),
        }

    def _rate_dict(self) -> dict[str, Any]:
        return {
            "scheduled_percentiles_us": {
                f"p{p}": v / NS_PER_US for p, v in self.scheduled_percentiles_ns.items()
            },
            "late_count": self.late_count,
            "late_p50_us": _us(self.late_p50_ns),
            "late_p99_us": _us(self.late_p99_ns),
            "sent_count": self.sent_count,
            "send_rate": self.send_rate,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Window:
        """The summary back from JSON; the raw latencies are not kept in files."""
        avg = data.get("avg_latency_us")
        return cls(
            start_ns=int(data["start_ns"]),
            end_ns=int(data["end_ns"]),
            duration_ns=int(data["duration_ns"]),
            batch_size=int(data.get("batch_size", 1)),
            request_count=int(data["request_count"]),
            error_count=int(data.get("error_count", 0)),
            latencies=LatencyHistogram.empty(),
            avg_latency_ns=None if avg is None else round(avg * NS_PER_US),
            std_us=data.get("std_us"),
            percentiles_ns={
                int(k.lstrip("p")): round(v * NS_PER_US)
                for k, v in data.get("percentiles_us", {}).items()
            },
            avg_send_ns=round(data.get("avg_send_us", 0) * NS_PER_US),
            avg_recv_ns=round(data.get("avg_recv_us", 0) * NS_PER_US),
            server=ServerStats.from_dict(data["server"]) if data.get("server") else None,
            client_busy=data.get("client_busy"),
            client_lag_ms=data.get("client_lag_ms"),
            missing_workers=int(data.get("missing_workers", 0)),
            joined_workers=int(data.get("joined_workers", 0)),
            scheduled_percentiles_ns={
                int(k.lstrip("p")): round(v * NS_PER_US)
                for k, v in (data.get("scheduled_percentiles_us") or {}).items()
            },
            late_count=int(data.get("late_count", 0)),
            late_p50_ns=_ns(data.get("late_p50_us")),
            late_p99_ns=_ns(data.get("late_p99_us")),
            sent_count=int(data.get("sent_count", 0)),
            response_count=int(data.get("response_count", 0)),
            first_response_percentiles_ns=_ns_keys(data.get("first_response_percentiles_us")),
            inter_response_percentiles_ns=_ns_keys(data.get("inter_response_percentiles_us")),
            sequence_count=_int_or_none(data.get("sequence_count")),
            server_metrics=(
                ServerMetrics.from_dict(data["server_metrics"])
                if data.get("server_metrics")
                else None
            ),
        )


def _us_keys(percentiles_ns: dict[int, int]) -> dict[str, float]:
    return {f"p{p}": v / NS_PER_US for p, v in percentiles_ns.items()}


def _ns_keys(percentiles_us: dict[str, float] | None) -> dict[int, int]:
    return {int(k.lstrip("p")): round(v * NS_PER_US) for k, v in (percentiles_us or {}).items()}


def _int_or_none(x: Any) -> int | None:
    return None if x is None else int(x)


def _ns(us: float | None) -> int | None:
    return None if us is None else round(us * NS_PER_US)


def _us(ns: int | None) -> float | None:
    return None if ns is None else ns / NS_PER_US


def finite_or_none(x: float | None) -> float | None:
    """A figure for JSON: an infinite one (nothing measured) is written as null."""
    return x if x is not None and math.isfinite(x) else None


@dataclass(frozen=True)
class WindowSample:
    """What a window's requests were, before they are summarised: from one process's
    records, or merged from the samples Locust workers send."""

    latencies: ExactLatencies | LatencyHistogram
    error_count: int = 0
    send_total_ns: int = 0
    recv_total_ns: int = 0
    client_busy: float | None = None
    client_lag_ms: float | None = None
    missing_workers: int = 0
    joined_workers: int = 0
    # Request-rate mode only (None: concurrency mode): latencies from each slot, the
    # lateness of the late requests, and how many requests were sent in the window.
    scheduled: ExactLatencies | LatencyHistogram | None = None
    lateness: ExactLatencies | LatencyHistogram | None = None
    sent_count: int = 0
    # --streaming only (None: no request streamed): the successful requests' responses,
    # their first-response latencies and the gaps between their responses.
    response_count: int = 0
    first_responses: ExactLatencies | LatencyHistogram | None = None
    inter_responses: ExactLatencies | LatencyHistogram | None = None
    # A sequence model only (None: not one): the successful requests that ended a sequence.
    sequence_count: int | None = None

    @classmethod
    def from_records(
        cls, records: Records, histogram: bool = False, paced: bool = False
    ) -> WindowSample:
        good = records.mask(records.ok)
        latencies = good.end_ns - good.start_ns
        of = LatencyHistogram.of if histogram else ExactLatencies.of
        rate_figures: dict[str, Any] = {}
        if paced:
            late = good.lateness_ns
            rate_figures = {
                "scheduled": of(good.end_ns - good.scheduled_ns),
                "lateness": of(late[late > LATE_TOLERANCE_NS]),
            }
        if good.response_times is not None:
            rate_figures.update(_stream_figures(good, of))
        if good.sequence_end is not None:
            rate_figures["sequence_count"] = int(good.sequence_end.sum())
        return cls(
            of(latencies),
            error_count=int(len(records) - len(good)),
            send_total_ns=int(good.send_ns.sum()),
            recv_total_ns=int(good.recv_ns.sum()),
            **rate_figures,
        )

    @classmethod
    def merge(cls, samples: Sequence[WindowSample]) -> WindowSample:
        return cls(
            merge_all([s.latencies for s in samples]),
            sum(s.error_count for s in samples),
            sum(s.send_total_ns for s in samples),
            sum(s.recv_total_ns for s in samples),
            # The busiest load generator is the one that limits.
            _worst(s.client_busy for s in samples),
            _worst(s.client_lag_ms for s in samples),
            sum(s.missing_workers for s in samples),
            sum(s.joined_workers for s in samples),
            _merge_some([s.scheduled for s in samples]),
            _merge_some([s.lateness for s in samples]),
            sum(s.sent_count for s in samples),
            sum(s.response_count for s in samples),
            _merge_some([s.first_responses for s in samples]),
            _merge_some([s.inter_responses for s in samples]),
            _sum_some(s.sequence_count for s in samples),
        )


def _sum_some(counts: Iterable[int | None]) -> int | None:
    """The sum of the counts there are (None: none, a model without sequences)."""
    present = [c for c in counts if c is not None]
    return sum(present) if present else None


def _stream_figures(good: Records, of: Any) -> dict[str, Any]:
    """The responses of streamed requests: how many, the latency to each request's first,
    and every gap between two responses of one request. A request with no response (the
    final flag alone) has no first response."""
    times = good.responses()
    counts = np.fromiter((len(t) for t in times), dtype=np.int64, count=len(times))
    answered = counts > 0
    firsts = np.fromiter((t[0] for t in times[answered]), dtype=np.int64, count=int(answered.sum()))
    several = [np.diff(t) for t in times[counts > 1]]
    gaps = np.concatenate(several) if several else np.zeros(0, dtype=np.int64)
    return {
        "response_count": int(counts.sum()),
        "first_responses": of(firsts - good.start_ns[answered]),
        "inter_responses": of(gaps),
    }


def _merge_some(dists: list[Any]) -> Any:
    """The merge of the distributions there are (None: none, concurrency mode)."""
    present = [d for d in dists if d is not None]
    return merge_all(present) if present else None


def summarize(
    records: Records,
    start_ns: int,
    end_ns: int,
    batch_size: int,
    percentile: int | None = None,
    server: ServerStats | None = None,
) -> Window:
    """Summarise the requests that ended in [start_ns, end_ns] (records outside are ignored)."""
    sample = WindowSample.from_records(records.ended_within(start_ns, end_ns), paced=records.paced)
    return from_sample(sample, start_ns, end_ns, batch_size, percentile, server)


def from_sample(
    sample: WindowSample,
    start_ns: int,
    end_ns: int,
    batch_size: int,
    percentile: int | None = None,
    server: ServerStats | None = None,
) -> Window:
    return _window(
        sample, _Span(start_ns, end_ns, end_ns - start_ns), batch_size, percentile, server
    )


class _Span(NamedTuple):
    """Where a window lies; a merge's duration leaves out the gaps between its windows."""

    start_ns: int
    end_ns: int
    duration_ns: int


def _window(
    sample: WindowSample,
    span: _Span,
    batch_size: int,
    percentile: int | None,
    server: ServerStats | None,
) -> Window:
    latencies = sample.latencies
    n = latencies.count
    return Window(
        start_ns=span.start_ns,
        end_ns=span.end_ns,
        duration_ns=span.duration_ns,
        batch_size=batch_size,
        request_count=n,
        error_count=sample.error_count,
        latencies=latencies,
        avg_latency_ns=latencies.mean_ns() if n else None,
        std_us=latencies.std_us() if n else None,
        percentiles_ns=percentiles_of(latencies, percentile) if n else {},
        avg_send_ns=avg_ns(sample.send_total_ns, n),
        avg_recv_ns=avg_ns(sample.recv_total_ns, n),
        server=server,
        client_busy=sample.client_busy,
        client_lag_ms=sample.client_lag_ms,
        missing_workers=sample.missing_workers,
        joined_workers=sample.joined_workers,
        sequence_count=sample.sequence_count,
        **_rate_figures(sample),
        **_stream_window_figures(sample, percentile),
    )


def _stream_window_figures(sample: WindowSample, percentile: int | None) -> dict[str, Any]:
    """The response figures of a window: none when no request streamed."""
    first, gaps = sample.first_responses, sample.inter_responses
    if first is None or gaps is None:  # none streamed, or their samples were let go
        return {"response_count": sample.response_count} if sample.response_count else {}
    return {
        "response_count": sample.response_count,
        "first_response_percentiles_ns": percentiles_of(first, percentile) if first.count else {},
        "inter_response_percentiles_ns": percentiles_of(gaps, percentile) if gaps.count else {},
        "first_responses": first,
        "inter_responses": gaps,
    }


def _rate_figures(sample: WindowSample) -> dict[str, Any]:
    """The request-rate figures of a window: none in concurrency mode."""
    scheduled, lateness = sample.scheduled, sample.lateness
    if scheduled is None or lateness is None:
        return {}
    late = lateness.count
    return {
        "scheduled_percentiles_ns": percentiles_of(scheduled) if scheduled.count else {},
        "late_count": late,
        "late_p50_ns": lateness.percentile_ns(50) if late else None,
        "late_p99_ns": lateness.percentile_ns(99) if late else None,
        "sent_count": sample.sent_count,
        "scheduled_latencies": scheduled,
        "lateness": lateness,
    }


def merge(windows: Sequence[Window], percentile: int | None = None) -> Window:
    """perf_analyzer's MergePerfStatusReports: pool the samples, add the durations and the
    server deltas, so throughput is total requests over total time."""
    if not windows:
        raise ValueError("nothing to merge")
    servers = [w.server for w in windows if w.server is not None]
    span = _Span(windows[0].start_ns, windows[-1].end_ns, sum(w.duration_ns for w in windows))
    merged = _window(
        WindowSample.merge([_sample_of(w) for w in windows]),
        span,
        windows[0].batch_size,
        percentile,
        server=_sum(servers) if len(servers) == len(windows) else None,
    )
    # perf_analyzer pools the scrapes of the merged windows, then aggregates them once.
    return replace(merged, server_metrics=merge_some([w.server_metrics for w in windows]))


def figures_only(w: Window) -> Window:
    """`w` without its samples: its figures (counts, percentiles, averages) stay, the
    per-request arrays go. A window older than those a level can still merge needs no
    more, and a long level would otherwise hold every request it measured (8 bytes each)."""
    if (
        w.latencies.count == 0
        and w.scheduled_latencies is None
        and w.lateness is None
        and w.first_responses is None
    ):
        return w
    return replace(
        w,
        latencies=ExactLatencies.of(np.empty(0)),
        scheduled_latencies=None,
        lateness=None,
        first_responses=None,
        inter_responses=None,
    )


def _sample_of(w: Window) -> WindowSample:
    """The sample a window summarises, its send/recv totals back from their averages."""
    return WindowSample(
        w.latencies,
        w.error_count,
        w.avg_send_ns * w.request_count,
        w.avg_recv_ns * w.request_count,
        w.client_busy,
        w.client_lag_ms,
        w.missing_workers,
        w.joined_workers,
        w.scheduled_latencies,
        w.lateness,
        w.sent_count,
        w.response_count,
        w.first_responses,
        w.inter_responses,
        w.sequence_count,
    )


def _worst(figures: Iterable[float | None]) -> float | None:
    """The highest of the figures measured (None: none was)."""
    return max((f for f in figures if f is not None), default=None)


def _sum(stats: Sequence[ServerStats]) -> ServerStats:
    total = ServerStats()
    for s in stats:
        total = total + s
    return total
