"""Issue 12: our wire clients against a server that stalls or is gone. A stalled request
fails as a "timeout" within its deadline and its connection is reopened; a refused
connection is retried with backoff, not thousands of times a second."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from analysis.console import level_block
from analysis.exit_codes import EXIT_ERROR, EXIT_REQUESTS_FAILED, EXIT_UNSTABLE, exit_code
from analysis.records import Records
from analysis.results import LevelResult, SweepResult
from analysis.settings import SweepSettings
from analysis.stabiliser import Spread, Verdict
from analysis.window import merge, summarize
from tests.helpers import REPO
from triton_user.outputs.closing import exit_reason
from triton_user.wire.grpc_client import GrpcInferClient
from triton_user.wire.http_client import HttpInferClient
from triton_user.wire.sockets import Backoff
from triton_user.wire.timing import ErrorLog

PAYLOAD = b"POST /v2/models/m/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port whose kernel completes the handshake and takes bytes, and then nothing more:
    a stalled (SIGSTOPped) server as a client sees it."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(64)
        yield server.getsockname()[1]


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def new_client(protocol: str, port: int, timeout_s: float, client_io: str = "threads"):
    if protocol == "grpc":
        return GrpcInferClient(f"127.0.0.1:{port}", timeout_s=timeout_s, client_io=client_io)
    return HttpInferClient(f"127.0.0.1:{port}", timeout_s=timeout_s, client_io=client_io)


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_a_stalled_server_gives_timeouts_within_the_deadline(silent_port, protocol):
    client = new_client(protocol, silent_port, 0.1)
    for _ in range(2):  # the second request runs on a new connection
        began = time.monotonic()
        t = client.infer(PAYLOAD)
        took = time.monotonic() - began
        assert t.error is not None and t.error.startswith("timeout"), t.error
        assert 0.08 <= took < 1.0, took
        assert (client._sock if protocol == "http" else client._conn) is None  # closed
    client.close()


GEVENT_SCRIPT = """
from gevent import monkey; monkey.patch_all()
import time, sys
from tests.test_wire_faults import new_client, PAYLOAD
import gevent
def one(protocol):
    client = new_client(protocol, int(sys.argv[1]), 0.1, "gevent")
    began = time.monotonic()
    t = client.infer(PAYLOAD)
    return t.error, time.monotonic() - began
jobs = [gevent.spawn(one, p) for p in ("http", "grpc", "http", "grpc")]
gevent.joinall(jobs, timeout=5)
for job in jobs:
    error, took = job.value
    assert error.startswith("timeout"), error
    assert 0.08 <= took < 1.0, took
print("ok")
"""


def test_a_stalled_server_gives_timeouts_under_gevent(silent_port):
    run = subprocess.run(
        [sys.executable, "-c", GEVENT_SCRIPT, str(silent_port)],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO,
    )
    assert run.stdout.strip() == "ok", run.stderr


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_a_refused_connection_is_retried_with_backoff(closed_port, protocol):
    client = new_client(protocol, closed_port, 1.0)
    failures, began = 0, time.monotonic()
    while time.monotonic() - began < 0.5:
        t = client.infer(PAYLOAD)
        assert t.error is not None and "connection failed" in t.error
        failures += 1
    assert failures <= 15, failures  # 1, 2, 4, ... 256 ms: about nine tries in half a second


def test_backoff_doubles_to_its_cap_and_resets_on_success():
    backoff = Backoff("threads", first_s=0.001, cap_s=0.008)
    waits: list[float] = []
    backoff._sleep = waits.append
    for _ in range(6):
        backoff.failed()
    backoff.succeeded()
    backoff.failed()
    assert waits == [0.001, 0.002, 0.004, 0.008, 0.008, 0.008, 0.001]


def window(ok: int, failed: int = 0):
    rows = [(i * 1000, i * 1000 + 5_000_000, 100, 100, True) for i in range(ok)]
    rows += [(0, 1000, 0, 0, False)] * failed
    return summarize(Records.from_rows(rows), 0, 10**9, 1, None, None)


def level_with(windows, verdict=Verdict.STABLE) -> LevelResult:
    return LevelResult(1, verdict, windows, merge(windows[-3:], None), Spread(1.0, 1.0))


def test_failures_outside_the_reported_windows_are_said_too():
    """The stall's window is seldom among the last three: its failures must still show."""
    lvl = level_with([window(5, failed=40), window(50), window(50), window(50)])
    text = level_block(lvl, SweepSettings(model="m"))
    assert text.split("\n")[-1] == (
        "  [WARNING] Failed requests (errors, timeouts): 40 in 1 of 4 windows, 0 in the "
        "reported windows; not in the figures"
    )
    assert "Failed" not in level_block(level_with([window(50)] * 3), SweepSettings(model="m"))


def test_failed_requests_give_exit_code_4_with_the_first_error():
    settings = SweepSettings(model="m")
    clean = level_with([window(50)] * 3)
    unstable = level_with([window(50)] * 3, Verdict.UNSTABLE)
    failed = level_with([window(5, failed=2), window(50), window(50), window(50)])
    assert exit_code(SweepResult(settings, [clean])) == 0
    assert exit_code(SweepResult(settings, [unstable])) == EXIT_UNSTABLE
    assert exit_code(SweepResult(settings, [unstable, failed])) == EXIT_REQUESTS_FAILED
    errored = SweepResult(settings, [failed], stop_reason="error: server gone")
    assert exit_code(errored) == EXIT_ERROR
    ErrorLog.clear()
    ErrorLog.note("timeout: no response within 1 s")
    ErrorLog.note("later")
    reason = exit_reason(SweepResult(settings, [clean, failed]))
    assert reason == (
        "exit code 4: 2 requests failed (concurrency 1); the figures count only those that "
        "succeeded; first error: timeout: no response within 1 s"
    )
    ErrorLog.clear()
