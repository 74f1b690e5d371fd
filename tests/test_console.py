"""perf_analyzer's console layout, line for line, and our additions on lines of their own."""

import re
from dataclasses import replace

from analysis.console import (
    CLIENT_BUSY_WARNING,
    CLIENT_LAG_WARNING_MS,
    interrupted_line,
    level_block,
    level_header,
    settings_block,
    summary_block,
    unstable_reason,
)
from analysis.records import Records
from analysis.results import LevelResult, SweepResult
from analysis.server_stats import ServerStats
from analysis.settings import SweepSettings
from analysis.stabiliser import Spread, Verdict
from analysis.window import merge, summarize

# The walkthrough's server figures (inception_graphdef, concurrency 1), per request.
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

# perf_analyzer's block from the walkthrough (/work/shared/seed), concurrency 1. Its markdown
# lost the trailing space 2.51 prints after "Client:" and "Server:"; restored here.
WALKTHROUGH_BLOCK = "\n".join(
    [
        "  Client: ",
        "    Request count: 527",
        "    Throughput: 105.4 infer/sec",
        "    Avg latency: 9478 usec (standard deviation 165 usec)",
        "    p50 latency: 9465 usec",
        "    p90 latency: 9702 usec",
        "    p95 latency: 9734 usec",
        "    p99 latency: 9803 usec",
        "    Avg HTTP time: 9470 usec (send/recv 117 usec + response wait 9353 usec)",
        "  Server: ",
        "    Inference count: 633",
        "    Execution count: 633",
        "    Successful request count: 633",
        "    Avg request latency: 8435 usec (overhead 17 usec + queue 19 usec + compute input "
        "155 usec + compute infer 8239 usec + compute output 5 usec)",
        "",
    ]
)


def level(
    verdict=Verdict.STABLE, percentile=95, server=SERVER, count=10, failed=0, busy=None, lag=None
):
    """`count` requests of 14000, 14001, ... usec in one second, each 100 usec send and
    100 usec recv; for 10: avg 14004 (std 3), p50 14005, p90 14008, p95 = p99 14009 usec."""
    rows = [(i * 1000, i * 2000 + 14_000_000, 100_000, 100_000, True) for i in range(count)]
    rows += [(0, 1000, 0, 0, False)] * failed
    w = replace(
        summarize(Records.from_rows(rows), 0, 10**9, 1, percentile, server),
        client_busy=busy,
        client_lag_ms=lag,
    )
    return LevelResult(1, verdict, [w], merge([w], percentile), Spread(1.0, 1.4))


def lines(text):
    return text.split("\n")


def layout(text):
    """The text with its figures blanked: what perf_analyzer's parsers rely on."""
    return [re.sub(r"\d+(\.\d+)?", "N", line) for line in lines(text)]


# -- settings --------------------------------------------------------------------------------


def test_settings_block_for_a_p95_sweep():
    s = SweepSettings(model="m", concurrency_end=4, percentile=95)
    assert settings_block(s) == "\n".join(
        [
            "*** Measurement Settings ***",
            "  Batch size: 1",
            "  Service Kind: TRITON",
            '  Using "time_windows" mode for stabilization',
            "  Stabilizing using p95 latency and throughput",
            "  Measurement window: 5000 msec",
            "  Latency limit: 0 msec",
            "  Concurrency limit: 4 concurrent requests",
            "  Using synchronous calls for inference",
            "",
        ]
    )


def test_settings_block_of_a_single_level_has_no_limits():
    s = SweepSettings(model="m", batch_size=8, measurement_interval_ms=2000)
    assert settings_block(s) == "\n".join(
        [
            "*** Measurement Settings ***",
            "  Batch size: 8",
            "  Service Kind: TRITON",
            '  Using "time_windows" mode for stabilization',
            "  Stabilizing using average latency and throughput",
            "  Measurement window: 2000 msec",
            "  Using synchronous calls for inference",
            "",
        ]
    )


