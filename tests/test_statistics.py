"""Latency statistics computed as perf_analyzer 2.51 computes them, from exact samples or
from the histograms Locust workers ship."""

import math

import numpy as np
import pytest

from analysis.distribution import ExactLatencies, LatencyHistogram, bucket_index, percentiles_of
from analysis.statistics import percentile_rank


def test_percentile_uses_perf_analyzers_rounded_rank():
    samples = ExactLatencies.of(np.arange(1, 11, dtype=np.int64) * 1000)  # 1000 .. 10000
    # rank = int(p/100 * (n-1) + 0.5): p50 -> int(5.0) = 5 -> 6000; p90 -> int(8.6) = 8
    assert percentile_rank(10, 50) == 5
    assert samples.percentile_ns(50) == 6000
    assert samples.percentile_ns(90) == 9000
    assert samples.percentile_ns(95) == 10000


@pytest.mark.parametrize(
    ("count", "percentile", "rank"),
    [
        (1, 99, 0),  # one sample is every percentile
        (2, 50, 1),  # 0.5 + 0.5 = 1.0: half-way rounds up
        (3, 50, 1),  # 1.0 + 0.5
        (4, 50, 2),  # 1.5 + 0.5 = 2.0
        (5, 90, 4),  # 3.6 + 0.5 = 4.1
        (100, 95, 94),  # 94.05 + 0.5 = 94.55
        (100, 99, 98),  # 98.01 + 0.5 = 98.51
        (1000, 99, 989),  # 989.01 + 0.5
    ],
)
def test_percentile_rank_by_hand(count, percentile, rank):
    assert percentile_rank(count, percentile) == rank


def test_percentile_of_unsorted_samples_is_taken_after_sorting():
    samples = ExactLatencies.of(np.array([5000, 1000, 4000, 2000, 3000]))
    assert samples.percentile_ns(50) == 3000  # rank int(2.0 + 0.5) = 2
    assert samples.percentile_ns(90) == 5000  # rank int(3.6 + 0.5) = 4


def test_an_extra_percentile_joins_the_four_reported_ones():
    samples = ExactLatencies.of(np.arange(100, dtype=np.int64))
    assert list(percentiles_of(samples, 75)) == [50, 75, 90, 95, 99]
    assert list(percentiles_of(samples, 95)) == [50, 90, 95, 99]


def test_mean_is_integer_nanoseconds_rounded_down():
    assert ExactLatencies.of(np.array([1, 2])).mean_ns() == 1
    assert ExactLatencies.of(np.array([3, 4, 4])).mean_ns() == 3  # 11 // 3
    assert ExactLatencies.of(np.array([999, 1000, 1002])).mean_ns() == 1000  # 3001 // 3


def test_std_is_the_sample_deviation_in_whole_microseconds_rounded_down():
    # mean 2000; squares 1e6 + 1e6 over n-1 = 1: sqrt(2e6) = 1414 ns -> 1 us
    assert ExactLatencies.of(np.array([1000, 3000])).std_us() == 1.0
    # mean 6000; squares 16e6 + 0 + 16e6 over 2: sqrt(16e6) = 4000 ns -> 4 us
    assert ExactLatencies.of(np.array([2000, 6000, 10000])).std_us() == 4.0
    assert ExactLatencies.of(np.array([7000] * 5)).std_us() == 0.0


def test_one_sample_has_an_infinite_std():
    assert math.isinf(ExactLatencies.of(np.array([5])).std_us())
    assert math.isinf(LatencyHistogram.of(np.array([5])).std_us())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_histogram_percentiles_agree_with_exact_ones_within_0_1_percent(seed):
    rng = np.random.default_rng(seed)
    # A long-tailed mix from 50 us to seconds, as real latencies look.
    values = np.concatenate(
        [
            rng.lognormal(np.log(200_000), 0.3, 20_000),
            rng.lognormal(np.log(5_000_000), 1.0, 2_000),
            rng.integers(1, 2_000, 100),
        ]
    ).astype(np.int64)
    exact, hist = ExactLatencies.of(values), LatencyHistogram.of(values)
    for p in (1, 10, 50, 75, 90, 95, 99):
        assert hist.percentile_ns(p) == pytest.approx(exact.percentile_ns(p), rel=0.001)
    assert hist.mean_ns() == exact.mean_ns()
    assert hist.std_us() == pytest.approx(exact.std_us(), abs=1)


def test_merged_histograms_equal_the_histogram_of_all_samples():
    rng = np.random.default_rng(9)
    parts = [rng.integers(10_000, 10_000_000, 5_000) for _ in range(3)]
    merged = LatencyHistogram.of(parts[0]).merge([LatencyHistogram.of(p) for p in parts[1:]])
    whole = LatencyHistogram.of(np.concatenate(parts))
    assert merged.buckets.tolist() == whole.buckets.tolist()
    assert merged.counts.tolist() == whole.counts.tolist()
    assert merged.sum_ns == whole.sum_ns


def test_histogram_survives_the_wire_and_stays_small():
    values = np.random.default_rng(4).integers(100_000, 200_000, 1_000_000)
    hist = LatencyHistogram.of(values)
    assert len(hist.buckets) < 1100  # 100..200 us: about one octave of 1024 buckets
    back = LatencyHistogram.from_wire(hist.to_wire())
    assert back.percentile_ns(99) == hist.percentile_ns(99)


def test_buckets_are_exact_below_1024_ns_and_monotonic_above():
    assert bucket_index(np.arange(1, 1024)).tolist() == list(range(1, 1024))
    idx = bucket_index(np.array([2**k for k in range(10, 40)] + [2**k - 1 for k in range(11, 40)]))
    assert len(set(idx.tolist())) == len(idx)
