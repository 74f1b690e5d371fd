"""--profile-export-file against the real embedded Triton server: the file validates against
perf_analyzer's schema, holds every request the run counted in its windows (and about what
the server served meanwhile), a killed run keeps the levels it finished, and the report
reads it back to the run's own figures."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import time

import jsonschema
import pytest

from analysis.report.load import load_summary
from tests.helpers import REPO, load_levels, profile
from tests.test_profile_export import SCHEMA

pytestmark = pytest.mark.server

FAST = ["-p", "300", "-r", "6"]
# How far a gRPC statistics poll may lag the driver's clock on a loaded machine
# (tests/test_profile_e2e.py says why).
GRPC_POLL_LEAD_S = 0.03


def validate(path) -> dict:
    data = json.loads(path.read_text())
    jsonschema.Draft202012Validator(SCHEMA).validate(data)
    return data


def check_against_results(export: dict, levels: list[dict], protocol: str) -> None:
    """Per experiment: the requests the run counted in every window of the level, each in
    the window its response arrived in; the server's success delta over those windows, up
    to what was in flight at their two edges."""
    assert len(export["experiments"]) == len(levels)
    for e, level in zip(export["experiments"], levels, strict=True):
        windows = level["windows"]
        counted = sum(w["request_count"] for w in windows)
        assert len(e["requests"]) == counted > 0
        bounds = e["window_boundaries"]
        assert [b - a for a, b in zip(bounds, bounds[1:], strict=False)] == [
            w["duration_ns"] for w in windows
        ]
        per_window = [0] * len(windows)
        for r in e["requests"]:
            end = r["response_timestamps"][-1]
            assert r["timestamp"] <= end
            i = next(i for i in range(len(windows)) if bounds[i] <= end <= bounds[i + 1])
            per_window[i] += 1
        assert per_window == [w["request_count"] for w in windows]
        if all(w["server"] for w in windows):
            served = sum(w["server"]["success_count"] for w in windows)
            allowed = 2 * level["concurrency"]
            if protocol == "grpc":
                duration_s = sum(w["duration_ns"] for w in windows) / 1e9
                allowed += math.ceil(counted / duration_s * GRPC_POLL_LEAD_S)
            assert abs(served - counted) <= allowed, (level["concurrency"], counted, served)


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_a_sweeps_export_validates_and_holds_every_request_it_counted(
    triton_server, tmp_path, protocol
):
    export, results = tmp_path / "export.json", tmp_path / "perf.json"
    before = time.time_ns()
    run = profile(
        "-m", "sleep_5ms",
        "-u", triton_server.grpc_url if protocol == "grpc" else triton_server.http_url,
        "-i", protocol,
        "--concurrency-range", "1:3",
        *FAST,
        "--json", str(results),
        "--profile-export-file", str(export),
    )  # fmt: skip
    after = time.time_ns()
    assert run.returncode in (0, 1), run.stderr  # 1: a level unstable on a noisy machine
    assert f"{export}  perf_analyzer's profile export" in run.stdout
    data = validate(export)
    assert [e["experiment"] for e in data["experiments"]] == [
        {"mode": "concurrency", "value": c} for c in (1, 2, 3)
    ]
    levels = load_levels(results)
    check_against_results(data, levels, protocol)
    # perf_analyzer's clock: nanoseconds since the epoch, within the run.
    stamps = [r["timestamp"] for e in data["experiments"] for r in e["requests"]]
    assert before < min(stamps) and max(stamps) < after

    summary = load_summary(export)  # the report's figures are the run's own
    for row, level in zip(summary.levels, levels, strict=True):
        merged = level["merged"]
        assert row.concurrency == level["concurrency"]
        assert row.throughput == pytest.approx(merged["throughput"], rel=1e-9)
        for p, us in merged["percentiles_us"].items():
            assert row.percentiles_us[int(p[1:])] == pytest.approx(us, abs=1e-6)
    report = tmp_path / "report.html"
    drawn = subprocess.run(
        [sys.executable, "-m", "triton_locust.cli", "report", str(export), "-o", str(report)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert drawn.returncode == 0, drawn.stderr
    page = report.read_text()
    assert all(f"{row.throughput:.6g}" in page for row in summary.levels)


def test_a_request_rate_sweeps_export_has_its_rates(triton_server, tmp_path):
    export, results = tmp_path / "export.json", tmp_path / "perf.json"
    run = profile(
        "-m", "sleep_5ms", "-u", triton_server.http_url,
        "--request-rate-range", "100:200:100",
        *FAST,
        "--json", str(results),
        "--profile-export-file", str(export),
    )  # fmt: skip
    assert run.returncode in (0, 1), run.stderr
    data = validate(export)
    assert [e["experiment"] for e in data["experiments"]] == [
        {"mode": "request_rate", "value": 100.0},
        {"mode": "request_rate", "value": 200.0},
    ]
    assert '"value":100.0' in export.read_text()
    check_against_results(data, load_levels(results), "http")


def test_a_killed_sweep_keeps_the_levels_it_finished(triton_server, tmp_path):
    export = tmp_path / "export.json"
    sweep = subprocess.Popen(
        [
            sys.executable, "-m", "triton_locust.cli", "profile",
            "-m", "sleep_5ms", "-u", triton_server.http_url,
            "--concurrency-range", "1:20", "-p", "300", "-r", "4",
            "--profile-export-file", str(export),
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not export.exists():  # written once the first level has finished
            assert sweep.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        sweep.send_signal(signal.SIGKILL)
    finally:
        sweep.kill()
        sweep.wait(30)
    data = validate(export)  # whole: written to a temporary file, then renamed
    assert data["experiments"] and all(e["requests"] for e in data["experiments"])
