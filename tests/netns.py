"""Hosts for the tests that need a network between processes: each host a network namespace
of its own, all joined by a bridge in a namespace of its own, on addresses of our own.
Needs root for `ip netns`, as CI and the development machines have."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.helpers import REPO


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, text=True)


class Network:
    """Namespaces named after this run, so that parallel runs and leftovers never clash.
    `hosts` maps a short name (at most 3 letters: interface names are short) to the last
    byte of its address in `subnet`."""

    def __init__(self, hosts: dict[str, int], subnet: str) -> None:
        self.hosts, self.subnet = hosts, subnet
        self.tag = uuid.uuid4().hex[:6]
        self.bridge_ns = f"tlb{self.tag}"

    def ns(self, host: str) -> str:
        return f"tl{host}{self.tag}"

    def address(self, host: str) -> str:
        return f"{self.subnet}.{self.hosts[host]}"

    def up(self) -> None:
        sh("ip", "netns", "add", self.bridge_ns)
        sh("ip", "-n", self.bridge_ns, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.bridge_ns, "link", "set", "br0", "up")
        for host in self.hosts:
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
        for ns in [self.bridge_ns, *(self.ns(h) for h in self.hosts)]:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)

    def python(self, host: str, *args: str, **kwargs) -> subprocess.Popen[str]:
        """`python ARGS` on `host`, run from the repository."""
        command = ["ip", "netns", "exec", self.ns(host), sys.executable, *args]
        return subprocess.Popen(command, cwd=REPO, text=True, **kwargs)

    def run(self, host: str, *args: str, **kwargs) -> subprocess.Popen[str]:
        """`triton-locust ARGS` on `host`."""
        return self.python(host, "-m", "triton_locust.cli", *args, **kwargs)

    def wait_ready(self, url: str, from_host: str, timeout_s: float = 90) -> None:
        """Until GET http://URL/v2/health/ready answers from `from_host`."""
        ready = f"http://{url}/v2/health/ready"
        probe = f"import urllib.request; urllib.request.urlopen({ready!r}, timeout=1)"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.python(from_host, "-c", probe, stderr=subprocess.DEVNULL).wait() == 0:
                return
            time.sleep(0.5)
        pytest.fail(f"{url} did not become ready within {timeout_s:.0f} s")


@contextmanager
def network(hosts: dict[str, int], subnet: str) -> Iterator[Network]:
    if os.geteuid() != 0:
        pytest.fail("this test builds network namespaces: run it as root (CI does)")
    net = Network(hosts, subnet)
    try:
        net.up()
        yield net
    finally:
        net.down()
