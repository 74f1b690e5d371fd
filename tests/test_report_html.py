"""The HTML report opens offline in a real browser (Debian's headless Chromium): no script
errors, the chart's points in the page, a screenshot that is not blank."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from analysis.report.html import write_report
from tests.report_fixtures import sweep_result

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("Debian's chromium is needed: apt-get install chromium (make test does)")
    return path


def run_chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("report") / "report.html"
    write_report(sweep_result(4, unstable=3), path, latency_budget_ms=2)
    return path


def test_the_page_needs_no_network(report):
    text = report.read_text()
    assert not re.search(r"""(src|href)=["']?https?://""", text)
    assert "<script src" not in text


def test_the_browser_renders_every_point_and_no_script_fails(report, tmp_path):
    run = run_chromium(tmp_path, "--enable-logging=stderr", "--v=0", "--dump-dom", report.as_uri())
    assert run.returncode == 0, run.stderr[-2000:]
    dom = run.stdout
    assert "Uncaught" not in run.stderr
    for c in (1, 2, 3, 4):
        assert f"c={c}" in dom  # each point labelled by its concurrency
    assert "c=3 (unstable)" in dom
    data = json.loads(re.search(r'id="report-data">(.*?)</script>', dom, re.S).group(1))
    assert [lvl["concurrency"] for lvl in data["levels"]] == [1, 2, 3, 4]
    assert data["recommendation"]["max_throughput"]["concurrency"] in (1, 2, 3, 4)


def test_a_screenshot_shows_the_report(report, tmp_path):
    shot = tmp_path / "shot.png"
    run = run_chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,2400", report.as_uri())
    assert run.returncode == 0, run.stderr[-2000:]
    assert shot.read_bytes()[:4] == b"\x89PNG"
    assert shot.stat().st_size > 50_000  # a blank page compresses to a few kilobytes
