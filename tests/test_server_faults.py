"""Issue 12's fault tests against the real Triton server, each of its own: a server stalled
(SIGSTOP) mid-level, a server killed and started again on the same ports, a server killed
for good, a sweep killed with SIGKILL, and a bad link between the load and the server (a
delay, resets, stalls) made by a user-space relay in a network namespace, since this
kernel has no netem. Whatever happens, the sweep ends within a bounded time, counts what
failed, keeps what it measured and says so in its exit code and JSON; nothing hangs.

(The master killed under its workers is tests/test_process_faults.py's.)"""

from __future__ import annotations

import json
import math
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import netns
from tests.helpers import REPO
from triton_locust.server import TritonServer, free_ports

pytestmark = pytest.mark.server

ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}
TIMEOUT_MS = 500  # --request-timeout-ms: a stalled request fails as a timeout this soon
# A sweep this quick (windows of 1.2 s) ends well within this once its fault is over.
SWEEP_END_S = 60


class Sweep:
    """`triton-locust profile ARGS -v` in a process of its own, its output read on a thread,
    so that a test waits for a line with a deadline instead of hanging on one never printed."""

    def __init__(self, *args: str, json_path: Path) -> None:
        self.json_path = json_path
        command = [sys.executable, "-m", "triton_locust.cli", "profile", *args, "-v"]
        self.process = subprocess.Popen(
            [*command, "--json", str(json_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=REPO,
            env=ENV,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, *texts: str, timeout: float = 60) -> None:
        """Until each text has been printed, in this order."""
        deadline = time.monotonic() + timeout
        for text in texts:
            while True:
                try:
                    line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    line = None
                if line is None:
                    pytest.fail(f"{text!r} never came:\n{self.output[-3000:]}")
                self.lines.append(line)
                if text in line:
                    break

    def finish(self, timeout: float = SWEEP_END_S) -> int:
        """The exit code; a sweep still running after `timeout` has hung: a failure."""
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            pytest.fail(f"the sweep still ran {timeout:.0f} s on:\n{self.output[-3000:]}")
        while (line := self._queue.get(timeout=10)) is not None:
            self.lines.append(line)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    @property
    def output(self) -> str:
        return "".join(self.lines)

    @property
    def result(self) -> dict:
        return json.loads(self.json_path.read_text())


def errors(level: dict) -> list[int]:
    return [w["error_count"] for w in level["windows"]]


@contextmanager
def started_server() -> Iterator[TritonServer]:
    server = TritonServer(*free_ports(3))
    server.start()
    try:
        yield server
    finally:
        if server.running:
            os.kill(pid(server), signal.SIGCONT)
        server.stop()
        forget_log(server)


def forget_log(server: TritonServer) -> None:
    """The log the launcher keeps of a server that died: here, one the test killed."""
    if server.kept_log is not None:
        server.kept_log.unlink(missing_ok=True)


def ready(server: TritonServer) -> bool:
    try:
        with urllib.request.urlopen(f"http://{server.http_url}/v2/health/ready", timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def faulty_server() -> Iterator[TritonServer]:
    with started_server() as server:
        yield server


def running_and_ready(server: TritonServer) -> TritonServer:
    """The module's server, started again if an earlier test left it dead or not answering."""
    if not (server.running and ready(server)):
        if server.running:
            kill(server)
        server.stop()
        forget_log(server)
        server.start()
    return server


@pytest.fixture
def own_server(faulty_server) -> Iterator[TritonServer]:
    """A server of this module's own (not the session's), to stall or kill: each test
    gets it running and ready, and never leaves it stopped."""
    server = running_and_ready(faulty_server)
    try:
        yield server
    finally:
        if server.running:
            os.kill(pid(server), signal.SIGCONT)


def pid(server: TritonServer) -> int:
    return server._process.pid  # type: ignore[union-attr]


def kill(server: TritonServer) -> None:
    """SIGKILL, the Python backend's stub processes with it (they share its group); then
    remove the shared-memory regions they leave in /dev/shm (RAM), a megabyte each."""
    regions = shared_memory_of(pid(server))
    os.killpg(pid(server), signal.SIGKILL)
    server._process.wait()  # type: ignore[union-attr]
    for region in regions:
        region.unlink(missing_ok=True)


def shared_memory_of(root: int) -> set[Path]:
    """The Python backend's /dev/shm regions mapped by a process or its descendants."""
    found, todo = set(), [root]
    while todo:
        p = todo.pop()
        try:
            maps = Path(f"/proc/{p}/maps").read_text()
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
        for line in maps.splitlines():
            path = line.split(maxsplit=5)[-1]
            if path.startswith("/dev/shm/triton_python_backend_shm_region_"):
                found.add(Path(path))
    return found


def url(server: TritonServer, protocol: str) -> str:
    return server.grpc_url if protocol == "grpc" else server.http_url


# -- a stalled server ------------------------------------------------------------------------


# HTTP only: gRPC's deadline on a silent server is tests/test_wire_faults.py's. Resuming
# Triton 2.51 just after gRPC deadlines cancelled its requests can crash it (SIGSEGV; server
# issue 7368, whose fix, PR 7840, came after 2.51): the server's fault, not the one tested.
def test_a_server_stalled_mid_level_gives_counted_timeouts_and_the_sweep_goes_on(
    own_server, tmp_path
):
    sweep = Sweep(
        *("-m", "sleep_5ms", "-u", own_server.http_url),
        *("--concurrency-range", "1:2", "-p", "1000", "-r", "8", "-s", "50"),
        *("--request-timeout-ms", str(TIMEOUT_MS)),
        json_path=tmp_path / "stall.json",
    )
    try:
        sweep.wait_for("Request concurrency: 2", "Pass [1]")
        # Only tritonserver itself: stopping its Python backend's stubs as well under load
        # makes Triton 2.51 crash on SIGCONT (a segfault in libtriton_python), which is
        # not the fault under test.
        os.kill(pid(own_server), signal.SIGSTOP)
        time.sleep(3)
        os.kill(pid(own_server), signal.SIGCONT)
        resumed = time.monotonic()
        code = sweep.finish()
    finally:
        sweep.kill()
    assert time.monotonic() - resumed < 30  # the level went on and ended, no hang
    assert "Traceback" not in sweep.output
    result = sweep.result
    assert result["stop_reason"] == "completed"
    first, stalled = result["levels"]
    assert (first["concurrency"], sum(errors(first))) == (1, 0)
    last = stalled["windows"][-1]
    assert last["request_count"] > 0 and last["error_count"] == 0  # the level went on
    failed = sum(errors(stalled))
    # Each of the 2 users timed out at least once, and at most once per 0.5 s of the stall
    # (and of the window that straddles it): timeouts, not a storm of failures.
    assert 2 <= failed <= 2 * (3 / (TIMEOUT_MS / 1000) + 4), errors(stalled)
    assert code == 4, sweep.output[-3000:]
    assert (
        f"exit code 4: {failed} requests failed (concurrency 2); the figures count only those "
        f"that succeeded; first error: timeout: no response within 0.5 s"
    ) in sweep.output
    assert f"[WARNING] Failed requests (errors, timeouts): {failed} in " in sweep.output


def test_a_server_stalled_for_good_ends_the_sweep_with_exit_3_and_keeps_its_levels(
    own_server, tmp_path
):
    sweep = Sweep(
        *("-m", "sleep_5ms", "-u", own_server.http_url),
        *("--concurrency-range", "1:2", "-p", "1000", "-r", "8", "-s", "50"),
        *("--request-timeout-ms", str(TIMEOUT_MS)),
        json_path=tmp_path / "stalled.json",
    )
    try:
        sweep.wait_for("Request concurrency: 2", "Pass [1]")
        os.kill(pid(own_server), signal.SIGSTOP)
        stopped = time.monotonic()
        # The statistics poll's deadline (10 s) ends the sweep: well within 30 s.
        code = sweep.finish(timeout=30)
    finally:
        sweep.kill()
    assert time.monotonic() - stopped < 30
    assert code == 3, sweep.output[-3000:]
    assert "Traceback" not in sweep.output
    result = sweep.result
    assert result["stop_reason"].startswith("error: server statistics unavailable")
    assert [(lvl["concurrency"], lvl["status"]) for lvl in result["levels"]] == [
        (1, "stable"),
        (2, "interrupted"),
    ]
    assert len(result["levels"][1]["windows"]) >= 1
    assert "exit code 3: the sweep stopped on an error: server statistics unavailable" in (
        sweep.output
    )


# -- a killed server -------------------------------------------------------------------------


@dataclass
class Restart:
    sweep: Sweep
    code: int
    down_s: float  # from the kill until the new server was ready


@pytest.fixture(scope="module", params=["http", "grpc"])
def restarted(request, faulty_server, tmp_path_factory) -> Restart:
    """A sweep whose server was killed in its second level and started again on the same
    ports (one run per protocol for the tests below).

    Windows of 300 requests (count_windows): while the server is down only failures come,
    at the clients' backoff (1 ms doubling to 1 s: ten tries in the first second, then one a
    second), so the window under way outlasts the restart whatever it takes. Without
    backoff they came at thousands a second: the window ended at once, on a server that was
    not there."""
    protocol, server = request.param, running_and_ready(faulty_server)
    sweep = Sweep(
        *("-m", "sleep_5ms", "-u", url(server, protocol), "-i", protocol),
        *("--concurrency-range", "1:2", "--measurement-mode", "count_windows"),
        *("--measurement-request-count", "300", "-r", "8", "-s", "50"),
        json_path=tmp_path_factory.mktemp("restart") / "restart.json",
    )
    try:
        sweep.wait_for("Request concurrency: 2", "Pass [1]")
        kill(server)
        killed = time.monotonic()
        server.stop()  # forgets the dead process
        forget_log(server)
        server.start()  # on the same ports
        down_s = time.monotonic() - killed
        code = sweep.finish()
    finally:
        sweep.kill()
    return Restart(sweep, code, down_s)


def test_a_server_killed_and_started_again_on_its_ports_mid_level(restarted):
    sweep = restarted.sweep
    assert "Traceback" not in sweep.output
    result = sweep.result
    assert result["stop_reason"] == "completed"
    first, level = result["levels"]
    assert (first["concurrency"], sum(errors(first))) == (1, 0)
    assert level["concurrency"] == 2 and level["status"] in ("stable", "unstable")
    failed = sum(errors(level))
    # Per user: the request in flight at the kill, ten tries in the first second, then one a
    # second (twice that, for a loaded machine).
    assert 2 <= failed <= 2 * (1 + 10 + 2 * restarted.down_s), (errors(level), restarted.down_s)
    assert restarted.code == 4, sweep.output[-3000:]
    assert f"exit code 4: {failed} requests failed (concurrency 2)" in sweep.output
    assert f"[WARNING] Failed requests (errors, timeouts): {failed} in " in sweep.output


def test_no_window_shows_server_figures_across_a_restart(restarted):
    """A restarted Triton counts from zero: the delta of its statistics over the window in
    which it restarted (new server's count minus the old one's) is no figure at all, and
    negative once the old server had served more than the new one has. Such a window must
    say it has no server figures, as a window of a server without statistics does."""
    [_, level] = restarted.sweep.result["levels"]
    # Before: the window of the restart had the server succeed -1178 times (HTTP).
    assert any(w["server"] is None for w in level["windows"])
    for w in level["windows"]:
        if w["server"] is not None:
            client, server = w["request_count"], w["server"]["success_count"]
            assert abs(client - server) <= 2 * 2 + 0.03 * client, (client, server)


@pytest.fixture(scope="module")
def killed_for_good(tmp_path_factory) -> Iterator[Sweep]:
    """A sweep whose server was killed, and not started again, in its second level (one
    run for the tests below)."""
    with started_server() as server:
        sweep = Sweep(
            *("-m", "sleep_5ms", "-u", server.http_url, "--concurrency-range", "1:3"),
            *("-p", "1000", "-r", "8", "-s", "50"),
            json_path=tmp_path_factory.mktemp("killed") / "killed.json",
        )
        try:
            sweep.wait_for("Request concurrency: 2", "Pass [1]")
            kill(server)
            sweep.code = sweep.finish()  # type: ignore[attr-defined]
        finally:
            sweep.kill()
        yield sweep


def test_a_server_killed_for_good_ends_the_sweep_with_exit_3_and_keeps_its_levels(
    killed_for_good,
):
    sweep = killed_for_good
    assert sweep.code == 3, sweep.output[-3000:]  # type: ignore[attr-defined]
    assert "Traceback" not in sweep.output
    result = sweep.result
    assert result["stop_reason"].startswith("error: server statistics unavailable")
    first, cut = result["levels"]
    assert (first["concurrency"], first["status"]) == (1, "stable")
    assert (cut["concurrency"], cut["status"]) == (2, "interrupted")
    assert len(cut["windows"]) >= 1
    assert "Interrupted after" in sweep.output and "marked interrupted" in sweep.output


def test_the_requests_that_failed_when_the_server_died_are_counted(killed_for_good):
    """The window under way when the server died is dropped with everything in it (the
    driver raises on its statistics poll before keeping the window): the requests that
    failed in it, the only evidence of the failures, are counted nowhere."""
    cut = killed_for_good.result["levels"][1]
    assert sum(errors(cut)) > 0, cut["windows"]


# -- our own run killed ----------------------------------------------------------------------


def test_a_sweep_killed_with_sigkill_leaves_a_json_that_says_running(triton_server, tmp_path):
    """tests/test_results_truth.py checks what the JSON says after each level of a synthetic
    sweep; this kills a real one."""
    sweep = Sweep(
        *("-m", "sleep_5ms", "-u", triton_server.http_url, "--concurrency-range", "1:3"),
        *("-p", "300", "-r", "8"),
        json_path=tmp_path / "sigkill.json",
    )
    try:
        sweep.wait_for("Request concurrency: 2", "Pass [1]")
        sweep.process.kill()
        assert sweep.finish() == -signal.SIGKILL
    finally:
        sweep.kill()
    result = sweep.result
    assert result["stop_reason"] == "running"  # not "completed": it never finished
    assert [lvl["concurrency"] for lvl in result["levels"]] == [1]


# -- a bad link: delay, resets, stalls -------------------------------------------------------

# The client (cl), the relay standing for the link (px) and the server (srv), each a host.
LINK_HOSTS = {"cl": 1, "px": 2, "srv": 3}
LINK_SUBNET = "10.231.8"
DELAY_MS = 25
# The relay's routes: its port, the server's port it relays to, and its fault.
ROUTES = {
    ("http", "clean"): (9000, 8000, "delay=0"),
    ("http", "delay"): (9001, 8000, f"delay={DELAY_MS}"),
    ("grpc", "clean"): (9010, 8001, "delay=0"),
    ("grpc", "delay"): (9011, 8001, f"delay={DELAY_MS}"),
    ("http", "resets"): (9002, 8000, "reset=0.005"),
    ("http", "stalls"): (9003, 8000, "stall=0.01"),
}


class Link:
    def __init__(self, net: netns.Network) -> None:
        self.net = net

    def sweep(self, protocol: str, fault: str, tmp_path: Path) -> tuple[int, dict, str, float]:
        """One level at concurrency 2 through the relay's route: exit code, its JSON level,
        output, and how long it ran (a hang fails)."""
        port = ROUTES[protocol, fault][0]
        out = tmp_path / f"{protocol}-{fault}.json"
        began = time.monotonic()
        run = self.net.run(
            "cl",
            *("profile", "-m", "sleep_5ms", "-u", f"{self.net.address('px')}:{port}"),
            *("-i", protocol, "--concurrency-range", "2", "-p", "1000", "-r", "4", "-s", "100"),
            *("--request-timeout-ms", str(TIMEOUT_MS), "--json", str(out)),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            output, _ = run.communicate(timeout=SWEEP_END_S)
        except subprocess.TimeoutExpired:
            run.kill()
            pytest.fail(f"a sweep through {fault} ({protocol}) still ran after {SWEEP_END_S} s")
        [level] = json.loads(out.read_text())["levels"]
        return run.returncode, level, output, time.monotonic() - began


@pytest.fixture(scope="module")
def link() -> Iterator[Link]:
    with netns.network(LINK_HOSTS, LINK_SUBNET) as net:
        processes = []
        try:
            server = ("serve", "--host", net.address("srv"))
            processes.append(net.run("srv", *server, stdout=subprocess.DEVNULL))
            net.wait_ready(f"{net.address('srv')}:8000", from_host="cl")
            routes = [":".join(map(str, r)) for r in ROUTES.values()]
            relay = net.python(
                "px",
                *("-m", "tests.tcp_relay", "--listen", net.address("px")),
                *("--target", net.address("srv"), *routes),
                stdout=subprocess.PIPE,
            )
            processes.append(relay)
            assert relay.stdout is not None and relay.stdout.readline().strip() == "ready"
            yield Link(net)
        finally:
            for p in processes:
                p.terminate()
            for p in processes:
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()


def server_avg_us(merged: dict) -> float:
    """The server's own average request latency over the level (queue, compute, ...)."""
    server = merged["server"]
    return server["success_ns"] / server["success_count"] / 1000


def assert_counts_match_server(level: dict, lead_s: float) -> None:
    """The client's count against the server's success delta over the same windows (see
    tests/test_profile_e2e.py): up to the requests in flight at an edge, plus those that
    complete while a statistics poll travels to the server (`lead_s`: the link's delay)."""
    merged = level["merged"]
    client, server = merged["request_count"], merged["server"]["success_count"]
    per_s = client / (merged["duration_ns"] / 1e9)
    allowed = 2 * level["concurrency"] + math.ceil(per_s * (lead_s + 0.03))
    assert client > 0 and abs(client - server) <= allowed, (client, server, allowed)


@pytest.mark.root
@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_a_delayed_link_adds_its_delay_to_the_client_latency_only(link, tmp_path, protocol):
    code, clean, _, _ = link.sweep(protocol, "clean", tmp_path)
    assert code in (0, 1)
    code, delayed, output, _ = link.sweep(protocol, "delay", tmp_path)
    assert code in (0, 1), output[-3000:]
    client_rise_us = delayed["merged"]["avg_latency_us"] - clean["merged"]["avg_latency_us"]
    # The delay is one way, once per request; the rest is a loaded machine's noise.
    assert DELAY_MS * 1000 * 0.9 <= client_rise_us <= (DELAY_MS + 5) * 1000, client_rise_us
    # Triton times a request from its last byte received: the link is not in its figures.
    server_rise_us = server_avg_us(delayed["merged"]) - server_avg_us(clean["merged"])
    assert abs(server_rise_us) < 2000, server_rise_us
    assert sum(errors(delayed)) == 0
    assert_counts_match_server(clean, 0)
    assert_counts_match_server(delayed, DELAY_MS / 1000)


@pytest.mark.root
@pytest.mark.parametrize(
    ("fault", "first_error"),
    [("resets", "Connection reset by peer"), ("stalls", "timeout: no response within 0.5 s")],
)
def test_a_lossy_link_gives_counted_errors_and_exit_4(link, tmp_path, fault, first_error):
    code, level, output, took = link.sweep("http", fault, tmp_path)
    assert code == 4, output[-3000:]
    assert "Traceback" not in output
    failed = sum(errors(level))
    assert failed > 0
    assert f"exit code 4: {failed} requests failed (concurrency 2)" in output
    assert first_error in output.splitlines()[-1]
    # The failed requests never reached the server (the relay dropped them): both count
    # the same successes.
    assert_counts_match_server(level, 0)
    assert took < 30
