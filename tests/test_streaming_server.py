"""--streaming against the real server: the decoupled sample model's responses, timed one
by one; a stream error or deadline is a failed request and the next one goes on; and the
profile's figures and CSV as perf_analyzer gives them."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient

from analysis.csv_columns import STREAM_COLUMNS
from analysis.exit_codes import EXIT_REQUESTS_FAILED
from tests.helpers import expected_exit, load_levels, profile
from triton_user.wire.grpc_client import encode_request
from triton_user.wire.grpc_stream import GrpcStreamClient
from triton_user.wire.tensor import Tensor

pytestmark = pytest.mark.server

DATA = Path(__file__).resolve().parent / "data"
MS = 1_000_000


def request(model: str = "decoupled_stream") -> bytes:
    data = np.arange(16, dtype=np.float32)
    return encode_request(model, "", [Tensor("INPUT0", "FP32", (16,), data)], ["OUTPUT0"])


def model_parameters(server) -> tuple[int, float]:
    """The sample model's response_count and response_gap_ms, from its config."""
    client = grpcclient.InferenceServerClient(server.grpc_url)
    try:
        config = client.get_model_config("decoupled_stream", as_json=True)["config"]
    finally:
        client.close()
    params = config["parameters"]
    assert config["model_transaction_policy"]["decoupled"]
    return int(params["response_count"]["string_value"]), float(
        params["response_gap_ms"]["string_value"]
    )


@pytest.mark.parametrize("client_io", ["threads", "gevent"])
def test_each_response_is_timed_and_the_request_ends_at_the_last(triton_server, client_io):
    count, gap_ms = model_parameters(triton_server)
    client = GrpcStreamClient(triton_server.grpc_url, client_io=client_io)
    seen: list[int] = []
    try:
        timings = [client.infer(request(), seen.append) for _ in range(5)]
    finally:
        client.close()
    assert seen == list(range(1, count + 1)) * 5
    for t in timings:
        assert t.error is None
        assert len(t.responses_ns) == count and t.end_ns == t.responses_ns[-1]
        assert list(t.responses_ns) == sorted(t.responses_ns) and t.responses_ns[0] > t.start_ns
        # First and last response apart by about (count - 1) gaps: the model sleeps each one
        # (a sleep lasts at least its time; a loaded machine adds to it).
        spread_ms = (t.responses_ns[-1] - t.responses_ns[0]) / MS
        assert (count - 1) * gap_ms * 0.95 <= spread_ms <= (count - 1) * gap_ms * 3
    outputs = client.last_outputs()
    assert np.frombuffer(outputs["OUTPUT0"], dtype=np.float32).tolist() == list(range(16))


def test_a_unary_model_streams_one_response_each(triton_server):
    client = GrpcStreamClient(triton_server.grpc_url)
    try:
        for _ in range(3):
            t = client.infer(request("identity_fp32"))
            assert t.error is None and len(t.responses_ns) == 1 and t.end_ns == t.responses_ns[0]
    finally:
        client.close()


def test_an_error_or_a_deadline_is_a_failed_request_and_the_next_goes_on(triton_server):
    client = GrpcStreamClient(triton_server.grpc_url, timeout_s=0.005)
    try:
        late = client.infer(request())  # 10 responses 2 ms apart: past 5 ms
        assert late.error == "timeout: no response within 0.005 s"
        assert len(late.responses_ns) < 10
    finally:
        client.close()
    client = GrpcStreamClient(triton_server.grpc_url, timeout_s=10)
    try:
        unknown = client.infer(request("no_such_model"))
        assert unknown.error is not None and "stream error" in unknown.error
        assert "no_such_model" in unknown.error
        again = client.infer(request())  # the same stream goes on
        assert again.error is None and len(again.responses_ns) == 10
    finally:
        client.close()


