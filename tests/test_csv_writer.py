"""perf_analyzer's CSV: its header, its row order, its arithmetic."""

import io

import pandas as pd

from analysis.csv_writer import csv_text, write_csv
from analysis.records import Records
from analysis.results import LevelResult, SweepResult
from analysis.server_stats import ServerStats
from analysis.settings import SweepSettings
from analysis.stabiliser import Spread, Verdict
from analysis.window import merge, summarize

HEADER = (
    "Concurrency,Inferences/Second,Client Send,Network+Server Send/Recv,Server Queue,"
    "Server Compute Input,Server Compute Infer,Server Compute Output,Client Recv,"
    "p50 latency,p90 latency,p95 latency,p99 latency"
)


def server(count, queue_ns=2_000_000, input_ns=100_000, infer_ns=4_000_000, output_ns=50_000):
    """Server deltas for `count` requests, each with the given per-request times."""
    return ServerStats(
        success_count=count,
        success_ns=count * (queue_ns + input_ns + infer_ns + output_ns),
        queue_count=count,
        queue_ns=count * queue_ns,
        compute_input_count=count,
        compute_input_ns=count * input_ns,
        compute_infer_count=count,
        compute_infer_ns=count * infer_ns,
        compute_output_count=count,
        compute_output_ns=count * output_ns,
    )


def level(
    concurrency,
    count,
    verdict=Verdict.STABLE,
    percentile=None,
    latency_ns=10_000_000,
    send_ns=1_000_000,
    recv_ns=500_000,
    stats="default",
):
    """`count` identical requests in one second (so `count` infer/sec)."""
    rows = [(i, i + latency_ns, send_ns, recv_ns, True) for i in range(count)]
    stats = server(count) if stats == "default" else stats
    w = summarize(Records.from_rows(rows), 0, 10**9, 1, percentile, stats)
    return LevelResult(concurrency, verdict, [w], merge([w], percentile), Spread(1, 1))


def result(*levels, percentile=None):
    return SweepResult(SweepSettings(model="m", percentile=percentile), list(levels))


def rows(text):
    return text.splitlines()[1:]


def test_header_is_perf_analyzers():
    assert csv_text(result(level(1, 10))).splitlines()[0] == HEADER


def test_values_are_computed_as_perf_analyzer_computes_them():
    row = rows(csv_text(result(level(1, 10))))[0]
    # client wait = 10 - 1 - 0.5 = 8.5 ms; server queue + compute = 2 + 4.15 = 6.15 ms
    assert row == "1,10,1000,2350,2000,100,4000,50,500,10000,10000,10000,10000"


def test_network_time_is_subtracted_in_nanoseconds_before_truncating_to_microseconds():
    lvl = level(
        1,
        10,
        latency_ns=10_000_999,
        send_ns=1_000_999,
        recv_ns=500_999,
        stats=server(10, queue_ns=2_000_500, input_ns=100_900, infer_ns=4_000_900),
    )
    # wait 10_000_999 - 1_000_999 - 500_999 = 8_499_001 ns; accounted 2_000_500 + 100_900
    # + 4_000_900 + 50_000 = 6_152_300 ns; network 2_346_701 ns -> 2346. Truncating every
    # figure to usec first would give 10000 - 1000 - 500 - 2000 - 4151 = 2349.
    assert rows(csv_text(result(lvl)))[0].split(",")[2:9] == [
        "1000",
        "2346",
        "2000",
        "100",
        "4000",
        "50",
        "500",
    ]


def test_network_time_is_capped_at_zero_when_the_server_accounts_for_more():
    lvl = level(1, 10, stats=server(10, queue_ns=9_000_000))
    assert rows(csv_text(result(lvl)))[0].split(",")[3] == "0"


def test_cache_time_counts_as_accounted_server_time():
    stats = server(10)
    stats = ServerStats(**{**stats.to_dict(), "cache_miss_count": 10, "cache_miss_ns": 10**7})
    assert rows(csv_text(result(level(1, 10, stats=stats))))[0].split(",")[3] == "1350"


def test_a_level_without_server_statistics_gets_zeros():
    row = rows(csv_text(result(level(1, 10, stats=None))))[0]
    assert row == "1,10,1000,0,0,0,0,0,500,10000,10000,10000,10000"


def test_throughput_is_printed_with_six_significant_digits():
    seven = Records.from_rows([(0, 1_000_000 + i, 0, 0, True) for i in range(7)])
    w = summarize(seven, 0, 3 * 10**9, 1)  # 7 requests in 3 s
    lvl = LevelResult(1, Verdict.STABLE, [w], w, Spread(1, 1))
    assert rows(csv_text(result(lvl)))[0].split(",")[1] == "2.33333"


def test_rows_are_ordered_by_throughput_and_skip_levels_over_the_threshold():
    text = csv_text(
        result(
            level(1, 30),
            level(2, 10, Verdict.UNSTABLE),
            level(3, 20),
            level(4, 50, Verdict.OVER_THRESHOLD),
            level(5, 20),  # ties keep the sweep's order
        )
    )
    assert [r.split(",")[0] for r in rows(text)] == ["2", "3", "5", "1"]


def test_interrupted_levels_are_not_written():
    assert rows(csv_text(result(level(1, 10), level(2, 20, Verdict.INTERRUPTED)))) == [
        "1,10,1000,2350,2000,100,4000,50,500,10000,10000,10000,10000"
    ]


def test_an_extra_percentile_gets_its_column_in_order():
    text = csv_text(result(level(1, 10, percentile=75), percentile=75))
    assert text.splitlines()[0] == HEADER.replace("p90 latency", "p75 latency,p90 latency")


def test_verbose_adds_the_client_split_and_in_average_mode_the_average():
    text = csv_text(result(level(1, 10)), verbose=True)
    assert text.splitlines()[0] == HEADER + ",Avg latency,request/response,response wait"
    # avg 10000 us; send 1000 + recv 500 = 1500; wait 10000 - 1000 - 500 = 8500
    assert rows(text)[0].endswith(",10000,10000,1500,8500")
    text = csv_text(result(level(1, 10, percentile=95), percentile=95), verbose=True)
    assert text.splitlines()[0] == HEADER + ",request/response,response wait"
    assert rows(text)[0].endswith(",10000,1500,8500")


def test_pandas_reads_it():
    frame = pd.read_csv(io.StringIO(csv_text(result(level(1, 10), level(2, 20)))))
    assert list(frame.columns) == HEADER.split(",")
    assert list(frame["Concurrency"]) == [1, 2]
    assert list(frame["Inferences/Second"]) == [10.0, 20.0]
    assert list(frame["Network+Server Send/Recv"]) == [2350, 2350]


def test_write_csv_replaces_the_file_whole(tmp_path):
    path = tmp_path / "perf.csv"
    path.write_text("old contents\n")
    write_csv(result(level(1, 10)), path)
    assert path.read_text() == csv_text(result(level(1, 10)))
    assert [p.name for p in tmp_path.iterdir()] == ["perf.csv"]  # no temporary file left
