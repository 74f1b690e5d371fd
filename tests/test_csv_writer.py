"""perf_analyzer's CSV: its header, its row order, its arithmetic."""

import io

import pandas as pd

from analysis.csv_writer import csv_text
from analysis.records import Records
from analysis.results import LevelResult, SweepResult, SweepSettings
from analysis.server_stats import ServerStats
from analysis.stabiliser import Spread, Verdict
from analysis.window import merge, summarize

HEADER = (
    "Concurrency,Inferences/Second,Client Send,Network+Server Send/Recv,Server Queue,"
    "Server Compute Input,Server Compute Infer,Server Compute Output,Client Recv,"
    "p50 latency,p90 latency,p95 latency,p99 latency"
)


def level(concurrency, count, verdict=Verdict.STABLE, percentile=None):
    # Every request: 10 ms total, 1 ms send, 0.5 ms receive.
    rows = [(i, i + 10_000_000, 1_000_000, 500_000, True) for i in range(count)]
    server = ServerStats(
        success_count=count,
        success_ns=count * 7_000_000,
        queue_count=count,
        queue_ns=count * 2_000_000,
        compute_input_count=count,
        compute_input_ns=count * 100_000,
        compute_infer_count=count,
        compute_infer_ns=count * 4_000_000,
        compute_output_count=count,
        compute_output_ns=count * 50_000,
    )
    w = summarize(Records.from_rows(rows), 0, 10**9, 1, percentile, server)
    return LevelResult(concurrency, verdict, [w], merge([w], percentile), Spread(1, 1))


def result(*levels, percentile=None):
    return SweepResult(SweepSettings(model="m", percentile=percentile), list(levels))


def test_header_is_perf_analyzers():
    assert csv_text(result(level(1, 10))).splitlines()[0] == HEADER


def test_values_are_computed_as_perf_analyzer_computes_them():
    row = csv_text(result(level(1, 10))).splitlines()[1]
    # client wait = 10 - 1 - 0.5 = 8.5 ms; server queue + compute = 2 + 4.15 = 6.15 ms
    assert row == "1,10,1000,2350,2000,100,4000,50,500,10000,10000,10000,10000"


def test_rows_are_ordered_by_throughput_and_skip_levels_over_the_threshold():
    text = csv_text(
        result(
            level(1, 30),
            level(2, 10, Verdict.UNSTABLE),
            level(3, 20),
            level(4, 50, Verdict.OVER_THRESHOLD),
        )
    )
    assert [r.split(",")[0] for r in text.splitlines()[1:]] == ["2", "3", "1"]


def test_verbose_and_extra_percentile_columns():
    text = csv_text(result(level(1, 10, percentile=75), percentile=75), verbose=True)
    assert (
        text.splitlines()[0]
        == HEADER.replace("p90 latency", "p75 latency,p90 latency")
        + ",request/response,response wait"
    )
    text = csv_text(result(level(1, 10)), verbose=True)
    assert text.splitlines()[0].endswith(",Avg latency,request/response,response wait")
    assert text.splitlines()[1].endswith(",10000,1500,8500")


def test_pandas_reads_it():
    frame = pd.read_csv(io.StringIO(csv_text(result(level(1, 10), level(2, 20)))))
    assert list(frame["Concurrency"]) == [1, 2]
