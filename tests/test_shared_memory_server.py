"""--shared-memory system against the real embedded server (on this machine, so that it maps
our regions): the requests it served are those the client counted, the outputs are in the
output regions and not in the responses, and after a run, whether it ends normally, on
Ctrl-C, on SIGTERM or failing, no region of ours is left in /dev/shm or registered with
the server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as httpclient

from analysis.settings import SweepSettings
from tests.helpers import REPO, load_levels, wait_for_window
from tests.test_profile_e2e import assert_counts_match_server
from triton_user.requests.control import TritonControl
from triton_user.requests.shared_memory import process_prefix
from triton_user.sweep.preflight import preflight, release

pytestmark = pytest.mark.server

FAST = ["-p", "300", "-r", "6"]


def in_dev_shm(prefix: str) -> list[str]:
    return sorted(n for n in os.listdir("/dev/shm") if n.startswith(prefix))


def registered(server, prefix: str) -> list[str]:
    control = TritonControl(server.http_url)
    try:
        return [n for n in control.system_shared_memory_regions() if n.startswith(prefix)]
    finally:
        control.close()


def assert_nothing_left(server, prefix: str) -> None:
    assert in_dev_shm(prefix) == []
    assert registered(server, prefix) == []


def start_profile(*args: str, log: Path) -> subprocess.Popen[str]:
    """`triton-locust profile ARGS` in a process of its own, its output in `log`."""
    out = log.open("w")
    return subprocess.Popen(
        [sys.executable, "-m", "triton_locust.cli", "profile", *args],
        stdout=out,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
    )


def watch(server, process: subprocess.Popen[str], timeout_s: float = 300) -> set[str]:
    """Wait for the process to end; the regions of its it saw registered meanwhile."""
    prefix, seen = process_prefix(process.pid), set()
    deadline = time.monotonic() + timeout_s
    while process.poll() is None:
        assert time.monotonic() < deadline, "the sweep did not end"
        seen |= set(registered(server, prefix))
        time.sleep(0.2)
    return seen


def url(server, protocol: str) -> str:
    return server.grpc_url if protocol == "grpc" else server.http_url


def write_steps(tmp_path: Path, steps: list[dict], name: str = "data.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps({"data": steps}))
    return str(path)


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_a_sweep_counts_what_the_server_served_and_leaves_nothing(
    triton_server, tmp_path, protocol
):
    """HTTP sends the steps of a data file (a region per step), gRPC random data."""
    steps = [{"INPUT0": [float(k + i) for i in range(16)]} for k in range(3)]
    data = ["--input-data", write_steps(tmp_path, steps)] if protocol == "http" else []
    out_json, log = tmp_path / "perf.json", tmp_path / "profile.log"
    process = start_profile(
        "-m", "identity_fp32", "-u", url(triton_server, protocol), "-i", protocol,
        "--shared-memory", "system", "--concurrency-range", "1:2", *FAST, *data,
        "--json", str(out_json), log=log,
    )  # fmt: skip
    seen = watch(triton_server, process)
    output = log.read_text()
    assert process.returncode in (0, 1), output  # 1: a level unstable on a busy machine
    prefix = process_prefix(process.pid)
    # Registered before the load: an input per request of data and the output, as
    # perf_analyzer names them (stream 0, the request's first step).
    inputs = [f"INPUT0_0_{k}" for k in range(3)] if protocol == "http" else ["INPUT0_0_0"]
    assert {n.split("_", 4)[-1] for n in seen} == {*inputs, "OUTPUT0"}
    assert_counts_match_server(load_levels(out_json), protocol=protocol)
    assert_nothing_left(triton_server, prefix)
    if protocol == "http":  # perf_analyzer's line, before its settings block
        read = " Successfully read data for 1 stream/streams with 3 step/steps.\n"
        assert output.startswith(read)
        assert output.index("Successfully read data") < output.index("*** Measurement Settings")
    settings = json.loads(out_json.read_text())["settings"]
    assert settings["shared_memory"] == "system"
    assert settings["output_shared_memory_size"] == 102400


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_identity_answers_in_the_output_region_not_in_the_response(
    triton_server, tmp_path, protocol
):
    steps = [np.arange(16, dtype=np.float32) * (k + 1) - k for k in range(3)]
    path = write_steps(tmp_path, [{"INPUT0": s.tolist()} for s in steps])
    settings = SweepSettings(
        model="identity_fp32",
        url=url(triton_server, protocol),
        protocol=protocol,
        input_data="file",
        input_files=[path],
        shared_memory="system",
    )
    ready = preflight(settings)
    plan, regions = ready.plan, ready.plan.regions
    assert regions is not None
    try:
        assert sorted(registered(triton_server, regions.prefix)) == sorted(regions.names)
        client = plan.new_client()
        for step, payload in zip(steps, plan.payloads, strict=True):
            timing = client.infer(payload)
            assert timing.error is None
            assert regions.read(plan.output_regions["OUTPUT0"]) == step.tobytes()
            assert client.last_outputs()["OUTPUT0"] == b""  # nothing came back in it
        client.close()
    finally:
        release(regions)
        ready.control.close()
    assert_nothing_left(triton_server, regions.prefix)


def test_output_regions_hold_a_batch_as_perf_analyzer_sizes_them(triton_server, tmp_path):
    """input_check, -b 2: COUNT (INT32 [1]) and SUM (FP64 [1]) are sized by their dims,
    TEXT_OUT (BYTES) by --output-shared-memory-size per batch element; each input's region
    holds its batch."""
    texts = ["1,2", "3,4.5"]
    steps = [{"INPUT0": [float(v) for v in t.split(",")], "TEXT": [t]} for t in texts]
    settings = SweepSettings(
        model="input_check",
        url=triton_server.http_url,
        batch_size=2,
        input_data="file",
        input_files=[write_steps(tmp_path, steps)],
        shapes={"INPUT0": [2]},
        shared_memory="system",
        output_shared_memory_size=1000,
    )
    ready = preflight(settings)
    plan, regions = ready.plan, ready.plan.regions
    assert regions is not None
    status = httpclient.InferenceServerClient(triton_server.http_url)
    try:
        sizes = {
            r["name"][len(regions.prefix) :]: int(r["byte_size"])
            for r in status.get_system_shared_memory_status()
            if r["name"].startswith(regions.prefix)
        }
        assert sizes == {
            "COUNT": 4 * 2,
            "SUM": 8 * 2,
            "TEXT_OUT": 1000 * 2,
            "INPUT0_0_0": 4 * 2 * 2,
            "TEXT_0_0": sum(4 + len(t) for t in texts),
        }
        client = plan.new_client()
        [payload] = plan.payloads
        assert client.infer(payload).error is None
        client.close()
        out = plan.output_regions
        assert np.frombuffer(regions.read(out["COUNT"]), "<i4").tolist() == [2, 2]
        assert np.frombuffer(regions.read(out["SUM"]), "<f8").tolist() == [3.0, 7.5]
        text_out = regions.read(out["TEXT_OUT"], 4 + 3 + 4 + 5)
        assert text_out == b"".join(len(t).to_bytes(4, "little") + t.encode() for t in texts)
    finally:
        status.close()
        release(regions)
        ready.control.close()
    assert_nothing_left(triton_server, regions.prefix)


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM])
def test_nothing_is_left_after_ctrl_c_or_sigterm_mid_sweep(triton_server, tmp_path, how):
    process = subprocess.Popen(
        [
            sys.executable, "-m", "triton_locust.cli", "profile", "-m", "sleep_5ms",
            "-u", triton_server.http_url, "--shared-memory", "system",
            "--concurrency-range", "1:8", "-p", "300", "-r", "20", "-v",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
    )  # fmt: skip
    prefix = process_prefix(process.pid)
    try:
        wait_for_window(process, 2)
        assert in_dev_shm(prefix) and registered(triton_server, prefix)  # in use now
        process.send_signal(how)
        rest, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, rest
    assert "Traceback" not in rest
    assert_nothing_left(triton_server, prefix)


def test_nothing_is_left_after_a_run_whose_requests_fail(triton_server, tmp_path):
    """dynamic_identity's OUTPUT0 has no fixed size: 16 bytes cannot hold 64 floats, and
    the server refuses every request."""
    log = tmp_path / "profile.log"
    process = start_profile(
        "-m", "dynamic_identity", "-u", triton_server.http_url, "--shape", "INPUT0:64",
        "--shared-memory", "system", "--output-shared-memory-size", "16", *FAST, log=log,
    )  # fmt: skip
    seen = watch(triton_server, process)
    output = log.read_text()
    assert process.returncode == 4, output
    assert "should be at least 256 bytes" in output
    assert {n.split("_", 4)[-1] for n in seen} == {"INPUT0_0_0", "OUTPUT0"}
    assert_nothing_left(triton_server, process_prefix(process.pid))


def test_nothing_is_left_when_a_check_after_the_regions_refuses_the_run(triton_server, tmp_path):
    """The metrics endpoint is checked once the regions exist: its refusal removes them."""
    log = tmp_path / "profile.log"
    process = start_profile(
        "-m", "identity_fp32", "-u", triton_server.http_url, "--shared-memory", "system",
        "--collect-metrics", "--metrics-url", "127.0.0.1:9/metrics", *FAST, log=log,
    )  # fmt: skip
    watch(triton_server, process)
    output = log.read_text()
    assert process.returncode == 2, output
    assert len(output.strip().splitlines()) == 1 and "Traceback" not in output
    assert_nothing_left(triton_server, process_prefix(process.pid))
