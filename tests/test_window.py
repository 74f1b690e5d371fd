"""A window holds the requests whose response arrived in it."""

import pytest

from analysis.records import Records
from analysis.server_stats import ServerStats
from analysis.window import Window, merge, summarize
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


def test_failed_requests_are_counted_but_have_no_latency():
    records = Records.from_rows([(0, 10, 1, 1, True), (0, 5000, 1, 1, False)])
    w = summarize(records, 0, 10_000, batch_size=1)
    assert (w.request_count, w.error_count) == (1, 1)
    assert w.avg_latency_ns == 10


def test_throughput_is_requests_times_batch_over_the_real_length():
    w = window(count=120, latency_us=100, duration_ms=1200, batch=4)
    assert w.throughput == pytest.approx(120 * 4 / 1.2)


def test_an_empty_window_has_no_throughput_and_infinite_latency():
    w = summarize(Records.empty(), 0, 10**9, 1)
    assert w.throughput == 0
    assert w.stabilizing_latency_ns(None) == float("inf")


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
    assert m.throughput == pytest.approx(4 / 3e-6)
    assert list(m.latencies.sorted_ns) == [100, 300, 300, 300]
    assert m.avg_send_ns == (10 + 90) // 4
    assert m.server == ServerStats(success_count=4, success_ns=200)


def test_summary_survives_json_but_not_the_raw_latencies():
    w = window(count=50, latency_us=200, spread_us=100, percentile=75)
    back = Window.from_dict(w.to_dict())
    assert back.request_count == 50
    assert back.percentiles_ns == w.percentiles_ns
    assert back.avg_latency_ns == w.avg_latency_ns
    assert back.throughput == pytest.approx(w.throughput)
    assert back.latencies.count == 0
