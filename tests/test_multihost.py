"""Across hosts: the Triton server, the Locust master and two workers each in a network
namespace of its own (made here, joined by a bridge in a namespace of its own, addresses of
our own), then one worker's link cut mid-level. The sweep must finish, with the level
measured again or flagged, and nothing may hang.

Needs root for `ip netns`, as CI and the development machines have."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import REPO, wait_for_window

# Its own server, master and workers, each in a network namespace.
pytestmark = [pytest.mark.server, pytest.mark.root]

SUBNET = "10.231.7"
HOSTS = {"srv": 1, "mst": 2, "w1": 3, "w2": 4}


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, text=True)


class Network:
    """Namespaces named after this run, so that parallel runs and leftovers never clash."""

    def __init__(self) -> None:
        self.tag = uuid.uuid4().hex[:6]
        self.bridge_ns = f"tlb{self.tag}"

    def ns(self, host: str) -> str:
        return f"tl{host}{self.tag}"

    def address(self, host: str) -> str:
        return f"{SUBNET}.{HOSTS[host]}"

    def up(self) -> None:
        sh("ip", "netns", "add", self.bridge_ns)
        sh("ip", "-n", self.bridge_ns, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.bridge_ns, "link", "set", "br0", "up")
        for host in HOSTS:
            ns, inner, outer = self.ns(host), f"v{host}{self.tag}", f"b{host}{self.tag}"
            sh("ip", "netns", "add", ns)
            sh("ip", "link", "add", inner, "type", "veth", "peer", "name", outer)
            sh("ip", "link", "set", inner, "netns", ns)
            sh("ip", "link", "set", outer, "netns", self.bridge_ns)
            sh("ip", "-n", self.bridge_ns, "link", "set", outer, "master", "br0", "up")
            sh("ip", "-n", ns, "addr", "add", f"{self.address(host)}/24", "dev", inner)
            sh("ip", "-n", ns, "link", "set", inner, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")

    def cut(self, host: str) -> None:
        sh("ip", "-n", self.bridge_ns, "link", "set", f"b{host}{self.tag}", "down")

    def down(self) -> None:
        for ns in [self.bridge_ns, *(self.ns(h) for h in HOSTS)]:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)

    def run(self, host: str, *args: str, **kwargs) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                self.ns(host),
                sys.executable,
                "-m",
                "triton_locust.cli",
                *args,
            ],
            cwd=REPO,
            text=True,
            **kwargs,
        )


@pytest.fixture
def network() -> Iterator[Network]:
    if os.geteuid() != 0:
        pytest.fail("this test builds network namespaces: run it as root (CI does)")
    net = Network()
    try:
        net.up()
        yield net
    finally:
        net.down()


def wait_ready(net: Network, timeout_s: float = 90) -> None:
    url = f"http://{net.address('srv')}:8000/v2/health/ready"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        probe = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                net.ns("mst"),
                sys.executable,
                "-c",
                f"import urllib.request; urllib.request.urlopen('{url}', timeout=1)",
            ],
            capture_output=True,
        )
        if probe.returncode == 0:
            return
        time.sleep(0.5)
    pytest.fail("the server in its namespace did not become ready")


def test_a_worker_cut_off_mid_level_across_hosts(network: Network, tmp_path: Path):
    out_json = tmp_path / "net.json"
    processes: list[subprocess.Popen[str]] = []
    try:
        # The server's host is its own namespace: it listens on its link's address there.
        serve = ("serve", "--host", network.address("srv"))
        processes.append(network.run("srv", *serve, stdout=subprocess.DEVNULL))
        wait_ready(network)
        master = network.run(
            "mst",
            "profile",
            "--master",
            "--expect-workers",
            "2",
            "-m",
            "identity_fp32",
            "-u",
            f"{network.address('srv')}:8000",
            "--concurrency-range",
            "4",
            "-p",
            "2000",
            "-r",
            "10",
            "-v",
            "--json",
            str(out_json),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        processes.append(master)
        for worker in ("w1", "w2"):
            processes.append(network.run(worker, "worker", "--master-host", network.address("mst")))
        seen = wait_for_window(master, 2)  # mid-level: two windows measured
        network.cut("w2")
        rest, err = master.communicate(timeout=180)
        out = seen + rest
    finally:
        for p in processes:
            if p.poll() is None:
                p.terminate()
        for p in processes:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
    assert master.returncode in (0, 1), err[-3000:]
    [level] = json.loads(out_json.read_text())["levels"]
    assert level["remeasured"] >= 1 or level["merged"]["missing_workers"] > 0, level
    assert "worker was lost" in out or "missing" in out
