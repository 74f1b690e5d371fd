"""The HTML report opens offline in a real browser (Debian's headless Chromium): no script
errors, the chart's points in the page, a screenshot that is not blank; and it says what a
perf engineer looks for: what ran, where, when; unstable levels with their spread; hover
values; each latency once; settings in words, header values never."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from analysis.report.html import tool_version, write_report
from analysis.report.load import load_summary
from analysis.stabiliser import Spread
from tests.report_fixtures import INCEPTION_CSV, sweep_result

SECRET = "Bearer s3cr3t-t0ken"

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
    """Four levels, the third unstable (its windows 23% apart in throughput), a header
    carrying a credential."""
    result = sweep_result(4, unstable=3)
    result.settings = dataclasses.replace(
        result.settings,
        headers={"Authorization": SECRET, "X-Trace": "trace-v4lue"},
        model_version="2",
    )
    result.server_version, result.started_at = "2.51.0", "2026-01-02T03:04:05+0000"
    result.levels[2] = dataclasses.replace(result.levels[2], spread=Spread(1.23, 1.05))
    path = tmp_path_factory.mktemp("report") / "report.html"
    write_report(result, path, latency_budget_ms=2)
    return path


def text_of(page: str) -> str:
    """The page's words, tags dropped: what a reader sees (hover titles included)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def test_the_heading_names_model_version_server_date_and_tool(report):
    words = text_of(report.read_text())
    assert "model m (version: 2)" in words
    assert "server Triton 2.51.0 at localhost:8000 over HTTP" in words
    assert "run started 2026-01-02 03:04:05+0000" in words
    assert f"report by triton-locust {tool_version()}" in words


def test_a_tool_run_from_a_bare_source_tree_reports_its_version_unknown(monkeypatch):
    from importlib.metadata import PackageNotFoundError

    from analysis.report import html

    def not_installed(name: str) -> str:
        raise PackageNotFoundError(name)

    monkeypatch.setattr(html, "version", not_installed)
    assert html.tool_version() == "unknown"


def test_an_unstable_level_shows_its_spread(report):
    words = text_of(report.read_text())
    assert (
        "Concurrency 3 did not settle within 10 windows: over the windows it reports, "
        "throughput varied 23%, p95 5%, against the 10% allowed." in words
    )
    assert re.search(r'<td class="over">23%</td>', report.read_text())  # in the levels table


def test_points_and_bars_carry_hover_values(report):
    page = report.read_text()
    titles = re.findall(r'<g id="hover-[a-z]+-\d+"><title>([^<]*)</title>', page)
    assert any(t.startswith("concurrency 3: ") and "UNSTABLE" in t for t in titles)
    assert any(t.startswith("concurrency 2: server queue ") for t in titles)  # the breakdown
    assert any(t.startswith("concurrency 4, window 3 of 3 (reported): ") for t in titles)
    assert any(t.startswith("knee: concurrency ") for t in titles)  # the rings on the curve


def test_the_curve_marks_every_pick(report):
    words = text_of(report.read_text())
    for mark in ("knee: c=", "saturation: c=", "max throughput: c=", "within budget: c="):
        assert mark in words


def test_each_latency_has_one_column_with_the_stabilising_one_marked(report):
    page = report.read_text()
    levels = page[page.index('<table class="levels">') :]
    headers = re.findall(r"<th[^>]*>([^<]*)</th>", levels[: levels.index("</tr>")])
    assert headers[:8] == [
        "concurrency", "infer/sec", "avg (us)", "p50 (us)", "p90 (us)", "p95 (us)", "p99 (us)",
        "server queue (us)",
    ]  # fmt: skip
    assert headers.count("p95 (us)") == 1
    assert "server compute (us)" in headers and "stable" in headers
    assert '<th class="stabilised">p95 (us)</th>' in levels


def test_settings_read_as_words_and_header_values_never_show(report):
    page = report.read_text()
    assert SECRET not in page and "s3cr3t" not in page and "trace-v4lue" not in page
    settings = text_of(page[page.index("<h2>Settings</h2>") :])
    assert "headers Authorization: ***, X-Trace: ***" in settings
    assert "windows time windows of 5000 ms" in settings
    assert "latency threshold none" in settings
    for python in ("None", "{}", "[]", "True", "False"):
        assert python not in settings


def test_a_csv_says_stability_is_unknown(tmp_path):
    src = tmp_path / "perf.csv"
    src.write_text(INCEPTION_CSV)
    out = tmp_path / "r.html"
    write_report(load_summary(src), out)
    page = out.read_text()
    levels = page[
        page.index('<table class="levels">') : page.index(
            "</table>", page.index('<table class="levels">')
        )
    ]
    assert levels.count("<td>unknown</td>") == 4
    assert "spread" not in levels and "client busy" not in levels  # a CSV has neither
    words = text_of(page)
    assert "model not recorded (a perf_analyzer CSV does not say)" in words
    assert "A perf_analyzer CSV does not record its settings." in words


def test_the_page_needs_no_network(report):
    text = report.read_text()
    assert not re.search(r"""(src|href)=["']?https?://""", text)
    assert "<script src" not in text


@pytest.mark.browser
def test_the_browser_renders_every_point_and_no_script_fails(report, tmp_path):
    run = run_chromium(tmp_path, "--enable-logging=stderr", "--v=0", "--dump-dom", report.as_uri())
    assert run.returncode == 0, run.stderr[-2000:]
    dom = run.stdout
    assert "Uncaught" not in run.stderr
    for c in (1, 2, 3, 4):
        assert f"c={c}" in dom  # each point labelled by its concurrency
    assert "c=3 (unstable)" in dom
    assert "<title>concurrency 3: " in dom  # hover values survive the browser's parsing
    data = json.loads(re.search(r'id="report-data">(.*?)</script>', dom, re.S).group(1))
    assert [lvl["concurrency"] for lvl in data["levels"]] == [1, 2, 3, 4]
    assert data["recommendation"]["max_throughput"]["concurrency"] in (1, 2, 3, 4)


@pytest.mark.browser
def test_a_screenshot_shows_the_report(report, tmp_path):
    shot = tmp_path / "shot.png"
    run = run_chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,2400", report.as_uri())
    assert run.returncode == 0, run.stderr[-2000:]
    assert shot.read_bytes()[:4] == b"\x89PNG"
    assert shot.stat().st_size > 50_000  # a blank page compresses to a few kilobytes
