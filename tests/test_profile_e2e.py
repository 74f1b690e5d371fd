"""`triton-locust profile` and `locust -f locustfiles/triton_sweep.py` against the real
embedded Triton server: what the client counted is what the server served."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys

import pytest

from analysis.csv_columns import header
from tests.helpers import PA_HEADER, REPO, expected_exit, load_levels, profile

pytestmark = pytest.mark.server

# Short windows keep the suite quick; the comparison with perf_analyzer uses real ones.
FAST = ["-p", "300", "-r", "6"]


def url(server, protocol: str) -> str:
    return server.grpc_url if protocol == "grpc" else server.http_url


# How long after the driver's clock a gRPC statistics poll may reach the server. grpcio
# sends it from a thread of its own, which a loaded machine can leave waiting for a core
# (measured: up to 12 ms on two cores with two busy loops) while the users go on. An HTTP
# poll leaves from the driver's own greenlet: no lead worth counting.
GRPC_POLL_LEAD_S = 0.03


def assert_counts_match_server(levels: list[dict], batch: int = 1, protocol: str = "http") -> None:
    """Per level, the requests the client saw complete in the merged windows against the
    server's success-count delta over the same windows.

    Every window edge, the level's first too, is the driver's clock and then a statistics
    poll. At an edge the server is ahead of the client by the requests in flight there (at
    most the concurrency), plus those completed between the clock and the moment the poll
    reaches the server. The two edges of the merged windows lead alike and the leads cancel,
    up to one edge's: twice the concurrency, plus over gRPC what completes in its poll's lead.
    (The first edge used to poll before its clock: the server was then ahead by a whole
    poll's worth of requests, dozens on a loaded machine.)"""
    for level in levels:
        merged = level["merged"]
        client = merged["request_count"]
        server = merged["server"]["success_count"]
        assert client > 0
        allowed = 2 * level["concurrency"]
        if protocol == "grpc":
            per_s = client / (merged["duration_ns"] / 1e9)
            allowed += math.ceil(per_s * GRPC_POLL_LEAD_S)
        assert abs(client - server) <= allowed, (level["concurrency"], client, server, allowed)
        assert merged["server"]["inference_count"] == pytest.approx(
            server * batch, abs=2 * batch * level["concurrency"]
        )


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_identity_sweep_counts_what_the_server_served(triton_server, tmp_path, protocol):
    out_csv, out_json = tmp_path / "perf.csv", tmp_path / "perf.json"
    run = profile(
        "-m",
        "identity_fp32",
        "-u",
        url(triton_server, protocol),
        "-i",
        protocol,
        "--concurrency-range",
        "1:3",
        *FAST,
        "-f",
        str(out_csv),
        "--json",
        str(out_json),
    )
    assert run.returncode in (0, 1), run.stderr  # 1: a level flagged unstable on a noisy box
    assert "Traceback" not in run.stderr
    levels = load_levels(out_json)
    assert run.returncode == expected_exit(levels)
    assert [lvl["concurrency"] for lvl in levels] == [1, 2, 3]
    assert_counts_match_server(levels, protocol=protocol)
    # perf_analyzer's console layout.
    assert "*** Measurement Settings ***" in run.stdout
    for c in (1, 2, 3):
        assert f"Request concurrency: {c}\n  Client: \n    Request count: " in run.stdout
    assert ("Avg gRPC time" if protocol == "grpc" else "Avg HTTP time") in run.stdout
    assert "  Server: \n    Inference count: " in run.stdout
    assert "Inferences/Second vs. Client Average Batch Latency" in run.stdout
    # perf_analyzer's CSV, rows by throughput.
    lines = out_csv.read_text().splitlines()
    assert lines[0] == PA_HEADER
    rows = list(csv.DictReader(lines))
    assert sorted(int(r["Concurrency"]) for r in rows) == [1, 2, 3]
    throughputs = [float(r["Inferences/Second"]) for r in rows]
    assert throughputs == sorted(throughputs)
    # The report is written next to the CSV by default.
    assert (tmp_path / "perf.html").exists()


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_batched_model_counts_inferences_per_request(triton_server, tmp_path, protocol):
    out_json = tmp_path / "batch.json"
    run = profile(
        "-m",
        "sleep_5ms",
        "-u",
        url(triton_server, protocol),
        "-i",
        protocol,
        "-b",
        "4",
        "--concurrency-range",
        "2",
        *FAST,
        "--json",
        str(out_json),
    )
    assert run.returncode in (0, 1), run.stderr
    [level] = load_levels(out_json)
    assert run.returncode == expected_exit([level])
    assert level["concurrency"] == 2
    assert_counts_match_server([level], batch=4, protocol=protocol)
    merged = level["merged"]
    seconds = merged["duration_ns"] / 1e9
    assert merged["throughput"] == pytest.approx(merged["request_count"] * 4 / seconds)


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_string_model_over_both_protocols(triton_server, tmp_path, protocol):
    out_json = tmp_path / "s.json"
    run = profile(
        "-m",
        "string_identity",
        "-u",
        url(triton_server, protocol),
        "-i",
        protocol,
        "--string-length",
        "64",
        "-b",
        "2",
        "--concurrency-range",
        "1",
        *FAST,
        "--percentile",
        "95",
        "--json",
        str(out_json),
    )
    assert run.returncode in (0, 1), run.stderr
    [level] = load_levels(out_json)
    assert run.returncode == expected_exit([level])
    assert level["merged"]["error_count"] == 0
    assert_counts_match_server([level], batch=2, protocol=protocol)
    assert "Inferences/Second vs. Client p95 Batch Latency" in run.stdout


def test_dynamic_dimension_with_shape(triton_server, tmp_path):
    out_csv = tmp_path / "d.csv"
    run = profile(
        "-m",
        "dynamic_identity",
        "-u",
        triton_server.http_url,
        "--shape",
        "INPUT0:32",
        "--concurrency-range",
        "1",
        *FAST,
        "-f",
        str(out_csv),
        "--verbose-csv",
    )
    assert run.returncode in (0, 1), run.stderr
    assert out_csv.read_text().splitlines()[0].split(",") == header(
        [50, 90, 95, 99], verbose=True, stabilises_on_average=True
    )


def test_locust_command_line_runs_the_same_sweep(triton_server, tmp_path):
    out_csv, out_json = tmp_path / "locust.csv", tmp_path / "locust.json"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            "locustfiles/triton_sweep.py",
            "--headless",
            "--model",
            "identity_fp32",
            "--triton-url",
            triton_server.http_url,
            "--protocol",
            "http",
            "--concurrency-range",
            "1:2",
            "--measurement-interval",
            "300",
            "--max-trials",
            "6",
            "--percentile",
            "95",
            "--results-csv",
            str(out_csv),
            "--results-json",
            str(out_json),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=REPO,
    )
    levels = load_levels(out_json)
    assert run.returncode == expected_exit(levels), run.stderr[-2000:]
    assert out_csv.read_text().splitlines()[0] == PA_HEADER
    assert [lvl["concurrency"] for lvl in levels] == [1, 2]
    assert_counts_match_server(levels)
    assert json.loads(out_json.read_text())["stabilized_on"] == "p95"


