"""Bad input is one line and exit 2, found before anything is sent; and perf_analyzer's
console carries only what perf_analyzer would say."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.report_fixtures import INCEPTION_CSV
from triton_locust.cli import build_parser, main
from triton_locust.pa_flags import from_pa_namespace
from triton_locust.server import free_ports
from triton_user.requests.control import ControlError, TritonControl

REPO = Path(__file__).resolve().parents[1]


def _start(args: tuple[str, ...]) -> subprocess.Popen[str]:
    # In a process of its own: `profile` patches with gevent. Nothing listens on the URL,
    # so a check that came after the first request would say "cannot reach" instead.
    url = f"127.0.0.1:{free_ports(1)[0]}"
    return subprocess.Popen(
        [sys.executable, "-m", "triton_locust.cli", "profile", "-m", "m", "-u", url, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )


# Each run is half a second of Python start-up: the fixed ones all start at the first call,
# so that both cores work on them and the pure tests stay quick.
NEGATIVE_OR_ZERO = [
    (("-l", "-5"), "-l/--latency-threshold -5: must not be negative"),
    (("--latency-budget", "-5"), "--latency-budget -5: must be above 0 msec"),
    (("--processes", "0"), "--processes 0: must be at least 1"),
    (("--sequence-length-variation", "-1"), "--sequence-length-variation. The value must be >="),
    (("--sequence-id-range", "9:5"), "The 'end' value must be greater than 'start' value."),
    (("--num-of-sequences", "0"), "Failed to parse --num-of-sequences. The value must be > 0."),
    (("--sequence-length", "0"), "--sequence-length 0: must be > 0"),
]
_started: dict[tuple[str, ...], subprocess.Popen[str]] = {}


def profile(*args: str) -> subprocess.CompletedProcess[str]:
    if not _started:
        _started.update((run, _start(run)) for run, _ in NEGATIVE_OR_ZERO)
    process = _started.pop(args, None) or _start(args)
    out, err = process.communicate(timeout=60)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def one_line(run: subprocess.CompletedProcess[str]) -> str:
    assert run.returncode == 2, run.stderr
    [line] = run.stderr.strip().splitlines()
    assert "cannot reach" not in line
    return line


@pytest.mark.parametrize("args, message", NEGATIVE_OR_ZERO)
def test_a_negative_or_zero_value_is_refused_before_anything_is_sent(args, message):
    assert message in one_line(profile(*args))


def test_an_output_that_is_a_fifo_is_refused_and_left_alone(tmp_path):
    fifo = tmp_path / "perf.csv"
    os.mkfifo(fifo)
    line = one_line(profile("-f", str(fifo)))
    assert f"cannot write {fifo}: {fifo} is not a regular file (a FIFO)" in line
    assert fifo.is_fifo()


def test_a_lone_start_records_the_one_level_it_runs():
    settings, _ = from_pa_namespace(
        build_parser().parse_args(["profile", "-m", "m", "--concurrency-range", "2"])
    )
    assert (settings.concurrency_start, settings.concurrency_end) == (2, 2)
    assert list(settings.concurrencies()) == [2]
    assert settings.to_dict()["concurrency_end"] == 2


class NotReady:
    def is_model_ready(self, model, version, **kwargs) -> bool:
        return False


def test_a_model_version_that_is_not_ready_is_named():
    control = TritonControl("127.0.0.1:1")
    control._client = NotReady()
    with pytest.raises(ControlError, match="model 'sleep_5ms' version 99 is not loaded"):
        control.signature("sleep_5ms", "99")
    with pytest.raises(ControlError, match="model 'sleep_5ms' is not loaded"):
        control.signature("sleep_5ms")


def csv_with(tmp_path: Path, *rows: str) -> Path:
    header, *_ = INCEPTION_CSV.splitlines()
    path = tmp_path / "perf.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def row(concurrency: int) -> str:
    _, first, *_ = INCEPTION_CSV.splitlines()
    return ",".join([str(concurrency), *first.split(",")[1:]])


@pytest.mark.parametrize(
    "concurrencies, message",
    [
        ([1, -2], "line 3: concurrency -2 is not 1 or more"),
        ([1, 2, 2], "line 4: concurrency 2 again (first on line 3)"),
    ],
)
def test_report_refuses_a_csv_row_it_cannot_draw(tmp_path, capsys, concurrencies, message):
    path = csv_with(tmp_path, *(row(c) for c in concurrencies))
    assert main(["report", str(path), "-o", str(tmp_path / "r.html")]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert message in line
    assert not (tmp_path / "r.html").exists()


def test_locusts_advice_stays_off_the_console_and_errors_do_not():
    code = """
import logging
from triton_locust.commands.profile import quiet_locust_advice
quiet_locust_advice()
runners = logging.getLogger("locust.runners")
runners.warning("Your selected spawn rate is very high (>100), and this is known ...")
logging.warning("CPU usage above 90%! This may constrain your throughput ...")
runners.warning("CPU usage was too high at some point during the test! ...")
runners.error("a genuine error")
"""
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    [line] = run.stderr.strip().splitlines()
    assert line.endswith("a genuine error")
