"""The command line's conventions: --version, --help with defaults and examples (each flag
once), bad input in one line with a non-zero exit, `serve` stopped by Ctrl-C quietly."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from triton_locust.server import free_ports

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "triton_locust.cli"]


def _start(args: tuple[str, ...]) -> subprocess.Popen[str]:
    # The commands are imported in a process of their own: `profile` patches with gevent.
    return subprocess.Popen(
        [*CLI, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "COLUMNS": "100"},
    )


# Each run is a Python start-up of about half a second: the module's runs all start at its
# first call, so that every core works on them, to keep the pure tests quick.
_started: dict[tuple[str, ...], subprocess.Popen[str]] = {}


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    if not _started:
        _started.update((run, _start(run)) for run in EVERY_RUN)
    process = _started.pop(args, None) or _start(args)
    out, err = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def test_version():
    run = cli("--version")
    assert run.returncode == 0
    assert re.fullmatch(r"triton-locust \d+\.\d+\.\d+\S*\n", run.stdout)


def test_top_level_help_has_two_examples():
    run = cli("--help")
    assert run.returncode == 0
    examples = run.stdout.split("examples:\n")[1].splitlines()
    assert [line.split()[:2] for line in examples[:2]] == [
        ["triton-locust", "serve"],
        ["triton-locust", "profile"],
    ]


def test_profile_help_shows_defaults_examples_and_each_flag_once():
    text = cli("profile", "--help").stdout
    for default in (
        "(default: 5000)",  # -p
        "(default: 10.0)",  # -s
        "(default: 10)",  # -r
        "(default: http)",
        "(default: threads)",
    ):
        assert default in text, default
    assert "(default: None)" not in text and "(default: False)" not in text
    examples = text.split("examples:\n")[1]
    assert examples.count("  triton-locust profile ") == 2
    # Each flag's meaning is said once, in the options list (no second table).
    for meaning in ("model to profile (required)", "windows measured at most per level"):
        assert text.count(meaning) == 1, meaning
    # The Locust spelling of a renamed flag is given, once.
    assert re.search(r"^  -f, --filename +--results-csv$", text, re.M)


def test_serve_help_says_how_to_stop_and_its_defaults():
    text = " ".join(cli("serve", "--help").stdout.split())
    assert "until Ctrl-C" in text
    assert "(default: 8000)" in text and "(default: 8001)" in text


BAD_INPUT = [
    (["profile", "-m", "m", "--concurrency-range", "a:b"], "--concurrency-range 'a:b'"),
    (["profile", "-m", "m", "-p", "0"], "-p/--measurement-interval must be at least 1"),
    (["profile", "--bogus"], "unrecognized arguments: --bogus"),
    (["serve", "--http-port", "eighty"], "invalid int value: 'eighty'"),
    (["serve", "--model-repository", "/nonexistent"], "is not a folder"),
    ([], "the following arguments are required: COMMAND"),
]
EVERY_RUN = [("--version",), ("--help",), ("profile", "--help"), ("serve", "--help")]
EVERY_RUN += [tuple(args) for args, _ in BAD_INPUT]


@pytest.mark.parametrize("args, message", BAD_INPUT)
def test_bad_input_is_one_line_and_a_non_zero_exit(args, message):
    run = cli(*args)
    assert run.returncode == 2
    assert message in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert "Traceback" not in run.stderr


# -- serve and Ctrl-C ------------------------------------------------------------------------


def _serve() -> subprocess.Popen[str]:
    http, grpc, metrics = free_ports(3)
    return subprocess.Popen(
        [*CLI, "serve", "--http-port", str(http), "--grpc-port", str(grpc)]
        + ["--metrics-port", str(metrics)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )


def _children(pid: int) -> list[int]:
    tasks = Path(f"/proc/{pid}/task")
    return [int(c) for t in tasks.iterdir() for c in (t / "children").read_text().split() if c]


def _gone(pid: int, timeout_s: float = 30) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        except FileNotFoundError:
            return True
        if state == "Z":  # exited, not yet reaped by its new parent
            return True
        time.sleep(0.2)
    return False


@pytest.mark.server
def test_serve_says_how_to_stop_and_stops_on_ctrl_c_without_a_traceback():
    serve = _serve()
    assert serve.stdout is not None
    lines = []
    for line in serve.stdout:  # until ready
        lines.append(line)
        if line.startswith("Ctrl-C to stop"):
            break
    assert lines[-1] == "Ctrl-C to stop.\n", lines
    servers = _children(serve.pid)
    assert servers, "tritonserver runs as serve's child"
    serve.send_signal(signal.SIGINT)
    out, err = serve.communicate(timeout=60)
    assert serve.returncode == 0, err
    assert "Traceback" not in err
    assert "Stopping Triton Inference Server" in out
    assert all(_gone(pid) for pid in servers)


@pytest.mark.server
def test_ctrl_c_while_the_server_starts_stops_it_too():
    serve = _serve()
    assert serve.stdout is not None
    assert serve.stdout.readline() == "Starting Triton Inference Server ...\n"
    deadline = time.monotonic() + 30
    while not _children(serve.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    servers = _children(serve.pid)
    assert servers
    serve.send_signal(signal.SIGINT)
    out, err = serve.communicate(timeout=60)
    assert serve.returncode == 0, err
    assert "Traceback" not in err
    assert all(_gone(pid) for pid in servers), "no tritonserver left behind"
