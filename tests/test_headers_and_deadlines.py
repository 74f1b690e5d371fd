"""Issue 12: -H values cannot inject headers, and gRPC metadata keys are lower-case."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from analysis.settings import parse_headers
from tests.helpers import REPO, load_levels, profile, wait_for_window
from triton_locust.server import TritonServer, free_ports


@pytest.mark.parametrize(
    "value",
    [
        "X-A:b\r\nX-Evil: 1",
        "X-A:b\nX-Evil: 1",
        "X-A:b\rc",
        "X-A:b\x00c",
        "X-A:b\x7fc",
        "X-A:caf\u00e9",
        "bad name:x",
        "X-A\r\nX-Evil:x",
        "(x):y",
        "na\u00efve:y",
    ],
)
def test_header_injection_is_refused_in_one_line_naming_the_flag(value):
    with pytest.raises(ValueError) as caught:
        parse_headers([value])
    message = str(caught.value)
    assert message.startswith("-H")
    assert "\n" not in message and "\r" not in message


def test_header_errors_never_echo_the_value():
    for value in ["Authorization:Bearer SECRET\r\nX: 1", "Authorization SECRET"]:
        with pytest.raises(ValueError) as caught:
            parse_headers([value])
        assert "SECRET" not in str(caught.value)
    with pytest.raises(ValueError) as caught:
        parse_headers(["Authorization:Bearer SECRET\n"])
    assert "Authorization" in str(caught.value)


def test_valid_headers_still_pass():
    assert parse_headers(["Authorization: Bearer a.b-c_d~e/f+g=", "X-T:\ta b\t"]) == {
        "Authorization": "Bearer a.b-c_d~e/f+g=",
        "X-T": "a b",
    }
    assert parse_headers(["x!#$%&'*+-.^_`|~1:v:w"]) == {"x!#$%&'*+-.^_`|~1": "v:w"}


@pytest.mark.server
def test_grpc_sweep_with_an_uppercase_header_runs(triton_server, tmp_path):
    """grpcio refuses metadata keys with capitals ("Invalid metadata"): the control plane
    must lower-case them, as the wire client does."""
    out_json = tmp_path / "perf.json"
    run = profile(
        "-m", "identity_fp32", "-u", triton_server.grpc_url, "-i", "grpc",
        "-H", "Authorization:Bearer x", "-p", "300", "-r", "4",
        "--json", str(out_json),
    )  # fmt: skip
    assert run.returncode in (0, 1), run.stderr
    assert "Invalid metadata" not in run.stderr
    assert load_levels(out_json)[0]["merged"]["request_count"] > 0


def _sweep(server, tmp_path, name: str) -> tuple[subprocess.Popen[str], Path]:
    out_json = tmp_path / f"{name}.json"
    sweep = subprocess.Popen(
        [
            sys.executable, "-m", "triton_locust.cli", "profile", "-m", "identity_fp32",
            "-u", server.grpc_url, "-i", "grpc", "--concurrency-range", "1:2",
            "-p", "500", "-r", "5", "-s", "1000", "-v", "--request-timeout-ms", "1000",
            "--json", str(out_json),
        ],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip
    return sweep, out_json


@pytest.mark.server
def test_a_grpc_server_stopped_for_good_ends_the_sweep_with_exit_3_and_its_results(tmp_path):
    """SIGSTOP the server mid-level and never resume it: the requests time out (1 s) and
    the statistics poll's gRPC deadline ends the sweep with exit 3, results kept.

    A stall that ends is tests/test_server_faults.py's, over HTTP only: resuming Triton
    2.51 right after gRPC deadlines cancelled its requests can crash it (SIGSEGV; server
    issue 7368, whose fix, PR 7840, came after 2.51), which is not the fault under test."""
    with TritonServer(*free_ports(3)) as server:
        pid = server._process.pid
        sweep, out_json = _sweep(server, tmp_path, "dead")
        try:
            wait_for_window(sweep, 1)
            os.kill(pid, signal.SIGSTOP)
            began = time.monotonic()
            out, err = sweep.communicate(timeout=30)
        finally:
            sweep.kill()
            os.kill(pid, signal.SIGKILL)
        assert time.monotonic() - began < 20
        assert sweep.returncode == 3, err
        assert "Traceback" not in err, err
        result = json.loads(out_json.read_text())
        assert result["stop_reason"].startswith("error: server statistics unavailable")
        assert result["levels"] and result["levels"][0]["windows"]  # what it measured is kept
