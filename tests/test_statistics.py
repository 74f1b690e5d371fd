"""Latency statistics computed as perf_analyzer 2.51 computes them."""

import math

import numpy as np

from analysis.statistics import mean_ns, percentile_ns, percentiles_ns, std_us


def test_percentile_uses_perf_analyzers_rounded_rank():
    samples = np.arange(1, 11, dtype=np.int64) * 1000  # 1000 .. 10000
    # index = int(p/100 * (n-1) + 0.5): p50 -> int(5.0) = 5 -> 6000; p90 -> int(8.6) = 8
    assert percentile_ns(samples, 50) == 6000
    assert percentile_ns(samples, 90) == 9000
    assert percentile_ns(samples, 95) == 10000
    assert percentile_ns(samples, 99) == 10000


def test_an_extra_percentile_joins_the_four_reported_ones():
    samples = np.arange(100, dtype=np.int64)
    assert list(percentiles_ns(samples, 75)) == [50, 75, 90, 95, 99]
    assert list(percentiles_ns(samples, 95)) == [50, 90, 95, 99]


def test_mean_is_integer_nanoseconds():
    assert mean_ns(np.array([1, 2], dtype=np.int64)) == 1


def test_standard_deviation_is_the_sample_one_in_whole_microseconds():
    assert std_us(np.array([1000, 3000], dtype=np.int64)) == 1.0  # sqrt(2e6)/1000 = 1.41 -> 1
    assert math.isinf(std_us(np.array([5], dtype=np.int64)))
