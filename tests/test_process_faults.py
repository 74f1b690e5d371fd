"""Processes ended from outside, against the real server: a SIGTERM to `locust -f ...
--headless` ends the sweep cleanly, and workers whose master was killed stop their load."""

from __future__ import annotations

import ipaddress
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time

import pytest

from tests.helpers import REPO, wait_for_window
from triton_locust.server import TritonServer, free_ports

pytestmark = pytest.mark.server

LOCUSTFILE = "locustfiles/triton_sweep.py"
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


class Lines:
    """A process's output lines, read on a thread, so that a test can wait for one with a
    deadline instead of hanging on a process that never prints it."""

    def __init__(self, stream) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream) -> None:
        for line in stream:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, text: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
            if text in line:
                return
        raise AssertionError(f"{text!r} never came:\n" + "".join(self.seen[-40:]))


def test_sigterm_ends_a_headless_locust_sweep_cleanly(triton_server, tmp_path):
    out_json = tmp_path / "t.json"
    command = [sys.executable, "-m", "locust", "-f", LOCUSTFILE, "--headless"]
    command += ["--model", "sleep_5ms", "--triton-url", triton_server.http_url]
    command += ["--concurrency-range", "1:3", "--measurement-interval", "300"]
    command += ["--results-json", str(out_json)]
    run = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO, env=ENV
    )
    try:
        lines = Lines(run.stdout)
        lines.wait_for("Request concurrency: 2")
        time.sleep(0.5)  # a window or so into the second level
        run.send_signal(signal.SIGTERM)
        code = run.wait(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
    # Before: killed by the signal (-15), the JSON saying the sweep completed.
    assert code == 130, "".join(lines.seen[-40:])
    result = json.loads(out_json.read_text())
    assert result["stop_reason"] == "interrupted"
    levels = result["levels"]
    assert levels[0]["concurrency"] == 1 and levels[0]["status"] != "interrupted"
    assert levels[-1]["concurrency"] == 2 and levels[-1]["status"] == "interrupted"


def test_workers_stop_within_seconds_of_losing_their_master(triton_server, tmp_path):
    port = free_ports(1)[0]
    master = [sys.executable, "-m", "triton_locust.cli", "profile", "-m", "sleep_5ms"]
    master += ["-u", triton_server.http_url, "--concurrency-range", "4", "-p", "1000"]
    master += ["-r", "30", "-v", "--json", str(tmp_path / "m.json"), "--master"]
    master += ["--expect-workers", "1", "--master-bind-host", "127.0.0.1"]
    master += ["--master-bind-port", str(port)]
    profile = subprocess.Popen(
        master, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO, env=ENV
    )
    worker_command = [sys.executable, "-m", "triton_locust.cli", "worker"]
    worker_command += ["--master-port", str(port), "--loglevel", "INFO"]
    worker = subprocess.Popen(
        worker_command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
        env=ENV,
    )
    try:
        wait_for_window(profile, 1)  # the worker is sending load, mid-level
        profile.kill()
        profile.wait(timeout=10)
        killed = time.monotonic()
        # Before: the worker went on sending load, reconnecting forever.
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pytest.fail("the worker still runs 10 s after its master was killed")
        assert time.monotonic() - killed < 10
        output = worker.stdout.read()
        assert "lost the connection to the master" in output, output[-3000:]
    finally:
        for p in (profile, worker):
            if p.poll() is None:
                p.kill()


def listening_addresses(port: int) -> set[str]:
    """The local addresses bound to a TCP port in LISTEN state, from /proc/net/tcp{,6}."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            local, state = row.split()[1], row.split()[3]
            address, hex_port = local.split(":")
            if state != "0A" or int(hex_port, 16) != port:
                continue
            raw = bytes.fromhex(address)
            # The kernel prints each 32-bit word in host (little-endian) order.
            words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            ip = ipaddress.ip_address(words)
            found.add(str(getattr(ip, "ipv4_mapped", None) or ip))  # gRPC binds ::ffff:a.b.c.d
    return found


def test_serve_listens_on_loopback_only_unless_told(tmp_path):
    ports = free_ports(3)
    command = [sys.executable, "-m", "triton_locust.cli", "serve", "--http-port", str(ports[0])]
    command += ["--grpc-port", str(ports[1]), "--metrics-port", str(ports[2])]
    serve = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO, env=ENV
    )
    try:
        lines = Lines(serve.stdout)
        lines.wait_for("Ctrl-C to stop.")
        printed = "".join(lines.seen)
        assert f"HTTP     127.0.0.1:{ports[0]}" in printed
        # Before: tritonserver's default, 0.0.0.0 (and :: for gRPC), behind a 127.0.0.1 line.
        for port in ports:
            assert listening_addresses(port) == {"127.0.0.1"}, port
        serve.send_signal(signal.SIGINT)
        assert serve.wait(timeout=60) == 0
    finally:
        if serve.poll() is None:
            serve.kill()


def test_the_launcher_passes_the_address_it_is_given():
    server = TritonServer(*free_ports(3), host="10.1.2.3")
    assert server.http_url.startswith("10.1.2.3:")
    assert TritonServer(*free_ports(3), host="0.0.0.0").grpc_url.startswith("127.0.0.1:")
