"""The histogram wire format carries a version: a worker of another version is refused when it
connects, with one line naming both, and a payload of another version is never merged."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from types import SimpleNamespace
from typing import Any

import gevent
import gevent.pool
import numpy as np
import pytest
from locust.rpc.protocol import Message

from analysis.distribution import WIRE_VERSION, LatencyHistogram, WireVersionError
from analysis.window import WindowSample
from tests.helpers import REPO
from triton_locust.server import free_ports
from triton_user.sweep.window_channel import (
    HELLO,
    REFUSED,
    WELCOME,
    WINDOW,
    MasterSamples,
    VersionGate,
    sample_to_wire,
)


def test_a_histogram_carries_its_wire_version():
    hist = LatencyHistogram.of(np.array([1_000, 2_000, 3_000]))
    wire = hist.to_wire()
    assert wire["version"] == WIRE_VERSION
    assert LatencyHistogram.from_wire(wire).percentile_ns(50) == hist.percentile_ns(50)


@pytest.mark.parametrize("version", [WIRE_VERSION + 1, None])
def test_a_histogram_of_another_version_is_refused_with_both_versions(version):
    wire = {**LatencyHistogram.of(np.array([1_000])).to_wire(), "version": version}
    if version is None:
        del wire["version"]  # a release before versions
    with pytest.raises(WireVersionError) as caught:
        LatencyHistogram.from_wire(wire)
    theirs = "none" if version is None else version
    assert str(caught.value) == (
        f"a histogram has histogram wire version {theirs}, this side's is {WIRE_VERSION}"
    )


# The master's side, over a stand-in for Locust's MasterRunner --------------------------------
class FakeMaster:
    """What VersionGate and MasterSamples use of Locust's MasterRunner; `hear` delivers a
    worker's message as Locust's client_listener does."""

    def __init__(self, *worker_ids: str) -> None:
        self.clients = _Clients({w: SimpleNamespace(id=w) for w in worker_ids})
        self.custom_messages: dict[str, Any] = {}
        self.sent: list[tuple[str, Any, str | None]] = []
        self.greenlet = gevent.pool.Group()
        self._users_dispatcher = None
        self.state = "ready"

    def register_message(self, msg_type: str, listener: Any) -> None:
        self.custom_messages[msg_type] = listener

    def send_message(self, msg_type: str, data: Any = None, client_id: str | None = None) -> None:
        self.sent.append((msg_type, data, client_id))

    def hear(self, msg_type: str, data: Any, worker: str) -> None:
        self.custom_messages[msg_type](environment=None, msg=Message(msg_type, data, worker))


class _Clients(dict):
    missing: list[Any] = []


def master_environment(*worker_ids: str) -> SimpleNamespace:
    total = SimpleNamespace(num_requests=0, num_failures=0)
    return SimpleNamespace(runner=FakeMaster(*worker_ids), stats=SimpleNamespace(total=total))


def test_a_worker_of_this_version_is_admitted_and_welcomed():
    environment = master_environment("w1")
    gate = VersionGate.of(environment)  # type: ignore[arg-type]
    environment.runner.hear(HELLO, {"wire_version": WIRE_VERSION}, "w1")
    assert gate.admitted_count() == 1
    assert environment.runner.sent == [(WELCOME, {"wire_version": WIRE_VERSION}, "w1")]
    environment.runner.greenlet.kill()


def test_a_worker_of_another_version_is_refused_with_one_line(caplog):
    environment = master_environment("w1")
    gate = VersionGate.of(environment)  # type: ignore[arg-type]
    with caplog.at_level(logging.ERROR):
        environment.runner.hear(HELLO, {"wire_version": WIRE_VERSION + 1}, "w1")
    line = f"refused worker w1: its histogram wire version is {WIRE_VERSION + 1}, "
    line += f"this master's is {WIRE_VERSION}"
    assert caplog.messages == [line]
    assert environment.runner.sent == [(REFUSED, {"line": line}, "w1"), ("quit", None, "w1")]
    assert "w1" not in environment.runner.clients and gate.admitted_count() == 0
    environment.runner.greenlet.kill()


def test_a_worker_that_never_says_its_version_is_refused(caplog):
    environment = master_environment("old")
    VersionGate(environment, hello_timeout_s=0.2)  # type: ignore[arg-type]
    with caplog.at_level(logging.ERROR):
        gevent.sleep(0.5)
    assert caplog.messages == [
        f"refused worker old: its histogram wire version is none, this master's is {WIRE_VERSION}"
    ]
    assert "old" not in environment.runner.clients
    environment.runner.greenlet.kill()


def test_a_window_reply_of_another_version_is_never_merged(caplog):
    environment = master_environment("good", "bad")
    VersionGate.of(environment)  # type: ignore[arg-type]
    samples = MasterSamples(environment, reply_timeout_s=2.0)  # type: ignore[arg-type]
    samples.end_window()
    sample = sample_to_wire(WindowSample(LatencyHistogram.of(np.array([5_000, 6_000]))))
    reply = {"id": 1, "wire_version": WIRE_VERSION, "sample": sample}
    bad_sample = {**sample, "latencies": {**sample["latencies"], "version": WIRE_VERSION + 1}}
    with caplog.at_level(logging.ERROR):
        environment.runner.hear(WINDOW, reply, "good")
        environment.runner.hear(WINDOW, {**reply, "sample": bad_sample}, "bad")
        started = time.monotonic()
        window = samples.cut(0, 1)
    assert time.monotonic() - started < 1.0  # not waited for: it answered
    assert window.latencies.count == 2 and window.missing_workers == 1
    assert caplog.messages[0] == (
        f"a histogram has histogram wire version {WIRE_VERSION + 1}, this side's is "
        f"{WIRE_VERSION}: not merged"
    )
    assert "bad" not in environment.runner.clients
    environment.runner.greenlet.kill()


# Real processes: a Locust master and a worker of the next release ---------------------------
NEXT_RELEASE_WORKER = """
import sys
import analysis.distribution
analysis.distribution.WIRE_VERSION += 1
from triton_locust.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.server  # real processes (no Triton): with the slow tests
def test_a_worker_of_another_version_is_refused_when_it_connects():
    port = free_ports(1)[0]
    master = subprocess.Popen(
        [sys.executable, "-m", "locust", "-f", "locustfiles/triton_sweep.py", "--master"]
        + ["--headless", "--expect-workers", "1", "--master-bind-host", "127.0.0.1"]
        + ["--master-bind-port", str(port), "--model", "identity_fp32"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        worker = subprocess.run(
            [sys.executable, "-c", NEXT_RELEASE_WORKER, "worker", "--master-port", str(port)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        master.send_signal(signal.SIGTERM)
        master_out, master_err = master.communicate(timeout=30)
    line = f"its histogram wire version is {WIRE_VERSION + 1}, this master's is {WIRE_VERSION}"
    assert worker.returncode == 1, worker.stderr
    assert [ln for ln in worker.stderr.splitlines() if "refused" in ln][0].endswith(line)
    refusals = [ln for ln in master_err.splitlines() if "refused worker" in ln]
    assert len(refusals) == 1 and refusals[0].endswith(line), master_err[-3000:]
    assert "Traceback" not in worker.stderr + master_err
