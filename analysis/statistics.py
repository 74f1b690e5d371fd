"""Latency statistics computed exactly as perf_analyzer 2.51 computes them, so that the
same samples give the same figures."""

from __future__ import annotations

import math

import numpy as np

# perf_analyzer always reports these; a --percentile outside them is added.
REPORTED_PERCENTILES: tuple[int, ...] = (50, 90, 95, 99)


def percentile_ns(sorted_latencies_ns: np.ndarray, percentile: int) -> int:
    """perf_analyzer's rank rule: index = int(p/100 * (n-1) + 0.5) into the sorted samples."""
    n = len(sorted_latencies_ns)
    if n == 0:
        raise ValueError("no latencies to take a percentile of")
    index = int((percentile / 100.0) * (n - 1) + 0.5)
    return int(sorted_latencies_ns[index])


def percentiles_ns(sorted_latencies_ns: np.ndarray, extra: int | None = None) -> dict[int, int]:
    wanted = sorted(set(REPORTED_PERCENTILES) | ({extra} if extra is not None else set()))
    return {p: percentile_ns(sorted_latencies_ns, p) for p in wanted}


def mean_ns(latencies_ns: np.ndarray) -> int:
    """Integer mean, as perf_analyzer's uint64 division gives it."""
    return int(latencies_ns.sum(dtype=np.int64)) // len(latencies_ns)


def std_us(latencies_ns: np.ndarray) -> float:
    """Sample standard deviation in microseconds; infinite for a single sample (as
    perf_analyzer warns), truncated to whole microseconds like its uint64."""
    n = len(latencies_ns)
    if n < 2:
        return math.inf
    deviations = latencies_ns.astype(np.float64) - float(mean_ns(latencies_ns))
    return float(math.floor(math.sqrt(float(np.dot(deviations, deviations)) / (n - 1)) / 1000))
