"""--periodic-concurrency-range against the real embedded Triton server and its decoupled
model (decoupled_stream: 10 responses 2 ms apart, 3 instances): the export proves the
concurrency rose as perf_analyzer raises it, and matches perf_analyzer 2.51's own run of the
same flags (tests/data/pa_periodic.*, recorded once from the real binary: a CI clone may
not have it); perf_analyzer's early-final error and Ctrl-C, one line each."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest

from analysis.periodic import (
    EARLY_FINAL,
    PeriodicRange,
    batch_of_each,
    check_schedule,
    in_flight_after_each_start,
)
from tests.helpers import REPO, profile
from tests.test_profile_export import SCHEMA
from triton_user.requests.control import TritonControl

pytestmark = pytest.mark.server

DATA = Path(__file__).parent / "data"
MODEL = "decoupled_stream"
RESPONSES = 10  # the model's response_count


def periodic(server, export: Path, rng: str, period: int, *more: str, model: str = MODEL):
    return profile(
        *("-m", model, "-u", server.grpc_url, "-i", "grpc", "--streaming"),
        *("--periodic-concurrency-range", rng, "--request-period", str(period)),
        *("--profile-export-file", str(export), *more),
    )


def requests_of(path: Path) -> list[list[int]]:
    """Each request's start and response times, in the order they started; the file is
    checked against perf_analyzer's schema and its one experiment on the way."""
    data = json.loads(path.read_text())
    jsonschema.Draft202012Validator(SCHEMA).validate(data)
    [experiment] = data["experiments"]
    assert experiment["experiment"] == {"mode": "concurrency", "value": 1}
    assert experiment["window_boundaries"] == [0, 2**64 - 1]
    requests = sorted(experiment["requests"], key=lambda r: r["timestamp"])
    return [[r["timestamp"], *r["response_timestamps"]] for r in requests]


def in_flight_at_steps(rng: PeriodicRange, times: list[list[int]]) -> list[int]:
    """How many requests were in flight just after each step's last request started."""
    in_flight = in_flight_after_each_start([t[0] for t in times], [t[-1] for t in times])
    batches = batch_of_each(rng)
    last = [i for i in range(len(times)) if i + 1 == len(times) or batches[i + 1] != batches[i]]
    return [in_flight[i] for i in last]


def inferences(server) -> int:
    control = TritonControl(server.http_url)
    try:
        return control.stats(MODEL).inference_count
    finally:
        control.close()


def test_the_concurrency_rises_as_perf_analyzers_does(triton_server, tmp_path):
    export = tmp_path / "periodic.json"
    before = inferences(triton_server)
    run = periodic(triton_server, export, "1:4:1", 1)
    assert run.returncode == 0, run.stderr
    assert inferences(triton_server) - before == 4  # END sent in all, each once
    ours = requests_of(export)
    pa = requests_of(DATA / "pa_periodic.json")  # the same flags, perf_analyzer 2.51
    rng = PeriodicRange(1, 4, 1, request_period=1)
    for times in (ours, pa):
        assert check_schedule(rng, times) is None
        assert [len(t) - 1 for t in times] == [RESPONSES] * 4
        # A request lasts 10 gaps and a step comes at each first response: the first is
        # still streaming when the fourth goes out (12 ms or more to spare in both runs).
        assert in_flight_at_steps(rng, times) == [1, 2, 3, 4]
    # Each step went out at the response that completed the period of the one before.
    for earlier, later in zip(ours, ours[1:], strict=False):
        assert 0 <= later[0] - earlier[1] < 0.1e9
    # perf_analyzer's console for this mode: its settings block, then nothing of its own.
    pa_block = (DATA / "pa_periodic.stdout").read_text()
    assert run.stdout[: len(pa_block)] == pa_block
    assert "in flight as each step went out: 1, 2, 3, 4" in run.stdout
    assert str(export) in run.stdout


def test_end_is_the_total_sent_even_when_start_is_above_step(triton_server, tmp_path):
    # perf_analyzer 2.51 sends 7 requests for 3:5:1 (it counts STEP per step against END,
    # leaving START out) and exports the 5 that finished first; we send the 5 it documents.
    export = tmp_path / "periodic.json"
    before = inferences(triton_server)
    run = periodic(triton_server, export, "3:5:1", 1)
    assert run.returncode == 0, run.stderr
    assert inferences(triton_server) - before == 5
    times = requests_of(export)
    rng = PeriodicRange(3, 5, 1, request_period=1)
    assert check_schedule(rng, times) is None


def test_a_model_that_is_not_decoupled_has_one_response_a_request(triton_server, tmp_path):
    export = tmp_path / "periodic.json"
    run = periodic(triton_server, export, "2:6:2", 1, model="identity_fp32")
    assert run.returncode == 0, run.stderr
    assert "Detected decoupled model" not in run.stdout
    times = requests_of(export)
    assert check_schedule(PeriodicRange(2, 6, 2, request_period=1), times) is None
    assert [len(t) for t in times] == [2] * 6


def test_a_final_response_before_the_period_is_perf_analyzers_error(triton_server, tmp_path):
    # perf_analyzer aborts (SIGABRT, no export); we say it in one line and keep the file.
    export = tmp_path / "periodic.json"
    run = periodic(triton_server, export, "1:2:1", RESPONSES + 1)
    assert run.returncode == 3, run.stderr
    [line] = run.stderr.strip().splitlines()
    assert line.endswith(EARLY_FINAL) and "request 1 ended after 10 responses" in line
    assert requests_of(export) == []


def test_ctrl_c_keeps_the_requests_that_finished(triton_server, tmp_path):
    export = tmp_path / "periodic.json"
    args = ["-m", MODEL, "-u", triton_server.grpc_url, "-i", "grpc", "--streaming"]
    args += ["--periodic-concurrency-range", "1:2000:1", "--request-period", "10"]
    process = subprocess.Popen(
        [sys.executable, "-m", "triton_locust.cli", "profile", *args]
        + ["--profile-export-file", str(export)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:  # the settings block is printed as the first go out
            if "Detected decoupled model" in line:
                break
        time.sleep(1.0)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, err
    [line] = err.strip().splitlines()
    assert "interrupted" in line
    times = requests_of(export)
    assert 0 < len(times) < 2000
    assert f"exit code 130 (the export holds the {len(times)} requests that finished)" in line
    assert all(len(t) - 1 == RESPONSES for t in times)
    # Those that finished are the first sent, one after another (one step each).
    for earlier, later in zip(times, times[1:], strict=False):
        assert later[0] >= earlier[10]