def test_settings_block_in_count_windows_up_to_the_latency_limit():
    s = SweepSettings(
        model="m",
        concurrency_start=2,
        concurrency_end=0,  # no end: -l stops the sweep
        measurement_mode="count_windows",
        measurement_request_count=200,
        latency_threshold_ms=50,
    )
    assert lines(settings_block(s))[3:7] == [
        '  Using "count_windows" mode for stabilization',
        "  Stabilizing using average latency and throughput",
        "  Minimum number of samples in each window: 200",
        "  Latency limit: 50 msec",
    ]
    assert "Concurrency limit" not in settings_block(s)


def test_concurrency_limit_is_the_larger_of_start_and_end():
    s = SweepSettings(model="m", concurrency_start=6, concurrency_end=3)
    assert "  Concurrency limit: 6 concurrent requests" in lines(settings_block(s))


# -- one level -------------------------------------------------------------------------------


def test_level_header():
    assert level_header(12) == "Request concurrency: 12"


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


def test_average_mode_has_the_walkthroughs_layout():
    text = level_block(level(percentile=None), SweepSettings(model="m"))
    assert layout(text) == layout(WALKTHROUGH_BLOCK)
    assert "    Avg latency: 14004 usec (standard deviation 3 usec)" in lines(text)


def test_grpc_and_verbose_split_the_client_time_as_perf_analyzer_does():
    def split_line(protocol, verbose):
        s = SweepSettings(model="m", protocol=protocol, percentile=95)
        return lines(level_block(level(), s, verbose=verbose))[7]

    assert split_line("http", False) == (
        "    Avg HTTP time: 14004 usec (send/recv 200 usec + response wait 13804 usec)"
    )
    assert split_line("http", True) == (
        "    Avg HTTP time: 14004 usec (send 100 usec + response wait 13804 usec + receive "
        "100 usec)"
    )
    assert split_line("grpc", False) == (
        "    Avg gRPC time: 14004 usec ((un)marshal request/response 200 usec + response wait "
        "13804 usec)"
    )
    assert split_line("grpc", True) == (
        "    Avg gRPC time: 14004 usec (marshal 100 usec + response wait 13804 usec + unmarshal "
        "100 usec)"
    )


def test_without_protocol_detail_perf_analyzer_still_prints_the_indent():
    text = level_block(level(), SweepSettings(model="m", percentile=95), protocol_detail=False)
    assert lines(text)[7] == "    "
    assert lines(text)[8] == "  Server: "


def test_a_level_without_server_statistics_has_no_server_block():
    text = level_block(level(server=None), SweepSettings(model="m", percentile=95))
    assert "Server" not in text
    assert lines(text)[-1].startswith("    Avg HTTP time: ")


def test_a_server_without_successful_requests_prints_a_zero_count():
    text = level_block(level(server=ServerStats()), SweepSettings(model="m", percentile=95))
    assert lines(text)[-2:] == ["  Server: ", "    Request count: 0"]


def test_one_request_has_perf_analyzers_infinite_std():
    text = level_block(level(percentile=None, count=1), SweepSettings(model="m"))
    assert "    Avg latency: 14000 usec (standard deviation 18446744073709551615 usec)" in text


def test_an_unstable_level_is_reported_with_a_warning_line():
    text = level_block(level(Verdict.UNSTABLE), SweepSettings(model="m", percentile=95))
    assert lines(text)[:2] == ["  Client: ", "    Request count: 10"]
    assert lines(text)[-1] == (
        "  [WARNING] Not stable within 10 windows: throughput spread 0.0%, latency spread "
        "40.0%; reported from the last 3 windows"
    )


def test_failed_requests_are_said_on_a_line_of_their_own_after_the_blocks():
    text = level_block(level(failed=3), SweepSettings(model="m", percentile=95))
    assert lines(text)[1] == "    Request count: 10"  # the successful ones, as perf_analyzer
    assert lines(text)[-1] == (
        "  [WARNING] Failed requests (errors, timeouts): 3 in 1 of 1 window, 3 in the reported "
        "windows; not in the figures"
    )
    assert "Failed" not in level_block(level(), SweepSettings(model="m", percentile=95))


def test_a_busy_load_generator_gets_perf_analyzers_warning_in_our_words():
    s = SweepSettings(model="m", percentile=95)
    assert lines(level_block(level(busy=0.97), s))[-1] == (
        "[WARNING] triton-locust is not able to keep up with the desired load (client busy "
        "97%). The results may not be accurate."
    )
    assert "WARNING" not in level_block(level(busy=CLIENT_BUSY_WARNING), s)
    assert "WARNING" not in level_block(level(busy=None), s)