def streamed_profile(
    server, tmp_path: Path, *args: str, exit_code: int | None = None
) -> tuple[dict, list[dict[str, str]]]:
    out_json, out_csv = tmp_path / "s.json", tmp_path / "s.csv"
    run = profile(
        "-m",
        "decoupled_stream",
        "-u",
        server.grpc_url,
        "-i",
        "grpc",
        "--streaming",
        "-p",
        "500",
        "-r",
        "6",
        "--json",
        str(out_json),
        "-f",
        str(out_csv),
        "--verbose-csv",
        *args,
    )
    levels = load_levels(out_json)
    want = expected_exit(levels) if exit_code is None else exit_code
    assert run.returncode == want, run.stderr
    with out_csv.open() as f:
        rows = list(csv.DictReader(f))
    header = out_csv.read_text().splitlines()[0].split(",")
    return {"levels": levels, "stdout": run.stdout, "header": header}, rows


def test_a_decoupled_sweep_reports_perf_analyzers_figures_and_ours(triton_server, tmp_path):
    count, gap_ms = model_parameters(triton_server)
    run, rows = streamed_profile(triton_server, tmp_path, "--concurrency-range", "1:2")
    pa = (DATA / "pa_2.51_decoupled_stream_verbose.csv").read_text().splitlines()[0].split(",")
    assert run["header"] == pa + list(STREAM_COLUMNS)
    assert "    Response Throughput: " in run["stdout"]
    assert "Avg gRPC time" not in run["stdout"]  # perf_analyzer has none for a decoupled model
    assert (
        "  Using asynchronous calls for inference\n"
        "  Detected decoupled model, using the first response for measuring latency\n\n"
    ) in run["stdout"]
    for level, row in zip(run["levels"], rows, strict=True):
        merged = level["merged"]
        assert merged["response_count"] == count * merged["request_count"]
        assert merged["response_throughput"] == pytest.approx(count * merged["throughput"])
        assert float(row["Response Throughput"]) == pytest.approx(
            merged["response_throughput"], rel=1e-5
        )
        first, gaps = (
            merged["first_response_percentiles_us"],
            merged["inter_response_percentiles_us"],
        )
        p50_us = merged["percentiles_us"]["p50"]
        # The last response comes about (count - 1) gaps after the first.
        assert p50_us - first["p50"] >= (count - 1) * gap_ms * 1000 * 0.95
        assert gaps["p50"] >= gap_ms * 1000 * 0.95
        assert int(row["First Response p50 latency"]) == int(first["p50"])
        assert int(row["Inter-Response p95 latency"]) == int(gaps["p95"])


def test_a_sweep_whose_requests_time_out_goes_on(triton_server, tmp_path):
    # Each request streams for about 20 ms: a 12 ms deadline fails them all, level by level.
    # Exit code 4: requests failed (triton-locust's own code for it).
    run, rows = streamed_profile(
        triton_server,
        tmp_path,
        "--concurrency-range",
        "1:2",
        "--request-timeout-ms",
        "12",
        exit_code=EXIT_REQUESTS_FAILED,
    )
    levels = run["levels"]
    assert [lvl["concurrency"] for lvl in levels] == [1, 2]
    for level in levels:
        assert sum(w["error_count"] for w in level["windows"]) > 0
    assert "Failed requests" in run["stdout"]


def test_the_profile_export_holds_every_response(triton_server, tmp_path):
    export = tmp_path / "export.json"
    count, _ = model_parameters(triton_server)
    streamed_profile(
        triton_server, tmp_path, "--concurrency-range", "1", "--profile-export-file", str(export)
    )
    data = json.loads(export.read_text())
    requests = data["experiments"][0]["requests"]
    assert requests and all(len(r["response_timestamps"]) == count for r in requests)
    assert all(r["response_timestamps"][0] > r["timestamp"] for r in requests)


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_a_decoupled_model_without_streaming_is_refused_in_perf_analyzers_words(
    triton_server, protocol
):
    url = triton_server.grpc_url if protocol == "grpc" else triton_server.http_url
    run = profile("-m", "decoupled_stream", "-u", url, "-i", protocol, "-p", "500")
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        "triton-locust profile: error: model decoupled_stream: Decoupled models must be run "
        "with `--async` and `--streaming` and either `-i grpc` or `--service-kind=triton_c_api`"
    ]
