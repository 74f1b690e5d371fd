"""--streaming without a server: its rules, the response figures of a window (one process's
exact samples and the merge of workers' histograms), and how they are written."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from analysis import console
from analysis.csv_writer import csv_text
from analysis.distribution import LatencyHistogram
from analysis.model_config import is_decoupled
from analysis.profile_export import (
    CONCURRENCY,
    ProfileExport,
    RequestLog,
    from_dict,
)
from analysis.records import Records
from analysis.results import LevelResult, SweepResult
from analysis.settings import SweepSettings
from analysis.stabiliser import Spread, Verdict
from analysis.window import Window, WindowSample, from_sample, merge, summarize
from tests.test_flag_table import profile_args
from triton_locust.pa_flags import from_pa_namespace
from triton_locust.server import free_ports
from triton_user.sweep.recorder import Recorder
from triton_user.sweep.window_channel import sample_from_wire, sample_to_wire
from triton_user.wire.grpc_stream import ASK_FINAL_FLAG, StreamResponses, read_response

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
MS = 1_000_000
DECOUPLED = {"model_transaction_policy": {"decoupled": True}}


def streamed_records(rows: list[tuple[int, list[int]]], ok: list[bool] | None = None) -> Records:
    """Requests (start, response times): each ends at its last response."""
    times = np.empty(len(rows), dtype=object)
    for i, (_, t) in enumerate(rows):
        times[i] = np.asarray(t, dtype=np.int64)
    starts = np.asarray([s for s, _ in rows], dtype=np.int64)
    ends = np.asarray([t[-1] for _, t in rows], dtype=np.int64)
    zeros = np.zeros(len(rows), dtype=np.int64)
    good = np.asarray(ok if ok is not None else [True] * len(rows), dtype=bool)
    return Records(starts, ends, zeros, zeros, good, response_times=times)


# Three requests of 3, 2 and 1 responses; the last one failed (its responses do not count).
ROWS = [
    (0, [3 * MS, 5 * MS, 9 * MS]),
    (10 * MS, [11 * MS, 14 * MS]),
    (20 * MS, [21 * MS]),
    (30 * MS, [32 * MS, 33 * MS]),
]
OK = [True, True, True, False]


def test_a_window_counts_responses_and_times_the_first_and_the_gaps():
    w = summarize(streamed_records(ROWS, OK), 0, 100 * MS, batch_size=1)
    assert w.request_count == 3 and w.error_count == 1
    assert w.response_count == 6
    # perf_analyzer's Response Throughput: responses over the window's length.
    assert w.response_throughput == pytest.approx(6 / 0.1)
    # Latency runs to the last response, as perf_analyzer's.
    assert sorted(w.latencies.sorted_ns.tolist()) == [1 * MS, 4 * MS, 9 * MS]
    assert w.first_responses.sorted_ns.tolist() == [1 * MS, 1 * MS, 3 * MS]
    assert w.inter_responses.sorted_ns.tolist() == [2 * MS, 3 * MS, 4 * MS]
    assert w.first_response_percentiles_ns[50] == 1 * MS
    assert w.inter_response_percentiles_ns[99] == 4 * MS
    assert w.streamed


def test_a_unary_window_has_no_response_figures():
    w = summarize(Records.from_rows([(0, MS, 0, 0, True)]), 0, 10 * MS, 1)
    assert not w.streamed and w.response_count == 0 and "response_count" not in w.to_dict()


def test_the_figures_survive_the_results_file_and_a_merge():
    a = summarize(streamed_records(ROWS[:2]), 0, 15 * MS, 1)
    b = summarize(streamed_records(ROWS[2:3]), 15 * MS, 100 * MS, 1)
    merged = merge([a, b])
    assert merged.response_count == 6
    assert merged.first_responses.sorted_ns.tolist() == [1 * MS, 1 * MS, 3 * MS]
    back = Window.from_dict(json.loads(json.dumps(merged.to_dict())))
    assert back.response_count == 6
    assert back.response_throughput == pytest.approx(merged.response_throughput)
    assert back.first_response_percentiles_ns == merged.first_response_percentiles_ns
    assert back.inter_response_percentiles_ns == merged.inter_response_percentiles_ns


def test_workers_histograms_merge_by_adding_counts():
    rng = np.random.default_rng(7)
    rows = []
    for i in range(400):
        start = i * 50 * MS
        gaps = rng.integers(1 * MS, 4 * MS, size=int(rng.integers(1, 12)))
        rows.append((start, (start + np.cumsum(gaps)).tolist()))
    exact = WindowSample.from_records(streamed_records(rows))
    halves = [
        sample_from_wire(sample_to_wire(WindowSample.from_records(streamed_records(part), True)))
        for part in (rows[:150], rows[150:])
    ]
    merged = WindowSample.merge(halves)
    assert isinstance(merged.first_responses, LatencyHistogram)
    assert merged.response_count == exact.response_count
    assert merged.first_responses.count == exact.first_responses.count
    assert merged.inter_responses.count == exact.inter_responses.count
    for p in (50, 95, 99):
        for dist in ("first_responses", "inter_responses"):
            want = getattr(exact, dist).percentile_ns(p)
            assert getattr(merged, dist).percentile_ns(p) == pytest.approx(want, rel=1e-3)


def test_the_recorder_keeps_streamed_and_unary_rows_apart_and_together():
    recorder = Recorder()
    t0 = 1_000 * MS
    recorder.record(t0, t0 + 3 * MS, 1, 0, True, (t0 + MS, t0 + 2 * MS, t0 + 3 * MS))
    recorder.record(t0 + MS, t0 + 2 * MS, 1, 0, True)  # a unary one: no response times
    log = RequestLog()
    recorder.keep_requests(log)
    sample = recorder.cut(t0, t0 + 10 * MS)
    assert sample.response_count == 3 and sample.latencies.count == 2
    assert sample.inter_responses.sorted_ns.tolist() == [MS, MS]
    _, _, responses = log.take(t0, t0 + 10 * MS)
    assert sorted(len(r) for r in responses) == [0, 3]


def test_a_final_flag_alone_is_no_response():
    from tritonclient.grpc import service_pb2

    def reply(final: bool | None, outputs: bool) -> bytes:
        r = service_pb2.ModelStreamInferResponse()
        if final is not None:
            r.infer_response.parameters["triton_final_response"].bool_param = final
        if outputs:
            r.infer_response.outputs.add(name="OUTPUT0")
        return r.SerializeToString()

    got = StreamResponses()
    read_response(reply(False, True), got)
    assert not got.final and len(got.times) == 1
    read_response(reply(True, False), got)  # perf_analyzer's null response
    assert got.final and len(got.times) == 1
    unary = StreamResponses()
    read_response(reply(None, True), unary)  # no marker: a model that is not decoupled
    assert unary.final and len(unary.times) == 1
    failed = StreamResponses()
    read_response(
        service_pb2.ModelStreamInferResponse(error_message="boom").SerializeToString(), failed
    )
    assert failed.final and failed.error == "stream error: boom" and not failed.times
    # What every request adds: Triton's marks on each response.
    asked = service_pb2.ModelInferRequest.FromString(ASK_FINAL_FLAG)
    assert asked.parameters["triton_enable_empty_final_response"].bool_param


def level_of(window: Window, concurrency: int = 1) -> LevelResult:
    return LevelResult(concurrency, Verdict.STABLE, [window], window, Spread(0.0, 0.0))


def result_of(settings: SweepSettings, config: dict, *windows: Window) -> SweepResult:
    levels = [level_of(w, c) for c, w in enumerate(windows, start=1)]
    return SweepResult(settings, levels, model_config=config)


def pa_header() -> list[str]:
    return (DATA / "pa_2.51_decoupled_stream_verbose.csv").read_text().splitlines()[0].split(",")


def test_the_csv_header_is_perf_analyzers_for_a_decoupled_model():
    settings = SweepSettings(model="decoupled_stream", protocol="grpc", streaming=True)
    w = summarize(streamed_records(ROWS[:3]), 0, 100 * MS, 1)
    verbose = csv_text(result_of(settings, DECOUPLED, w), verbose=True).splitlines()
    header = verbose[0].split(",")
    pa = pa_header()
    # perf_analyzer's columns, then ours after every other appended one.
    assert header[: len(pa)] == pa
    assert header[len(pa) :] == [
        "First Response p50 latency",
        "First Response p95 latency",
        "Inter-Response p50 latency",
        "Inter-Response p95 latency",
    ]
    plain = csv_text(result_of(settings, DECOUPLED, w)).splitlines()[0].split(",")
    assert plain == pa[: pa.index("Avg latency")]
    row = dict(zip(header, next(csv.reader([verbose[1]])), strict=True))
    assert float(row["Response Throughput"]) == pytest.approx(6 / 0.1, rel=1e-5)
    # No client library figures for a decoupled model, as in perf_analyzer's CSV.
    assert row["Client Send"] == row["Client Recv"] == row["response wait"] == "0"
    assert row["First Response p50 latency"] == "1000"
    # A model that is not decoupled, streamed: no Response Throughput (perf_analyzer's rule).
    unary = csv_text(result_of(settings, {}, w)).splitlines()[0]
    assert "Response Throughput" not in unary


def test_the_console_prints_perf_analyzers_lines_and_ours():
    settings = SweepSettings(model="decoupled_stream", protocol="grpc", streaming=True)
    w = summarize(streamed_records(ROWS[:3]), 0, 100 * MS, 1)
    block = console.level_block(level_of(w), settings, decoupled=True).splitlines()
    throughput = block.index("    Throughput: 30 infer/sec")
    assert block[throughput + 1] == "    Response Throughput: 60 infer/sec"
    assert "    " in block and not any("Avg gRPC time" in line for line in block)
    assert "  Streaming: 6 responses (2 per request, 60 responses/sec)" in block
    assert "    First response latency: p50 1000 usec, p95 3000 usec, p99 3000 usec" in block
    assert "    Inter-response latency: p50 3000 usec, p95 4000 usec, p99 4000 usec" in block
    assert is_decoupled(DECOUPLED) and not is_decoupled({})


def test_the_profile_export_holds_every_response_and_reads_back():
    export = ProfileExport()
    records = streamed_records(ROWS[:3])
    export.add_level(
        CONCURRENCY,
        1,
        [(0, 100 * MS, records.start_ns, records.end_ns, records.response_times)],
        offset_ns=7,
    )
    data = json.loads("".join(export.chunks()))
    schema = json.loads((DATA / "profile_export.schema.json").read_text())
    jsonschema.validate(data, schema)
    requests = data["experiments"][0]["requests"]
    assert [r["response_timestamps"] for r in requests] == [
        [t + 7 for t in times] for _, times in ROWS[:3]
    ]
    assert [len(r["response_outputs"]) for r in requests] == [3, 2, 1]
    [w] = from_dict(data).experiments[0].windows()
    assert w.response_count == 6 and w.request_count == 3
    assert w.inter_response_percentiles_ns[99] == 4 * MS


def test_streaming_rules_are_perf_analyzers():
    def settings(*argv: str) -> SweepSettings:
        return from_pa_namespace(profile_args(["-m", "m", *argv]))[0]

    streamed = settings("-i", "grpc", "--streaming")
    assert streamed.streaming and streamed.calls == "async"  # implied, as perf_analyzer does
    assert SweepSettings.from_dict(streamed.to_dict()) == streamed
    assert not settings("-i", "grpc").streaming
    with pytest.raises(ValueError, match="only allowed with gRPC protocol"):
        settings("--streaming")
    with pytest.raises(ValueError, match="can not use streaming with synchronous API"):
        settings("-i", "grpc", "--streaming", "--sync")
    at_rate = settings("-i", "grpc", "--streaming", "--request-rate-range", "10")
    assert at_rate.streaming and at_rate.calls == "async" and at_rate.rate.max_threads == 4


@pytest.mark.parametrize(
    "args, message",
    [
        ((), "--streaming: Streaming is only allowed with gRPC protocol and Triton C API."),
        (("-i", "grpc", "--sync"), "--streaming: can not use streaming with synchronous API"),
    ],
)
def test_a_streaming_rule_broken_is_one_line_and_exit_2(args, message):
    url = f"127.0.0.1:{free_ports(1)[0]}"
    run = subprocess.run(
        [sys.executable, "-m", "triton_locust.cli", "profile", "-m", "m", "-u", url]
        + ["--streaming", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert run.returncode == 2, run.stderr
    [line] = run.stderr.strip().splitlines()
    assert message in line


def test_a_window_with_no_streamed_response_says_none():
    sample = WindowSample.from_records(streamed_records(ROWS[:1], [False]))
    w = from_sample(sample, 0, 10 * MS, 1)
    assert w.response_count == 0 and w.first_response_percentiles_ns == {}
    assert console.stream_lines(replace(w, request_count=1))[1].endswith("none")


def test_the_web_tab_shows_a_streamed_levels_figures():
    from analysis.settings import Outputs
    from triton_user.web.view import SweepView

    settings = SweepSettings(model="decoupled_stream", protocol="grpc", streaming=True)
    view = SweepView(1, 1, settings, Outputs())
    row = view.level_row(level_of(summarize(streamed_records(ROWS[:3]), 0, 100 * MS, 1)))
    assert row["response_throughput_text"] == "60"
    assert row["first_response_us"] == {"50": 1000, "95": 3000, "99": 3000}
    assert row["inter_response_us"] == {"50": 3000, "95": 4000, "99": 4000}
    page = view.to_json()
    assert page["streaming"] is True and page["stream_percentiles"] == [50, 95, 99]