def test_a_late_event_loop_gets_the_warning_too_with_both_figures():
    s = SweepSettings(model="m", percentile=95)
    assert lines(level_block(level(busy=0.5, lag=2.5), s))[-1] == (
        "[WARNING] triton-locust is not able to keep up with the desired load (client busy "
        "50%, loop lag 2.5 ms). The results may not be accurate."
    )
    assert "WARNING" not in level_block(level(busy=0.5, lag=CLIENT_LAG_WARNING_MS), s)


def test_a_level_measured_again_or_kept_with_changed_workers_says_so():
    s = SweepSettings(model="m", percentile=95)
    again = replace(level(), remeasured=1)
    assert lines(level_block(again, s))[-1] == (
        "  [WARNING] A Locust worker was lost or joined: the level was measured again (1x)"
    )
    kept = level()
    kept = replace(kept, merged=replace(kept.merged, missing_workers=1, joined_workers=2))
    assert lines(level_block(kept, s))[-2:] == [
        "  [WARNING] 1 worker answer(s) missing from the reported windows: their requests are "
        "not counted",
        "  [WARNING] 2 worker(s) joined during the reported windows: Locust moved users onto "
        "them mid-window",
    ]


def test_an_interrupted_level_prints_one_line_and_none_of_its_figures():
    # Its Client/Server block would read as measured, then "not reported" contradicted it.
    s = SweepSettings(model="m", percentile=95)
    stopped = replace(level(Verdict.INTERRUPTED, busy=0.97), windows=[level().windows[0]] * 2)
    assert level_block(stopped, s) == "  Interrupted after 2 windows: not reported"
    assert interrupted_line(stopped, "perf.json") == (
        "  Interrupted after 2 windows: not reported; perf.json keeps its windows, marked "
        "interrupted"
    )
    before = replace(stopped, windows=[], merged=None)
    assert interrupted_line(before, "perf.json") == (
        "  Interrupted before its first window: not reported"
    )


def test_unstable_reason_names_the_spreads_over_the_limit():
    s = SweepSettings(model="m", stability_pct=10)
    three = [level().windows[0]] * 3
    unstable = replace(level(Verdict.UNSTABLE), windows=three)  # spread 1.0, 1.4
    assert unstable_reason(unstable, s) == "latency spread 40.0% > 10%"
    both = replace(unstable, spread=Spread(1.154, float("inf")))
    assert unstable_reason(both, s) == "throughput spread 15.4%, latency spread unbounded > 10%"
    # -r 2: perf_analyzer's rule compares 3 windows, so a level can never settle.
    short = replace(unstable, windows=three[:2])
    assert unstable_reason(short, s) == "only 2 windows; stability compares 3"


def test_over_threshold_prints_perf_analyzers_message():
    s = SweepSettings(model="m", latency_threshold_ms=10)
    assert level_block(level(Verdict.OVER_THRESHOLD), s) == (
        "Measured latency went over the set limit of 10 msec. "
    )


# -- after the sweep -------------------------------------------------------------------------


def test_summary_lists_reported_levels_in_sweep_order():
    s = SweepSettings(model="m", concurrency_end=3, percentile=95)
    levels = [
        replace(level(), concurrency=1),
        replace(level(Verdict.UNSTABLE, count=5), concurrency=2),
        replace(level(Verdict.OVER_THRESHOLD), concurrency=3),
    ]
    assert summary_block(SweepResult(s, levels)) == "\n".join(
        [
            "Inferences/Second vs. Client p95 Batch Latency",
            "Concurrency: 1, throughput: 10 infer/sec, latency 14009 usec",
            "Concurrency: 2, throughput: 5 infer/sec, latency 14004 usec (unstable)",
        ]
    )


def test_summary_in_average_mode_reports_the_average_latency():
    s = SweepSettings(model="m")
    text = summary_block(SweepResult(s, [level(percentile=None)]))
    assert lines(text) == [
        "Inferences/Second vs. Client Average Batch Latency",
        "Concurrency: 1, throughput: 10 infer/sec, latency 14004 usec",
    ]
