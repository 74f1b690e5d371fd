"""A window holds the requests whose response arrived in it; a level's figures are the
merge of its last windows."""

from dataclasses import replace

import numpy as np
import pytest

from analysis.distribution import ExactLatencies
from analysis.pa_arithmetic import fmt
from analysis.records import Records
from analysis.server_stats import ServerStats
from analysis.window import Window, WindowSample, merge, summarize
from tests.synthetic import window


def test_a_request_belongs_to_the_window_its_response_arrived_in_edges_included():
    records = Records.from_rows(
        [
            (0, 100, 1, 1, True),  # ended at the start edge: in
            (50, 150, 1, 1, True),
            (90, 200, 1, 1, True),  # ended at the end edge: in
            (150, 201, 1, 1, True),  # next window
            (0, 99, 1, 1, True),  # previous window
        ]
    )
    w = summarize(records, 100, 200, batch_size=1)
    assert w.request_count == 3
    assert list(w.latencies.sorted_ns) == [100, 100, 110]


def test_a_request_started_before_the_window_counts_whole():
    # Started long before the window, answered in it: its full latency is in the window.
    w = summarize(Records.from_rows([(0, 5_000, 1, 1, True)]), 4_000, 6_000, 1)
    assert w.avg_latency_ns == 5_000


def test_failed_requests_are_counted_but_have_no_latency():
    records = Records.from_rows(
        [(0, 10, 4, 2, True), (0, 5000, 100, 100, False), (20, 30, 6, 2, True)]
    )
    w = summarize(records, 0, 10_000, batch_size=1)
    assert (w.request_count, w.error_count) == (2, 1)
    assert w.avg_latency_ns == 10
    assert (w.avg_send_ns, w.avg_recv_ns) == (5, 2)  # failed request's times left out too
    assert w.to_dict()["error_count"] == 1


def test_throughput_is_requests_times_batch_over_the_real_length():
    w = window(count=120, latency_us=100, duration_ms=1200, batch=4)
    assert w.throughput == pytest.approx(120 * 4 / 1.2)


def test_throughput_is_divided_in_single_precision_as_perf_analyzer_does():
    # 125 / 4.996172835 s is 25.01915048 in double, 25.01914978 in float: perf_analyzer
    # prints 25.0191.
    end = 4_996_172_835
    rows = [(end - 10, end - i, 0, 0, True) for i in range(125)]
    assert fmt(summarize(Records.from_rows(rows), 0, end, 1).throughput) == "25.0191"


def test_an_empty_window_has_no_throughput_and_infinite_latency():
    w = summarize(Records.empty(), 0, 10**9, 1)
    assert w.throughput == 0
    assert w.stabilising_latency_ns(None) == float("inf")


def test_merge_pools_samples_and_adds_durations_and_server_deltas():
    a = summarize(
        Records.from_rows([(0, 100, 10, 20, True)]),
        0,
        1000,
        1,
        server=ServerStats(success_count=1, success_ns=50),
    )
    b = summarize(
        Records.from_rows([(1000, 1300, 30, 40, True)] * 3),
        1000,
        3000,
        1,
        server=ServerStats(success_count=3, success_ns=150),
    )
    m = merge([a, b])
    assert m.request_count == 4
    assert m.duration_ns == 3000
    assert m.throughput == pytest.approx(4 / 3e-6)  # total requests over total time
    assert list(m.latencies.sorted_ns) == [100, 300, 300, 300]
    assert m.avg_latency_ns == 250  # of the pooled samples, not the mean of the means (200)
    assert m.avg_send_ns == (10 + 90) // 4  # per-request averages, weighted by count
    assert m.server == ServerStats(success_count=4, success_ns=200)


def test_merged_percentiles_come_from_the_pooled_samples():
    fast, slow = window(100, 100, percentile=95), window(100, 900, percentile=95)
    m = merge([fast, slow], percentile=95)
    assert m.percentiles_ns[50] == 900_000  # rank int(99.5 + 0.5) = 100: the first slow one
    assert m.percentiles_ns[95] == 900_000
    assert m.percentiles_ns[90] != (fast.percentiles_ns[90] + slow.percentiles_ns[90]) // 2


def test_a_merge_with_a_window_missing_server_stats_has_none():
    a = window(10, 100)
    b = summarize(Records.from_rows([(0, 10, 1, 1, True)]), 0, 100, 1, server=ServerStats())
    assert merge([a, b]).server is None


def test_summary_survives_json_but_not_the_raw_latencies():
    w = summarize(
        Records.from_rows([(i, i + 200_000 + 1000 * i, 7, 3, True) for i in range(50)]),
        0,
        10**9,
        2,
        percentile=75,
        server=ServerStats(success_count=50, success_ns=123_456, queue_count=50, queue_ns=999),
    )
    back = Window.from_dict(w.to_dict())
    assert (back.request_count, back.batch_size, back.duration_ns) == (50, 2, 10**9)
    assert back.percentiles_ns == w.percentiles_ns
    assert back.avg_latency_ns == w.avg_latency_ns
    assert (back.avg_send_ns, back.avg_recv_ns) == (7, 3)
    assert back.std_us == w.std_us
    assert back.server == w.server
    assert back.throughput == w.throughput
    assert back.latencies.count == 0


def test_how_busy_the_load_generator_was_survives_json_and_a_merge_keeps_the_worst():
    rows = [(i, i + 200_000, 7, 3, True) for i in range(10)]
    a = replace(summarize(Records.from_rows(rows), 0, 10**9, 1), client_busy=0.4, client_lag_ms=0.2)
    b = replace(a, client_busy=0.9, client_lag_ms=1.5)
    back = Window.from_dict(b.to_dict())
    assert (back.client_busy, back.client_lag_ms) == (0.9, 1.5)
    merged = merge([a, b, replace(a, client_busy=None, client_lag_ms=None)])
    assert (merged.client_busy, merged.client_lag_ms) == (0.9, 1.5)
    assert merge([replace(a, client_busy=None, client_lag_ms=None)]).client_lag_ms is None


def test_workers_samples_merge_to_the_busiest_worker():
    one = WindowSample(ExactLatencies.of(np.array([1000])), client_busy=0.3, client_lag_ms=2.0)
    two = WindowSample(ExactLatencies.of(np.array([2000])), client_busy=0.8, client_lag_ms=0.1)
    both = WindowSample.merge([one, two])
    assert (both.client_busy, both.client_lag_ms) == (0.8, 2.0)
    assert both.latencies.count == 2
