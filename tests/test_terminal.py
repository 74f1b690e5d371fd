"""The terminal during a sweep: on a TTY one status line redrawn in place and cleared before
any block is printed; piped, perf_analyzer's lines alone (with -v, ours per window too);
at the end, the files written and what a non-zero exit code means."""

from __future__ import annotations

import codecs
import fcntl
import io
import logging
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from analysis.console import stability_so_far, status_line
from analysis.results import LevelResult, SweepResult
from analysis.settings import Outputs, SweepSettings
from analysis.stabiliser import Spread, Verdict, spread
from analysis.window import merge
from tests.report_fixtures import sweep_result
from tests.synthetic import window
from triton_user.outputs import ProgressOutput, standard_outputs
from triton_user.outputs.closing import exit_reason
from triton_user.sweep.events import SweepEvents

REPO = Path(__file__).resolve().parents[1]
STATUS = re.compile(r"^\[\d+:\d\d\] concurrency \d+ \| window \d+ of \d+")


class Screen:
    """Just enough of a terminal to read what rich's Live leaves on it: text, CR, LF, erase
    in line, cursor up; colours and cursor visibility ignored. No wrapping: keep it wide."""

    CSI = re.compile(r"\x1b\[([0-9;?]*)([A-Za-z])")

    def __init__(self) -> None:
        self.rows = [""]
        self.y = self.x = 0

    def feed(self, data: str) -> None:
        i = 0
        while i < len(data):
            m = self.CSI.match(data, i)
            if m:
                arg, command = m.groups()
                if command == "A":
                    self.y = max(0, self.y - int(arg or 1))
                elif command == "K":
                    keep = "" if arg == "2" else self.rows[self.y][: self.x]
                    self.rows[self.y] = keep
                i = m.end()
                continue
            ch = data[i]
            if ch == "\r":
                self.x = 0
            elif ch == "\n":
                self.y += 1
                self.rows += [""] * (self.y + 1 - len(self.rows))
            elif ch != "\x1b":
                row = self.rows[self.y].ljust(self.x)
                self.rows[self.y] = row[: self.x] + ch + row[self.x + 1 :]
                self.x += 1
            i += 1

    @property
    def lines(self) -> list[str]:
        """The rows as the eye reads them (trailing blank rows dropped)."""
        rows = list(self.rows)
        while rows and not rows[-1].strip():
            rows.pop()
        return rows


def drain(fd: int, wait_s: float = 0.05) -> str:
    data = b""
    while select.select([fd], [], [], wait_s)[0]:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the other side closed
            break
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace")


def set_size(fd: int, rows: int, columns: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))


SETTINGS = SweepSettings(model="m", concurrency_end=2, max_trials=4)


def windows(n: int) -> list:
    return [window(100 + 5 * i, 5000 + 100 * i) for i in range(n)]


def level(concurrency: int, ws: list, verdict: Verdict) -> LevelResult:
    tail = ws[-3:]
    return LevelResult(concurrency, verdict, ws, merge(tail, None), spread(ws, SETTINGS.rule))


# -- the lines themselves (pure) -------------------------------------------------------------


def test_status_line_says_level_window_figures_spread_and_time():
    ws = windows(3)
    assert status_line(2, [], SETTINGS, 5) == "[0:05] concurrency 2 | window 1 of 4: measuring"
    assert status_line(2, ws[:1], SETTINGS, 65) == (
        "[1:05] concurrency 2 | window 1 of 4 | 100.0 infer/sec | avg 5000 usec | "
        "spread after 3 windows (-s 10%)"
    )
    assert status_line(2, ws, SETTINGS, 3725) == (
        "[1:02:05] concurrency 2 | window 3 of 4 | 110.0 infer/sec | avg 5200 usec | "
        "spread: thr 10.0%, lat 4.0% (-s 10%)"
    )


