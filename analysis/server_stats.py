"""Triton's statistics extension: cumulative counters, their deltas, and the averages
perf_analyzer prints in its "Server:" block and CSV."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class ServerStats:
    """Counters of one model version; cumulative when polled, a delta once subtracted."""

    inference_count: int = 0
    execution_count: int = 0
    success_count: int = 0
    success_ns: int = 0  # perf_analyzer's "cumm_time": the whole request inside the server
    queue_count: int = 0
    queue_ns: int = 0
    compute_input_count: int = 0
    compute_input_ns: int = 0
    compute_infer_count: int = 0
    compute_infer_ns: int = 0
    compute_output_count: int = 0
    compute_output_ns: int = 0
    cache_hit_count: int = 0
    cache_hit_ns: int = 0
    cache_miss_count: int = 0
    cache_miss_ns: int = 0

    def __sub__(self, earlier: ServerStats) -> ServerStats:
        return ServerStats(
            **{f.name: getattr(self, f.name) - getattr(earlier, f.name) for f in fields(self)}
        )

    def __add__(self, other: ServerStats) -> ServerStats:
        return ServerStats(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ServerStats:
        names = {f.name for f in fields(cls)}
        return cls(**{k: int(v) for k, v in data.items() if k in names})

    @classmethod
    def from_extension(cls, model_stats: Mapping[str, Any]) -> ServerStats:
        """One entry of the statistics extension's `model_stats` list, as HTTP's JSON or
        gRPC's `as_json` dict gives it (gRPC writes 64-bit integers as strings)."""
        inference = model_stats.get("inference_stats", {})

        def pair(name: str) -> tuple[int, int]:
            stat = inference.get(name, {})
            return int(stat.get("count", 0)), int(stat.get("ns", 0))

        success, queue = pair("success"), pair("queue")
        c_in, c_infer, c_out = pair("compute_input"), pair("compute_infer"), pair("compute_output")
        hit, miss = pair("cache_hit"), pair("cache_miss")
        return cls(
            inference_count=int(model_stats.get("inference_count", 0)),
            execution_count=int(model_stats.get("execution_count", 0)),
            success_count=success[0],
            success_ns=success[1],
            queue_count=queue[0],
            queue_ns=queue[1],
            compute_input_count=c_in[0],
            compute_input_ns=c_in[1],
            compute_infer_count=c_infer[0],
            compute_infer_ns=c_infer[1],
            compute_output_count=c_out[0],
            compute_output_ns=c_out[1],
            cache_hit_count=hit[0],
            cache_hit_ns=hit[1],
            cache_miss_count=miss[0],
            cache_miss_ns=miss[1],
        )


def _avg_us(total_ns: int, count: int) -> int:
    # perf_analyzer's AverageDurationInUs: integer microseconds, 0 when nothing was counted.
    return total_ns // (count * 1000) if count else 0


@dataclass(frozen=True)
class ServerBreakdown:
    """Average microseconds per request, as perf_analyzer reports them (integer division)."""

    request_us: int
    overhead_us: int
    queue_us: int
    compute_input_us: int
    compute_infer_us: int
    compute_output_us: int

    @property
    def compute_us(self) -> int:
        return self.compute_input_us + self.compute_infer_us + self.compute_output_us


def breakdown(stats: ServerStats) -> ServerBreakdown:
    """The "Avg request latency: X usec (overhead + queue + compute ...)" figures."""
    request_us = _avg_us(stats.success_ns, stats.success_count)
    queue_us = _avg_us(stats.queue_ns, stats.queue_count)
    compute_ns = stats.compute_input_ns + stats.compute_infer_ns + stats.compute_output_ns
    compute_us = _avg_us(compute_ns, stats.compute_input_count)
    return ServerBreakdown(
        request_us=request_us,
        overhead_us=max(0, request_us - queue_us - compute_us),
        queue_us=queue_us,
        compute_input_us=_avg_us(stats.compute_input_ns, stats.compute_input_count),
        compute_infer_us=_avg_us(stats.compute_infer_ns, stats.compute_infer_count),
        compute_output_us=_avg_us(stats.compute_output_ns, stats.compute_output_count),
    )
