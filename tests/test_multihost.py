"""Across hosts: the Triton server, the Locust master and two workers each in a network
namespace of its own (made here, joined by a bridge in a namespace of its own, addresses of
our own: tests/netns.py), then one worker's link cut mid-level. The sweep must finish, with
the level measured again or flagged, and nothing may hang."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import netns
from tests.helpers import wait_for_window
from tests.netns import Network

# Its own server, master and workers, each in a network namespace.
pytestmark = [pytest.mark.server, pytest.mark.root]

SUBNET = "10.231.7"
HOSTS = {"srv": 1, "mst": 2, "w1": 3, "w2": 4}


@pytest.fixture
def network() -> Iterator[Network]:
    with netns.network(HOSTS, SUBNET) as net:
        yield net


def test_a_worker_cut_off_mid_level_across_hosts(network: Network, tmp_path: Path):
    out_json = tmp_path / "net.json"
    processes: list[subprocess.Popen[str]] = []
    try:
        # The server's host is its own namespace: it listens on its link's address there.
        serve = ("serve", "--host", network.address("srv"))
        processes.append(network.run("srv", *serve, stdout=subprocess.DEVNULL))
        network.wait_ready(f"{network.address('srv')}:8000", from_host="mst")
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
