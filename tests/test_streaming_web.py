"""The Triton tab of a --streaming sweep, in a real browser against the real Triton server:
a sweep of the decoupled sample model (10 responses 2 ms apart) over gRPC streaming,
started from the start form, shows each level's Response Throughput and first- and
inter-response latency percentiles, the figures of the sweep's own JSON results; a sweep
without streaming, from the same page, shows none of those columns.

A screenshot of the tab after the streamed sweep lands in /tmp/shots/tab-streaming.png."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from analysis.pa_arithmetic import fmt
from analysis.statistics import STREAM_PERCENTILES
from tests.test_web_ui import (
    FINISHED_ROW,
    WebUI,
    browser,  # noqa: F401 (the fixture: one Chromium for the module)
    level_rows,
    results_folder,
    start_from_form,
    wait_for_status,
    wait_for_sweep,
)
from triton_locust.server import TritonServer

pytestmark = [pytest.mark.browser, pytest.mark.server]

SHOTS = Path("/tmp/shots")
STREAM_COLUMNS = ("Responses/Second", "First response", "Inter-response")


def headers(page: Any) -> list[str]:
    return [th.text_content() for th in page.query_selector_all("#triton-levels thead th")]


def rows_by_header(page: Any) -> dict[int, dict[str, str]]:
    """Each finished level's cells, by the column header they sit under."""
    names = headers(page)
    table = {}
    for row in page.query_selector_all(FINISHED_ROW):
        cells = [td.text_content() for td in row.query_selector_all("td")]
        assert len(cells) == len(names), (names, cells)
        table[int(row.get_attribute("data-concurrency"))] = dict(zip(names, cells, strict=True))
    return table


def column(names: list[str], prefix: str) -> str:
    (name,) = [n for n in names if n.startswith(prefix)]
    return name


def run_sweep(page: Any, number: int, **fields: str) -> str:
    """Start a sweep from the form (selects: streaming, protocol) and wait for its end;
    returns its results folder."""
    if not page.is_visible("#swarm_form"):
        page.click("#new-test")
    for name in ("streaming", "protocol"):
        page.select_option(f"#triton_{name}", fields.pop(name))
    start_from_form(page, **fields)
    wait_for_sweep(page, number)
    wait_for_status(page, "Finished")
    return results_folder(page)


def test_a_streamed_sweep_shows_its_responses(
    triton_server: TritonServer,
    browser: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    ui = WebUI(tmp_path, triton_server.grpc_url)
    page = browser.new_page(viewport={"width": 1500, "height": 1000})
    try:
        page.goto(ui.base)
        page.wait_for_selector("#triton-tab-link.current", state="attached")
        folder = run_sweep(
            page,
            1,
            model="decoupled_stream",
            host=triton_server.grpc_url,
            concurrency_range="1:2",
            streaming="yes",
            protocol="grpc",
        )
        assert [c for c, _ in level_rows(page)] == [1, 2]
        names = headers(page)
        assert [p for p in STREAM_COLUMNS if not any(n.startswith(p) for n in names)] == []
        wanted = " / ".join(f"p{p}" for p in STREAM_PERCENTILES)
        first, inter = column(names, "First response"), column(names, "Inter-response")
        assert wanted in first and wanted in inter
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "tab-streaming.png"), full_page=True)

        # The figures are the level's own, as the sweep's JSON holds them.
        levels = json.loads((ui.cwd / folder / "perf.json").read_text())["levels"]
        shown = rows_by_header(page)
        assert sorted(shown) == [lvl["concurrency"] for lvl in levels]
        for level in levels:
            m, row = level["merged"], shown[level["concurrency"]]
            assert m["response_count"] == 10 * m["request_count"]  # the model's 10 responses
            assert row["Responses/Second"] == fmt(m["response_throughput"])
            for name, key in ((first, "first_response"), (inter, "inter_response")):
                want = [math.floor(m[f"{key}_percentiles_us"][f"p{p}"]) for p in STREAM_PERCENTILES]
                assert [int(x) for x in row[name].split(" / ")] == want, (name, row[name])
                assert all(x > 0 for x in want)

        # Without --streaming, from the same page: no response columns.
        run_sweep(
            page,
            2,
            model="sleep_5ms",
            concurrency_range="1:2",
            streaming="no",
            protocol="grpc",
        )
        assert [c for c, _ in level_rows(page)] == [1, 2]
        names = headers(page)
        assert [n for n in names if n.startswith(STREAM_COLUMNS)] == []
        assert all(row["Inferences/Second"] for row in rows_by_header(page).values())
    finally:
        page.close()
        ui.close()
