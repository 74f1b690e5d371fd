"""perf_analyzer 2.51's latency statistics rules (inference_profiler.cc SummarizeLatency),
applied by every latency distribution (analysis/distribution.py)."""

from __future__ import annotations

# perf_analyzer always reports these; a --percentile outside them is added.
REPORTED_PERCENTILES: tuple[int, ...] = (50, 90, 95, 99)


def percentile_rank(count: int, percentile: int) -> int:
    """Zero-based rank of a percentile among `count` sorted samples: int(p/100·(n−1) + 0.5)."""
    return int((percentile / 100.0) * (count - 1) + 0.5)


def wanted_percentiles(extra: int | None = None) -> list[int]:
    return sorted(set(REPORTED_PERCENTILES) | ({extra} if extra is not None else set()))


# --streaming: the first-response and inter-response latencies reported (console, report,
# web UI); the JSON keeps every percentile the level's latencies have.
STREAM_PERCENTILES: tuple[int, ...] = (50, 95, 99)
