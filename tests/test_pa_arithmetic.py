"""perf_analyzer's arithmetic: every figure floored to whole µs where its C++ floors it."""

from dataclasses import replace

from analysis.pa_arithmetic import (
    avg_us,
    client_split_us,
    fmt,
    server_breakdown,
    server_columns_us,
    throughput,
    whole_us,
)
from analysis.server_stats import ServerStats
from tests.synthetic import window

# 4 requests: queue 10.9 µs, compute 1.5 + 20.5 + 2.5 µs each, 40.9 µs in the server.
STATS = ServerStats(
    success_count=4,
    success_ns=4 * 40_900,
    queue_count=4,
    queue_ns=4 * 10_900,
    compute_input_count=4,
    compute_input_ns=4 * 1_500,
    compute_infer_count=4,
    compute_infer_ns=4 * 20_500,
    compute_output_count=4,
    compute_output_ns=4 * 2_500,
)


def _client(latency_ns: int, send_ns: int, recv_ns: int, server: ServerStats | None = None):
    return replace(
        window(1, 100),
        avg_latency_ns=latency_ns,
        avg_send_ns=send_ns,
        avg_recv_ns=recv_ns,
        server=server,
    )


def test_server_queue_is_the_queue_delta_over_its_count_in_whole_us():
    assert server_breakdown(STATS).queue_us == 10


def test_each_compute_phase_is_its_delta_over_its_own_count():
    b = server_breakdown(STATS)
    assert (b.compute_input_us, b.compute_infer_us, b.compute_output_us) == (1, 20, 2)


def test_overhead_is_what_the_request_spent_beyond_queue_and_whole_compute():
    # 40 µs - 10 µs queue - 24 µs compute (24.5 floored as one sum, not 1 + 20 + 2)
    assert server_breakdown(STATS).overhead_us == 6


def test_overhead_is_never_negative():
    faster_than_its_parts = replace(STATS, success_ns=4 * 30_000)
    assert server_breakdown(faster_than_its_parts).overhead_us == 0


def test_a_counter_that_counted_nothing_averages_zero():
    assert avg_us(5_000, 0) == 0
    assert server_breakdown(ServerStats()).request_us == 0


def test_an_average_in_us_is_floored_once_over_count_times_1000():
    assert avg_us(2_999, 1) == 2
    assert avg_us(5_999, 2) == 2


def test_the_csv_network_column_is_the_client_wait_beyond_the_server_worked_in_ns():
    # wait 100_000 - 1_500 - 1_500 = 97_000 ns; server 10_900 + 24_500 ns: 61.6 µs
    w = _client(100_000, 1_500, 1_500, STATS)
    assert server_columns_us(w) == (61, 10, 1, 20, 2)


def test_the_csv_network_column_counts_the_response_cache_as_server_time():
    cached = replace(STATS, cache_hit_count=4, cache_hit_ns=4 * 5_000)
    assert server_columns_us(_client(100_000, 1_500, 1_500, cached)).network_us == 56


def test_the_csv_network_column_is_never_negative():
    assert server_columns_us(_client(20_000, 0, 0, STATS)).network_us == 0


def test_without_server_statistics_the_csv_server_columns_are_zeros():
    assert server_columns_us(_client(100_000, 1_500, 1_500)) == (0, 0, 0, 0, 0)


def test_the_client_split_floors_each_figure_then_leaves_the_wait_as_the_rest():
    split = client_split_us(_client(10_999, 1_999, 2_999))
    assert split == (10, 1, 7, 2)  # the wait is not (10_999 - 1_999 - 2_999) // 1000 = 6


def test_a_window_without_latency_splits_into_zeros():
    assert client_split_us(replace(_client(0, 0, 0), avg_latency_ns=None)) == (0, 0, 0, 0)


def test_microseconds_are_floored_not_rounded():
    assert whole_us(1_999) == 1


def test_throughput_prints_with_six_significant_digits_as_cpp_iostreams():
    assert fmt(175.89213) == "175.892"
    assert fmt(1_234_567.0) == "1.23457e+06"
    assert fmt(35.0) == "35"


def test_throughput_is_inferences_over_seconds_divided_in_single_precision():
    assert throughput(requests=100, batch_size=4, duration_ns=2_000_000_000) == 200.0
    # 1/3 s in float32 is not 1/3 s in double: perf_analyzer's figure is the float one.
    assert throughput(1, 1, 333_333_333) != 1 / 0.333333333


def test_a_window_of_no_length_has_no_throughput():
    assert throughput(10, 1, 0) == 0.0
