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

from tests.helpers import (
    PA_HEADER,
    REPO,
    expected_exit,
    load_levels,
    profile,
    wait_for_window,
)
from triton_locust.server import free_ports

pytestmark = pytest.mark.server


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
    assert run.returncode == expected_exit(levels)
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
        worker.wait(timeout=30)  # the master's quit ends the worker
    finally:
        if worker.poll() is None:
            worker.kill()
    levels = load_levels(out_json)
    assert master.returncode == expected_exit(levels), master.stderr[-3000:]
    assert [lvl["concurrency"] for lvl in levels] == [1, 2]
    assert_counts_close_to_server(levels)


def child_pids(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children]


def one_verbose_level(server, out_json: Path, *cluster: str) -> subprocess.Popen[str]:
    """A distributed sweep of one level (concurrency 4, 1 s windows, up to 8), printing
    each window as it is measured, its results in out_json."""
    command = [sys.executable, "-m", "triton_locust.cli", "profile", "-m", "identity_fp32"]
    command += ["-u", server.http_url, "--concurrency-range", "4", "-p", "1000", "-r", "8"]
    command += ["-v", "--json", str(out_json), *cluster]
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO
    )


def test_a_worker_lost_mid_level_is_measured_again_and_nothing_hangs(triton_server, tmp_path):
    out_json = tmp_path / "lost.json"
    profile = one_verbose_level(triton_server, out_json, "--processes", "2")
    try:
        seen = wait_for_window(profile, 2)  # mid-level: the third window is under way
        os.kill(child_pids(profile.pid)[0], signal.SIGKILL)
        rest, err = profile.communicate(timeout=240)
    finally:
        if profile.poll() is None:
            profile.kill()
    assert profile.returncode in (0, 1), err[-3000:]
    [level] = json.loads(out_json.read_text())["levels"]
    assert profile.returncode == expected_exit([level])
    assert level["remeasured"] >= 1 or level["merged"]["missing_workers"] > 0
    assert "worker was lost" in seen + rest or "missing" in seen + rest


def test_a_worker_that_joins_mid_level_gets_the_level_measured_again_with_it(
    triton_server, tmp_path
):
    out_json = tmp_path / "joined.json"
    port = free_ports(1)[0]
    master = one_verbose_level(
        triton_server,
        out_json,
        "--master",
        "--expect-workers",
        "1",
        "--master-bind-host",
        "127.0.0.1",
        "--master-bind-port",
        str(port),
    )
    worker = [sys.executable, "-m", "triton_locust.cli", "worker", "--master-port", str(port)]
    first = subprocess.Popen(worker, cwd=REPO)
    late = None
    try:
        seen = wait_for_window(master, 1)  # the level is being measured on one worker
        late = subprocess.Popen(worker, cwd=REPO)
        rest, err = master.communicate(timeout=240)
    finally:
        for p in (master, first, late):
            if p is not None and p.poll() is None:
                p.kill()
    assert master.returncode in (0, 1), err[-3000:]
    [level] = load_levels(out_json)
    assert master.returncode == expected_exit([level])
    assert level["remeasured"] >= 1, seen + rest
    assert "worker was lost or joined" in rest
    assert (level["merged"]["missing_workers"], level["merged"]["joined_workers"]) == (0, 0)
    assert_counts_close_to_server([level])