def test_status_line_is_abbreviated_to_fit_an_80_column_terminal():
    short = status_line(12, windows(3), SweepSettings(model="m", max_trials=10), 42, width=80)
    assert short == (
        "[0:42] c=12 win 3/10 | 110.0 infer/sec | avg 5200 us | spread 10.0%/4.0% (-s 10%)"
    ).replace("infer/sec", "infer/s")
    assert len(short) <= 80


def test_verbose_window_progress_says_window_k_of_r_and_the_spread_against_s():
    ws = windows(4)
    assert stability_so_far(ws[:2], SETTINGS) == (
        "    window 2 of 4, spread after 3 windows (-s 10%)"
    )
    # The last three windows, as the stabiliser compares them: 105..115 infer/sec.
    assert stability_so_far(ws, SETTINGS) == (
        "    window 4 of 4, spread: throughput 9.5%, latency 3.9% (-s 10%)"
    )


# -- the end of a sweep (pure) ---------------------------------------------------------------


def test_exit_reasons_in_one_line_each():
    assert exit_reason(sweep_result(2)) is None
    unstable = sweep_result(3, unstable=2)
    unstable.levels[1] = LevelResult(
        2, Verdict.UNSTABLE, unstable.levels[1].windows, None, Spread(1.14, 1.02)
    )
    assert exit_reason(unstable) == (
        "exit code 1: concurrency 2 did not stabilise within 10 windows (throughput spread "
        "14.0% > 10%); reported, flagged unstable"
    )
    failed = sweep_result(2)
    failed.stop_reason = "error: server statistics unavailable: gone"
    assert exit_reason(failed, ["perf.csv"]) == (
        "exit code 3: the sweep stopped on an error: server statistics unavailable: gone; "
        "could not write perf.csv"
    )
    stopped = sweep_result(2)
    stopped.levels.append(LevelResult(3, Verdict.INTERRUPTED, [], None, Spread(1, 1)))
    stopped.stop_reason = "interrupted"
    assert exit_reason(stopped) == (
        "exit code 130: interrupted during concurrency 3; the results cover the 2 finished levels"
    )


# -- piped: plain lines ----------------------------------------------------------------------


def test_piped_output_has_no_status_line_and_verbose_adds_window_k_of_r(tmp_path):
    def sweep(verbose: bool) -> str:
        out = io.StringIO()
        listeners, _ = standard_outputs(Outputs(verbose=verbose), out)
        assert not any(isinstance(x, ProgressOutput) for x in listeners)
        events = SweepEvents(listeners)
        events.sweep_started(SETTINGS)
        events.level_started(1)
        ws = windows(3)
        for k, w in enumerate(ws, 1):
            events.window_measured(1, k, w, Verdict.MEASURE_MORE)
        return out.getvalue()

    quiet, verbose = sweep(False), sweep(True)
    assert "\x1b" not in quiet + verbose
    assert quiet.endswith("Request concurrency: 1\n")
    assert verbose.splitlines()[-2:] == [
        "  Pass [3] throughput: 110 infer/sec. avg latency: 5200 usec",
        "    window 3 of 4, spread: throughput 10.0%, latency 4.0% (-s 10%)",
    ]


# -- on a terminal: the listener under a pseudo-terminal -------------------------------------


