"""perf_analyzer's console layout, line for line."""

from analysis.console import level_block, settings_block, summary_block
from analysis.records import Records
from analysis.results import LevelResult, SweepResult, SweepSettings
from analysis.server_stats import ServerStats
from analysis.stabiliser import Spread, Verdict
from analysis.window import merge, summarize

SERVER = ServerStats(
    inference_count=10,
    execution_count=10,
    success_count=10,
    success_ns=10 * 12_005_000,
    queue_count=10,
    queue_ns=10 * 42_000,
    compute_input_count=10,
    compute_input_ns=10 * 164_000,
    compute_infer_count=10,
    compute_infer_ns=10 * 11_748_000,
    compute_output_count=10,
    compute_output_ns=10 * 15_000,
)


def level(verdict=Verdict.STABLE, protocol_settings=None):
    rows = [(i * 1000, i * 1000 + 14_000_000 + i * 1000, 100_000, 100_000, True) for i in range(10)]
    w = summarize(Records.from_rows(rows), 0, 10**9, 1, 95, SERVER)
    return LevelResult(1, verdict, [w], merge([w], 95), Spread(1.0, 1.4))


def test_settings_block_for_a_p95_sweep():
    s = SweepSettings(model="m", concurrency_end=4, percentile=95)
    assert settings_block(s) == "\n".join(
        [
            "*** Measurement Settings ***",
            "  Batch size: 1",
            "  Service Kind: Triton",
            '  Using "time_windows" mode for stabilization',
            "  Stabilizing using p95 latency and throughput",
            "  Measurement window: 5000 msec",
            "  Latency limit: 0 msec",
            "  Concurrency limit: 4 concurrent requests",
            "  Using synchronous calls for inference",
            "",
        ]
    )


def test_level_block_client_and_server_as_perf_analyzer_prints_them():
    s = SweepSettings(model="m", percentile=95)
    assert level_block(level(), s) == "\n".join(
        [
            "  Client: ",
            "    Request count: 10",
            "    Throughput: 10 infer/sec",
            "    p50 latency: 14005 usec",
            "    p90 latency: 14008 usec",
            "    p95 latency: 14009 usec",
            "    p99 latency: 14009 usec",
            "    Avg HTTP time: 14004 usec (send/recv 200 usec + response wait 13804 usec)",
            "  Server: ",
            "    Inference count: 10",
            "    Execution count: 10",
            "    Successful request count: 10",
            "    Avg request latency: 12005 usec (overhead 36 usec + queue 42 usec + compute input "
            "164 usec + compute infer 11748 usec + compute output 15 usec)",
            "",
        ]
    )


def test_average_mode_prints_the_average_and_grpc_its_split():
    s = SweepSettings(model="m", protocol="grpc")
    text = level_block(level(), s)
    assert "    Avg latency: 14004 usec (standard deviation 3 usec)" in text
    assert (
        "Avg gRPC time: 14004 usec ((un)marshal request/response 200 usec + response wait" in text
    )


def test_an_unstable_level_is_reported_with_a_warning_line():
    text = level_block(level(Verdict.UNSTABLE), SweepSettings(model="m", percentile=95))
    assert text.splitlines()[-1] == (
        "  [WARNING] Not stable within 10 windows: throughput spread 0.0%, latency spread "
        "40.0%; reported from the last 3 windows"
    )


def test_over_threshold_prints_perf_analyzers_message():
    s = SweepSettings(model="m", latency_threshold_ms=10)
    assert level_block(level(Verdict.OVER_THRESHOLD), s) == (
        "Measured latency went over the set limit of 10 msec. "
    )


def test_summary_lists_reported_levels_in_sweep_order():
    s = SweepSettings(model="m", concurrency_end=2, percentile=95)
    result = SweepResult(s, [level(), level(Verdict.UNSTABLE), level(Verdict.OVER_THRESHOLD)])
    assert summary_block(result) == "\n".join(
        [
            "Inferences/Second vs. Client p95 Batch Latency",
            "Concurrency: 1, throughput: 10 infer/sec, latency 14009 usec",
            "Concurrency: 1, throughput: 10 infer/sec, latency 14009 usec (unstable)",
        ]
    )
