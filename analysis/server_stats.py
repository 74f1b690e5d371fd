"""Triton's statistics extension: cumulative counters and their deltas. The averages
perf_analyzer draws from them are in analysis/pa_arithmetic.py."""

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
