"""One sweep across a Locust master and worker processes, against the real server: the
merged windows count what the server served, and a lost worker never goes unnoticed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_profile_e2e import PA_HEADER, REPO, load_levels, profile
from triton_locust.server import free_ports


def assert_counts_close_to_server(levels: list[dict]) -> None:
    """Workers cut their windows when the master's message reaches them: besides the
    requests in flight at the edges, allow what a message delay lets through (1%)."""
    for level in levels:
        merged = level["merged"]
        client, server = merged["request_count"], merged["server"]["success_count"]
        assert client > 0
        assert abs(client - server) <= 2 * level["concurrency"] + 0.01 * server, level


def test_master_and_two_worker_processes(triton_server, tmp_path):
    out_json, out_csv = tmp_path / "d.json", tmp_path / "d.csv"
    run = profile(
        "-m",
        "identity_fp32",
        "-u",
        triton_server.http_url,
        "--concurrency-range",
        "2:4:2",
        "-p",
        "500",
        "-r",
        "6",
        "--processes",
        "2",
        "--json",
        str(out_json),
        "-f",
        str(out_csv),
    )
    assert run.returncode in (0, 1), run.stderr[-3000:]
    levels = load_levels(out_json)
    assert [lvl["concurrency"] for lvl in levels] == [2, 4]
    assert_counts_close_to_server(levels)
    assert out_csv.read_text().splitlines()[0] == PA_HEADER
    assert all(lvl["merged"]["missing_workers"] == 0 for lvl in levels)


def test_the_plain_locust_way_master_writes_the_results(triton_server, tmp_path):
    out_json = tmp_path / "m.json"
    port = free_ports(1)[0]
    locustfile = "locustfiles/triton_sweep.py"
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            locustfile,
            "--worker",
            "--master-port",
            str(port),
            "--loglevel",
            "WARNING",
        ],
        cwd=REPO,
    )
    try:
        master = subprocess.run(
            [
                sys.executable,
                "-m",
                "locust",
                "-f",
                locustfile,
                "--headless",
                "--master",
                "--expect-workers",
                "1",
                "--master-bind-port",
                str(port),
                "--model",
                "identity_fp32",
                "--triton-url",
                triton_server.http_url,
                "--concurrency-range",
                "1:2",
                "--measurement-interval",
                "500",
                "--max-trials",
                "6",
                "--results-json",
                str(out_json),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=REPO,
        )
        assert master.returncode == 0, master.stderr[-3000:]
        worker.wait(timeout=30)  # the master's quit ends the worker
    finally:
        if worker.poll() is None:
            worker.kill()
    levels = load_levels(out_json)
    assert [lvl["concurrency"] for lvl in levels] == [1, 2]
    assert_counts_close_to_server(levels)


def child_pids(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children]


def wait_for_window(master: subprocess.Popen[str], n: int) -> str:
    """Read a verbose sweep's output until its n-th window ("Pass [n]") is measured."""
    seen = []
    assert master.stdout is not None
    for line in master.stdout:
        seen.append(line)
        if f"Pass [{n}]" in line:
            return "".join(seen)
    pytest.fail("the sweep ended before measuring its windows:\n" + "".join(seen))


def test_a_worker_lost_mid_level_is_measured_again_and_nothing_hangs(triton_server, tmp_path):
    out_json = tmp_path / "lost.json"
    profile = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "triton_locust.cli",
            "profile",
            "-m",
            "identity_fp32",
            "-u",
            triton_server.http_url,
            "--concurrency-range",
            "4",
            "-p",
            "1000",
            "-r",
            "8",
            "-v",
            "--processes",
            "2",
            "--json",
            str(out_json),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        seen = wait_for_window(profile, 2)  # mid-level: the third window is under way
        os.kill(child_pids(profile.pid)[0], signal.SIGKILL)
        rest, err = profile.communicate(timeout=240)
    finally:
        if profile.poll() is None:
            profile.kill()
    assert profile.returncode in (0, 1), err[-3000:]
    [level] = json.loads(out_json.read_text())["levels"]
    assert level["remeasured"] >= 1 or level["merged"]["missing_workers"] > 0
    assert "worker was lost" in seen + rest or "missing" in seen + rest
