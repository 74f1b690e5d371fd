"""What the tests that run the command line share: the repository, perf_analyzer's CSV
header, running `triton-locust profile`, and reading what a run wrote or printed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PA_HEADER = (
    "Concurrency,Inferences/Second,Client Send,Network+Server Send/Recv,Server Queue,"
    "Server Compute Input,Server Compute Infer,Server Compute Output,Client Recv,"
    "p50 latency,p90 latency,p95 latency,p99 latency"
)


def profile(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """`triton-locust profile ARGS` in a process of its own, run from the repository."""
    return subprocess.run(
        [sys.executable, "-m", "triton_locust.cli", "profile", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )


def load_levels(path: Path) -> list[dict]:
    return json.loads(path.read_text())["levels"]


def expected_exit(levels: list[dict]) -> int:
    """perf_analyzer's rule, ours on both entry points: 1 when a level is unstable."""
    return 1 if any(level["status"] == "unstable" for level in levels) else 0


def wait_for_window(master: subprocess.Popen[str], n: int) -> str:
    """Read a verbose sweep's output until its n-th window ("Pass [n]") is measured."""
    seen = []
    assert master.stdout is not None
    for line in master.stdout:
        seen.append(line)
        if f"Pass [{n}]" in line:
            return "".join(seen)
    pytest.fail("the sweep ended before measuring its windows:\n" + "".join(seen))