BAD_INPUT = [
    (["-m", "no_such_model"], "no_such_model"),
    (["-m", "identity_fp32", "-u", "127.0.0.1:1"], "cannot reach Triton at 127.0.0.1:1"),
    (["-m", "identity_fp32", "--concurrency-range", "1:x"], "--concurrency-range"),
    (["-m", "identity_fp32", "--percentile", "0"], "--percentile 0"),
    (["-m", "identity_fp32", "--percentile", "100"], "--percentile 100"),
    (["-m", "dynamic_identity"], "--shape INPUT0"),
    (["-m", "identity_fp32", "-i", "udp"], "udp"),
    (["-m", "identity_fp32", "-b", "2"], "does not support batching"),
    (["-m", "identity_fp32", "--binary-search"], "--latency-threshold cannot be 0"),
    (["-m", "identity_fp32", "--input-data", "/nonexistent.json"], "--input-data"),
    ([], "-m/--model-name is required"),
    # Found before any load is sent, not after the sweep has been measured.
    (["-m", "identity_fp32", "-f", "/dev/null/perf.csv"], "cannot write /dev/null/perf.csv"),
    (["-m", "identity_fp32", "--json", "/dev/null/r.json"], "/dev/null is not a folder"),
]


@pytest.mark.parametrize(
    ("args", "named"), BAD_INPUT, ids=[" ".join(a) or "no-model" for a, _ in BAD_INPUT]
)
def test_bad_input_gets_one_line_and_a_non_zero_exit(triton_server, args, named):
    if "-u" not in args:
        args = [*args, "-u", triton_server.http_url]
    run = profile(*args, timeout=60)
    assert run.returncode != 0
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert named in lines[0]
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_cooperative_gevent_users_count_the_same(triton_server, tmp_path, protocol):
    out_json = tmp_path / "g.json"
    run = profile(
        "-m",
        "identity_fp32",
        "-u",
        url(triton_server, protocol),
        "-i",
        protocol,
        "--client-io",
        "gevent",
        "--concurrency-range",
        "1:3:2",
        *FAST,
        "--json",
        str(out_json),
    )
    assert run.returncode in (0, 1), run.stderr
    levels = load_levels(out_json)
    assert run.returncode == expected_exit(levels)
    assert [lvl["concurrency"] for lvl in levels] == [1, 3]
    assert_counts_match_server(levels, protocol=protocol)
    assert json.loads(out_json.read_text())["settings"]["client_io"] == "gevent"
