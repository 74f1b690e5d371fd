"""What a run leaves tells the truth about how it ended: a run killed mid-way does not read
as a finished one, a level cut short by a dead server is kept, not dropped, and the log of
a Triton that died is kept to diagnose it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.report.load import load_summary
from analysis.server_stats import ServerStats
from analysis.settings import Outputs
from analysis.stabiliser import Verdict
from triton_locust.cli import main
from triton_locust.server import free_ports
from triton_user.outputs.result_files import ResultFiles
from triton_user.sweep.driver import SweepDriver
from triton_user.sweep.events import SweepEvents

from .test_sweep_driver import InstantLoad, SyntheticSource, settings


class JsonAfterEachLevel:
    """What a SIGKILL right after each level would leave on disk."""

    def __init__(self, path) -> None:
        self.path = path
        self.seen: list[dict] = []

    def level_finished(self, level, result) -> None:
        self.seen.append(json.loads(self.path.read_text()))


def test_the_json_says_running_until_the_last_level_is_measured(tmp_path):
    path = tmp_path / "perf.json"
    files = ResultFiles(Outputs(json=str(path)))
    snapshots = JsonAfterEachLevel(path)
    load = InstantLoad()
    d = SweepDriver(
        settings(concurrency_end=2),
        SyntheticSource(load, 20, lambda c, n: 100.0),
        load,
        events=SweepEvents([files, snapshots]),
    )
    d.run()
    assert [s["stop_reason"] for s in snapshots.seen] == ["running", "running"]
    assert json.loads(path.read_text())["stop_reason"] == "completed"


def test_report_and_compare_read_a_killed_runs_json_the_report_says_it_did_not_finish(
    tmp_path,
):
    path = tmp_path / "perf.json"
    files = ResultFiles(Outputs(json=str(path)))
    load = InstantLoad()
    d = SweepDriver(
        settings(concurrency_end=2),
        SyntheticSource(load, 20, lambda c, n: 100.0),
        load,
        events=SweepEvents([files]),
    )
    d.run()
    killed = json.loads(path.read_text())
    killed["stop_reason"] = "running"  # as the file was after level 2, had it been killed
    path.write_text(json.dumps(killed))
    summary = load_summary(path)
    assert summary.stop_reason == "running"
    assert len(summary.levels) == 2
    assert main(["report", str(path), "-o", str(tmp_path / "perf.html")]) == 0
    assert (
        'sweep ended</td><td class="text">did not finish: the run stopped (killed?) after the '
        "levels shown<" in (tmp_path / "perf.html").read_text()
    )
    assert main(["compare", str(path), str(path), "-o", str(tmp_path / "c.html")]) == 0


def poll_failing_after(calls: int):
    polls = {"n": 0}

    def poll() -> ServerStats:
        polls["n"] += 1
        if polls["n"] > calls:
            raise ConnectionError("connection refused")
        return ServerStats()

    return poll


def test_a_level_cut_short_by_a_dead_server_is_kept_as_interrupted_with_its_windows(tmp_path):
    path = tmp_path / "perf.json"
    load = InstantLoad()
    # Level 1: polls 1-4 (start and 3 windows). Level 2: poll 5 starts it, 6 and 7 end two
    # windows, poll 8 fails: its window is kept too, without server figures.
    d = SweepDriver(
        settings(),
        SyntheticSource(load, 20, lambda c, n: 100.0),
        load,
        poll_stats=poll_failing_after(7),
        events=SweepEvents([ResultFiles(Outputs(json=str(path)))]),
    )
    result = d.run()
    assert result.stop_reason.startswith("error: server statistics unavailable")
    assert [lvl.concurrency for lvl in result.levels] == [1, 2]
    cut = result.levels[1]
    assert cut.verdict is Verdict.INTERRUPTED
    assert len(cut.windows) == 3 and cut.windows[-1].server is None
    assert not cut.reported  # no CSV row for half a level
    written = json.loads(path.read_text())
    assert [(lvl["concurrency"], lvl["status"]) for lvl in written["levels"]] == [
        (1, "stable"),
        (2, "interrupted"),
    ]
    assert len(written["levels"][1]["windows"]) == 3


@pytest.mark.server
def test_serve_keeps_and_names_the_log_of_a_triton_that_died(tmp_path):
    http, grpc, metrics = free_ports(3)
    serve = subprocess.Popen(
        [sys.executable, "-m", "triton_locust.cli", "serve", "--http-port", str(http)]
        + ["--grpc-port", str(grpc), "--metrics-port", str(metrics)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp_path)},  # where the kept log goes
    )
    try:
        for line in serve.stdout:  # type: ignore[union-attr]
            if line.startswith("Ctrl-C to stop"):
                break
        [tritonserver] = [
            int(c)
            for t in Path(f"/proc/{serve.pid}/task").iterdir()
            for c in (t / "children").read_text().split()
        ]
        os.kill(tritonserver, signal.SIGKILL)
        _, err = serve.communicate(timeout=30)
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
    assert serve.returncode == 1
    [line] = err.strip().splitlines()
    assert "tritonserver exited" in line
    log = Path(re.search(r"\(log: (\S+)\)$", line).group(1))
    assert log.parent == tmp_path and log.exists()
    assert "Started HTTPService" in log.read_text()