def test_the_status_line_updates_in_place_and_never_garbles_the_blocks(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("COLUMNS", "160")  # rich sizes its console from the env or fds 0-2
    master, slave = pty.openpty()
    set_size(slave, 50, 160)
    screen = Screen()
    with os.fdopen(slave, "w") as terminal:
        json = str(tmp_path / "perf.json")
        listeners, _ = standard_outputs(Outputs(json=json), terminal)
        assert isinstance(listeners[0], ProgressOutput)
        events = SweepEvents(listeners)
        events.sweep_started(SETTINGS)
        events.level_started(1)
        ws = windows(3)
        for k, w in enumerate(ws, 1):
            events.window_measured(1, k, w, Verdict.MEASURE_MORE)
            screen.feed(drain(master))
            assert STATUS.match(screen.lines[-1]), screen.lines
            assert f"window {k} of 4" in screen.lines[-1]
        assert screen.lines[-2:] == [
            "Request concurrency: 1",
            "[0:00] concurrency 1 | window 3 of 4 | 110.0 infer/sec | avg 5200 usec | "
            "spread: thr 10.0%, lat 4.0% (-s 10%)",
        ]
        result = SweepResult(SETTINGS, [level(1, ws, Verdict.STABLE)])
        events.level_finished(result.levels[0], result)
        events.level_started(2)
        events.window_measured(2, 1, ws[0], Verdict.MEASURE_MORE)
        screen.feed(drain(master))
        rows = screen.lines
        start = rows.index("Request concurrency: 1")
        assert rows[start + 1 : start + 4] == [
            "  Client: ",
            "    Request count: 315",
            "    Throughput: 105 infer/sec",
        ]
        assert rows[-2] == "Request concurrency: 2"
        assert rows[-1].startswith("[0:00] concurrency 2 | window 1 of 4 | 100.0 infer/sec")
        assert sum(bool(STATUS.match(r)) for r in rows) == 1  # redrawn, never repeated

        # Stopped mid-level: one line for it, the rest said from the finished level.
        result.levels.append(level(2, ws[:1], Verdict.INTERRUPTED))
        result.stop_reason = "interrupted"
        events.level_finished(result.levels[1], result)
        events.sweep_ended(result)
        screen.feed(drain(master))
    os.close(master)
    rows = screen.lines
    assert not any(STATUS.match(r) for r in rows), "the status line is cleared at the end"
    after = rows[rows.index("Request concurrency: 2") :]
    assert after[:5] == [
        "Request concurrency: 2",
        f"  Interrupted after 1 window: not reported; {json} keeps its windows, marked interrupted",
        "Inferences/Second vs. Client Average Batch Latency",
        "Concurrency: 1, throughput: 105 infer/sec, latency 5103 usec",
        "",
    ]
    assert (
        "The sweep was interrupted during concurrency 2: recommended from the 1 finished "
        "level only." in after
    )
    assert after[-2:] == ["Results:", f"  {json}  every level and window in full (JSON)"]
    assert capsys.readouterr().err == (
        "triton-locust: exit code 130: interrupted during concurrency 2; the results cover "
        "the 1 finished level\n"
    )


# -- a real sweep ----------------------------------------------------------------------------


PROFILE = [sys.executable, "-m", "triton_locust.cli", "profile", "--embedded-server"]
SWEEP = ["-m", "sleep_5ms", "--concurrency-range", "1:2", "-p", "400", "-r", "4"]


@pytest.mark.server
def test_a_real_sweep_on_a_terminal_then_stopped_mid_level(tmp_path):
    """Under a pseudo-terminal: the status line mid-sweep, Ctrl-C during concurrency 2,
    then the screen as the user is left with it."""
    json = tmp_path / "perf.json"
    pid, fd = pty.fork()
    if pid == 0:  # the child: the sweep, its stdout and stderr the terminal
        os.chdir(REPO)
        os.environ.update(TERM="xterm-256color", COLUMNS="200")
        os.execv(sys.executable, [*PROFILE, *SWEEP, "--json", str(json)])
    set_size(fd, 60, 200)
    screen, seen, stopped = Screen(), [], False
    decode = codecs.getincrementaldecoder("utf-8")(errors="replace").decode
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if not select.select([fd], [], [], 0.2)[0]:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the sweep ended and closed the terminal
            break
        if not chunk:
            break
        screen.feed(decode(chunk))
        last = screen.lines[-1] if screen.lines else ""
        if STATUS.match(last):
            seen.append(last)
            if not stopped and "concurrency 2 | window 1 of 4 |" in last:
                os.kill(pid, signal.SIGINT)  # Ctrl-C: the sweep keeps what it finished
                stopped = True
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    rows = screen.lines
    assert stopped, rows
    assert os.waitstatus_to_exitcode(status) == 130, rows
    # A level that settles at its 3rd window is done at once: the spread shows while
    # windows go on, so before then the line says when it will.
    status = (
        r"\[\d:\d\d\] concurrency [12] \| window [1-4] of 4 \| [\d.]+ infer/sec \| avg \d+ usec \| "
        r"spread (after 3 windows|: thr [\d.]+%, lat [\d.]+%) \(-s 10%\)"
    )
    assert any(re.fullmatch(status, line) for line in seen), seen
    assert not any(STATUS.match(r) for r in rows), "the status line is cleared at the end"
    one = rows.index("Request concurrency: 1")
    assert rows[one + 1 : one + 3] == ["  Client: ", rows[one + 2]]
    assert rows[one + 2].startswith("    Request count: ")
    two = rows.index("Request concurrency: 2")
    assert rows[two + 1].startswith("  Interrupted after ")
    assert "Inferences/Second vs. Client Average Batch Latency" in rows
    assert any(r.startswith("The sweep was interrupted during concurrency 2") for r in rows)
    # stdout and stderr share the terminal: the files, then why the exit code is not 0.
    assert rows[-4:] == [
        "Results:",
        f"  {json}  every level and window in full (JSON)",
        f"  {json.with_suffix('.html')}  the report: open it in a browser",
        "triton-locust: exit code 130: interrupted during concurrency 2; the results cover the "
        "1 finished level",
    ]
    assert "Traceback" not in "\n".join(rows)


@pytest.mark.server
def test_a_real_sweep_piped_prints_plain_lines_and_says_what_it_wrote(tmp_path):
    csv = tmp_path / "perf.csv"
    run = subprocess.run(
        [*PROFILE, *SWEEP, "-v", "-f", str(csv)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=REPO,
    )
    assert run.returncode in (0, 1), run.stderr
    assert "\x1b" not in run.stdout and "\r" not in run.stdout
    lines = run.stdout.splitlines()
    passes = [i for i, line in enumerate(lines) if line.startswith("  Pass [")]
    assert len(passes) >= 6  # two levels of at least 3 windows
    for i in passes:  # with -v, ours under each of perf_analyzer's "Pass [k]" lines
        k = re.match(r"  Pass \[(\d+)\]", lines[i]).group(1)
        assert re.fullmatch(rf"    window {k} of 4, spread.* \(-s 10%\)", lines[i + 1])
    html = csv.with_suffix(".html")
    assert [line.split() for line in lines[-3:]] == [
        ["Results:"],
        [str(csv), "perf_analyzer's", "CSV"],
        [str(html), "the", "report:", "open", "it", "in", "a", "browser"],
    ]
    assert csv.exists() and html.exists()
    if run.returncode == 1:
        assert re.search(
            r"^triton-locust: exit code 1: concurrency [\d and]+ did not stabilise within 4 "
            r"windows \(.*\); reported, flagged unstable$",
            run.stderr,
            re.M,
        ), run.stderr
    else:
        assert "exit code" not in run.stderr


def test_no_status_line_where_locusts_logging_writes_to_the_terminal():
    """`locust -f` logs to the terminal from handlers that no redirect reaches."""
    master, slave = pty.openpty()
    with os.fdopen(slave, "w") as terminal:
        listeners, _ = standard_outputs(Outputs(), terminal)
        assert isinstance(listeners[0], ProgressOutput)
        listeners[0].close()
        handler = logging.StreamHandler(terminal)
        logger = logging.getLogger("test_terminal.locust_like")
        logger.addHandler(handler)
        try:
            listeners, _ = standard_outputs(Outputs(), terminal)
        finally:
            logger.removeHandler(handler)
        assert not any(isinstance(x, ProgressOutput) for x in listeners)
    os.close(master)
