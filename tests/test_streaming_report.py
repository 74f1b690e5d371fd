"""The report's "Streamed responses" section (--streaming): drawn from a streamed run's JSON,
and from a profile export of one, ours or perf_analyzer's, whose requests carry every
response's time. From an export, each level's Response Throughput, first-response and
inter-response percentiles are worked out again here from the raw `response_timestamps`
(perf_analyzer's rank rule, the last three windows' boundaries for the duration) and must
be what the report says; perf_analyzer's own CSV of its export's run gives its Response
Throughput.

The files (tests/data/README.md says how they were recorded): `tl_decoupled_stream.json`
and `.export.json`, one `triton-locust profile --streaming` run's results and export;
`pa_2.51_decoupled_stream.export.json` and `.csv`, one perf_analyzer 2.51 run's.

A screenshot of the section, rendered by Chromium, lands in /tmp/shots/report-streaming.png."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from analysis.report.html import report_html
from analysis.report.load import load_summary
from analysis.report.recommend import recommend
from analysis.report.summary import RunSummary
from analysis.statistics import STREAM_PERCENTILES, percentile_rank
from tests.helpers import REPO
from tests.test_profile_export import schema_errors

DATA = REPO / "tests" / "data"
OUR_RUN = DATA / "tl_decoupled_stream.json"
OUR_EXPORT = DATA / "tl_decoupled_stream.export.json"
PA_EXPORT = DATA / "pa_2.51_decoupled_stream.export.json"
PA_CSV = DATA / "pa_2.51_decoupled_stream.export.csv"
UNARY_EXPORT = DATA / "pa_export_concurrency.json"
SECTION = "Streamed responses"
SHOTS = Path("/tmp/shots")
CHROMIUM = "/usr/bin/chromium"
TRITON_LOCUST = str(Path(sys.executable).parent / "triton-locust")  # the installed command
NS_PER_US = 1000


# -- what the page shows ---------------------------------------------------------------------
class _Tables(HTMLParser):
    """Each table's rows (cells' text), with the h2 heading it came under."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[tuple[str, list[list[str]]]] = []
        self._heading, self._in_h2, self._cell = "", False, None
        self._rows: list[list[str]] | None = None

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag == "h2":
            self._in_h2, self._heading = True, ""
        elif tag == "table":
            self._rows = []
        elif tag == "tr" and self._rows is not None:
            self._rows.append([])
        elif tag in ("td", "th") and self._rows is not None:
            self._cell = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "h2":
            self._in_h2 = False
        elif tag == "table" and self._rows is not None:
            self.tables.append((self._heading, self._rows))
            self._rows = None
        elif tag in ("td", "th") and self._rows and self._cell is not None:
            self._rows[-1].append(self._cell.strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._in_h2:
            self._heading += data
        elif self._cell is not None:
            self._cell += data


def stream_table(page: str) -> dict[str, dict[str, float]] | None:
    """The section's rows by concurrency, each cell by its header as a number (None: no
    section)."""
    parser = _Tables()
    parser.feed(page)
    found = [rows for heading, rows in parser.tables if heading.strip() == SECTION]
    if not found:
        return None
    ((header, *rows),) = found
    return {
        row[0]: {h: float(cell.replace(",", "")) for h, cell in zip(header, row, strict=True)}
        for row in rows
    }


def page_of(summary: RunSummary) -> str:
    return report_html(summary, recommend(summary))


def assert_section_shows(page: str, levels: dict[int, dict[str, Any]]) -> None:
    """The section has one row per level with its figures, as the report rounds them."""
    table = stream_table(page)
    assert table is not None, f"no '{SECTION}' section"
    assert sorted(table) == sorted(str(c) for c in levels)
    for c, want in levels.items():
        row = table[str(c)]
        assert row["responses/sec"] == pytest.approx(round(want["response_throughput"], 1))
        assert row["per request"] == pytest.approx(want["per_request"], rel=1e-3)
        for p in STREAM_PERCENTILES:
            assert row[f"first p{p} (us)"] == round(want["first_us"][p])
            assert row[f"inter-response p{p} (us)"] == round(want["inter_us"][p])


# -- what a level's figures are, from the files ------------------------------------------------
def json_levels(path: Path) -> dict[int, dict[str, Any]]:
    """Each level's streamed figures as our JSON results hold them (the merged windows)."""
    levels = {}
    for level in json.loads(path.read_text())["levels"]:
        m = level["merged"]
        levels[level["concurrency"]] = {
            "response_throughput": m["response_throughput"],
            "per_request": m["response_count"] / m["request_count"],
            "first_us": {
                p: m["first_response_percentiles_us"][f"p{p}"] for p in STREAM_PERCENTILES
            },
            "inter_us": {
                p: m["inter_response_percentiles_us"][f"p{p}"] for p in STREAM_PERCENTILES
            },
        }
    return levels


def _rank(values: list[int], p: int) -> float:
    """perf_analyzer's percentile: the sorted sample at rank int(p/100·(n−1) + 0.5), in us."""
    ordered = sorted(values)
    return ordered[percentile_rank(len(ordered), p)] / NS_PER_US


def export_levels(path: Path) -> dict[int, dict[str, Any]]:
    """Each experiment's streamed figures worked out from the raw export: its last three
    windows (the ones perf_analyzer reports), a request in the window its last response
    arrived in (a response on a shared boundary in the earlier one)."""
    levels = {}
    for e in json.loads(path.read_text())["experiments"]:
        bounds = e["window_boundaries"]
        lo, hi = bounds[-4], bounds[-1]
        kept = [
            r
            for r in e["requests"]
            if r["response_timestamps"] and lo < r["response_timestamps"][-1] <= hi
        ]
        firsts = [r["response_timestamps"][0] - r["timestamp"] for r in kept]
        gaps = [int(g) for r in kept for g in np.diff(r["response_timestamps"])]
        responses = sum(len(r["response_timestamps"]) for r in kept)
        levels[int(e["experiment"]["value"])] = {
            "response_throughput": responses / ((hi - lo) / 1e9),
            "per_request": responses / len(kept),
            "first_us": {p: _rank(firsts, p) for p in STREAM_PERCENTILES},
            "inter_us": {p: _rank(gaps, p) for p in STREAM_PERCENTILES},
        }
    return levels


def summary_levels(summary: RunSummary) -> dict[int, dict[str, Any]]:
    levels = {}
    for row in summary.levels:
        assert row.stream is not None, f"concurrency {row.concurrency}: no streamed figures"
        levels[row.concurrency] = {
            "response_throughput": row.stream.response_throughput,
            "per_request": row.stream.responses_per_request,
            "first_us": row.stream.first_us,
            "inter_us": row.stream.inter_us,
        }
    return levels


def assert_same_figures(got: dict[int, dict[str, Any]], want: dict[int, dict[str, Any]]) -> None:
    assert sorted(got) == sorted(want)
    for c in want:
        g, w = got[c], want[c]
        assert g["response_throughput"] == pytest.approx(w["response_throughput"], rel=1e-9), c
        assert g["per_request"] == pytest.approx(w["per_request"]), c
        for key in ("first_us", "inter_us"):
            for p in STREAM_PERCENTILES:
                assert g[key][p] == pytest.approx(w[key][p], abs=1e-3), (c, key, p)


# -- the tests -----------------------------------------------------------------------------
def test_the_report_of_a_streamed_runs_json_shows_each_levels_responses(tmp_path: Path) -> None:
    """`triton-locust report run.json -o x.html`: the section, one row per level."""
    out = tmp_path / "x.html"
    run = subprocess.run(
        [TRITON_LOCUST, "report", str(OUR_RUN), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    page = out.read_text()
    levels = json_levels(OUR_RUN)
    assert len(levels) == 2
    assert_section_shows(page, levels)
    # The section stands apart from the levels table, whose latency runs to the last response.
    assert page.index("<h2>Levels</h2>") < page.index(f"<h2>{SECTION}</h2>")


@pytest.mark.parametrize("path", [OUR_EXPORT, PA_EXPORT], ids=["ours", "perf_analyzer"])
def test_both_streamed_exports_follow_perf_analyzers_schema(path: Path) -> None:
    assert schema_errors(path) == []
    requests = [r for e in json.loads(path.read_text())["experiments"] for r in e["requests"]]
    assert requests and all(len(r["response_timestamps"]) > 1 for r in requests)


def test_a_report_without_streaming_has_no_section() -> None:
    page = page_of(load_summary(UNARY_EXPORT))
    assert stream_table(page) is None
    assert SECTION not in page


def test_our_export_gives_the_figures_of_our_json() -> None:
    """The export of a run read back: its levels' response figures are the run's own."""
    summary = load_summary(OUR_EXPORT)
    assert summary.origin == "export"
    got = summary_levels(summary)
    assert_same_figures(got, json_levels(OUR_RUN))
    assert_same_figures(got, export_levels(OUR_EXPORT))
    assert_section_shows(page_of(summary), got)


def test_perf_analyzers_export_gives_its_response_throughput() -> None:
    """perf_analyzer's own streamed export: the figures worked out from its timestamps, and
    its CSV's Response Throughput (and Inferences/Second), to the digits it prints."""
    summary = load_summary(PA_EXPORT)
    got = summary_levels(summary)
    assert_same_figures(got, export_levels(PA_EXPORT))
    with PA_CSV.open() as f:
        rows = {int(r["Concurrency"]): r for r in csv.DictReader(f)}
    assert sorted(rows) == sorted(got)
    for row in summary.levels:
        theirs = rows[row.concurrency]
        assert _sig6(row.stream.response_throughput) == float(theirs["Response Throughput"])
        assert _sig6(row.throughput) == float(theirs["Inferences/Second"])
    assert_section_shows(page_of(summary), got)


def test_the_export_report_on_the_command_line(tmp_path: Path) -> None:
    out = tmp_path / "export.html"
    run = subprocess.run(
        [TRITON_LOCUST, "report", str(PA_EXPORT), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert_section_shows(out.read_text(), export_levels(PA_EXPORT))


@pytest.mark.browser
def test_a_screenshot_shows_the_section(tmp_path: Path) -> None:
    """Chromium renders the section: its heading, a row per level, the note beneath."""
    import playwright.sync_api as playwright_api

    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed: `make chromium` installs it")
    page_path = tmp_path / "report.html"
    page_path.write_text(page_of(load_summary(OUR_RUN)))
    SHOTS.mkdir(parents=True, exist_ok=True)
    shot = SHOTS / "report-streaming.png"
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 1000})
            page.goto(page_path.as_uri())
            heading = page.locator("h2", has_text=SECTION)
            assert heading.count() == 1
            table = heading.locator("xpath=following-sibling::table[1]")
            note = heading.locator("xpath=following-sibling::p[1]")
            assert table.locator("tr").count() == 1 + len(json_levels(OUR_RUN))
            assert "first response" in note.inner_text().lower()
            top, bottom = heading.bounding_box(), note.bounding_box()
            assert top is not None and bottom is not None
            heading.scroll_into_view_if_needed()
            page.screenshot(
                path=str(shot),
                full_page=True,
                clip={
                    "x": 0,
                    "y": top["y"] - 8,
                    "width": 1300,
                    "height": bottom["y"] + bottom["height"] - top["y"] + 16,
                },
            )
        finally:
            browser.close()
    assert shot.read_bytes()[:4] == b"\x89PNG"


def _sig6(x: float) -> float:
    """A figure to the 6 significant digits perf_analyzer prints."""
    return float(f"{x:.6g}") if math.isfinite(x) else x
