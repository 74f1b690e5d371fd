"""The Triton tab in Locust's web UI, in a real browser (Debian's chromium through Playwright)
against the real Triton server: a sweep started from the start form fills the tab level by
level, its perf_analyzer CSV downloads with the header and rows of a headless run's, Stop
keeps the finished levels and marks the interrupted one, a new Start is a new sweep in a
folder of its own, and bad input is said in the form. Once with one Locust process, once
with a master and two workers.

Screenshots of the tab mid-sweep land in /tmp/webui/."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import playwright.sync_api as playwright_api
import pytest

from tests.helpers import PA_HEADER, REPO
from triton_locust.server import TritonServer, free_ports

pytestmark = [pytest.mark.browser, pytest.mark.server]

LOCUSTFILE = str(REPO / "locustfiles" / "triton_sweep.py")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = Path("/tmp/webui")
# Short windows: 2 levels in a few seconds (a level lasts over 1 s: the tab, polling once a
# second, shows each one being measured). The same for the headless run compared with.
WINDOW = ["--measurement-interval", "400", "--max-trials", "4"]
FINISHED_ROW = "#triton-levels tr.triton-level:not(.triton-measuring)"


# -- processes -----------------------------------------------------------------------------
def locust(*args: str, cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "locust", "-f", LOCUSTFILE, *args],
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def wait_until(check: Any, timeout: float, what: str, log: Path | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
        except OSError:
            value = None
        if value:
            return value
        time.sleep(0.2)
    tail = log.read_text()[-3000:] if log is not None and log.exists() else ""
    pytest.fail(f"{what} within {timeout:.0f} s\n{tail}")


class WebUI:
    """`locust -f locustfiles/triton_sweep.py` with its web UI (and workers, if asked)."""

    def __init__(self, cwd: Path, url: str, workers: int = 0) -> None:
        self.cwd, self.log = cwd, cwd / "locust.log"
        port, master_port = free_ports(2)
        self.base = f"http://127.0.0.1:{port}"
        args = ["--web-host", "127.0.0.1", "--web-port", str(port), "--triton-url", url, *WINDOW]
        if workers:
            args += ["--master", "--master-bind-host", "127.0.0.1"]
            args += ["--master-bind-port", str(master_port), "--expect-workers", str(workers)]
        self.processes = [locust(*args, cwd=cwd, log=self.log)]
        for _ in range(workers):
            worker = ["--worker", "--master-host", "127.0.0.1", "--master-port", str(master_port)]
            self.processes.append(locust(*worker, cwd=cwd, log=cwd / "workers.log"))
        wait_until(lambda: self.state() is not None, 30, "the web UI did not come up", self.log)
        if workers:
            wait_until(
                lambda: len(get_json(f"{self.base}/stats/requests").get("workers", [])) == workers,
                30,
                f"{workers} workers did not connect",
                cwd / "workers.log",
            )

    def state(self) -> dict[str, Any]:
        return get_json(f"{self.base}/triton/state")

    def request_names(self) -> set[str]:
        """The rows of Locust's own statistics table."""
        return {s["name"] for s in get_json(f"{self.base}/stats/requests")["stats"]}

    def close(self) -> None:
        for process in reversed(self.processes):
            stop(process)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed: `make chromium` installs it")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def headless_csv(triton_server: TritonServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The same sweep, `locust --headless`: the CSV the web UI's download is compared with."""
    folder = tmp_path_factory.mktemp("headless")
    run = subprocess.run(
        [sys.executable, "-m", "locust", "-f", LOCUSTFILE, "--headless"]
        + ["--model", "sleep_5ms", "--triton-url", triton_server.http_url]
        + ["--concurrency-range", "1:2", *WINDOW, "--results-csv", "headless.csv"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode in (0, 1), run.stdout[-2000:] + run.stderr[-3000:]
    return (folder / "headless.csv").read_text()


# -- the page ------------------------------------------------------------------------------
def start_from_form(page: Any, **fields: str) -> None:
    """Open the start form if it is closed, fill it in (field name without `triton_`, or
    `host`) and press Start."""
    if not page.is_visible("#swarm_form"):
        page.click("#new-test")
    for name, value in fields.items():
        selector = "#host" if name == "host" else f"#triton_{name}"
        page.fill(selector, value)
    page.click("#swarm_form button[type=submit]")


def form_error(page: Any) -> str:
    page.wait_for_selector("#triton-form-error:not([hidden])", timeout=20_000)
    return page.inner_text("#triton-form-error")


def wait_for_sweep(page: Any, number: int) -> None:
    """The tab shows sweep `number`, afresh: none of an earlier sweep's levels."""
    page.wait_for_function(
        """n => {
            const t = document.querySelector('#triton-title');
            return t && t.textContent.startsWith('Sweep ' + n + ':') && !document.querySelector(
                '#triton-levels tr.triton-level:not(.triton-measuring)');
        }""",
        arg=number,
        timeout=20_000,
    )


def wait_mid_sweep(page: Any, finished: int) -> None:
    """`finished` levels in the table and the next one being measured."""
    page.wait_for_function(
        """n => document.querySelectorAll(
                '#triton-levels tr.triton-level:not(.triton-measuring)').length === n
            && document.querySelector('#triton-levels tr.triton-measuring') !== null""",
        arg=finished,
        timeout=30_000,
    )


def wait_for_status(page: Any, prefix: str) -> None:
    page.wait_for_function(
        "p => document.querySelector('#triton-status').textContent.startsWith(p)",
        arg=prefix,
        timeout=30_000,
    )


def level_rows(page: Any) -> list[tuple[int, str]]:
    return [
        (
            int(r.get_attribute("data-concurrency")),
            r.query_selector(".triton-status-cell").text_content(),
        )
        for r in page.query_selector_all(FINISHED_ROW)
    ]


def results_folder(page: Any) -> str:
    return page.inner_text("#triton-results-folder")


def download_csv(page: Any) -> str:
    with page.expect_download() as download:
        page.click("#triton-file-csv")
    return Path(download.value.path()).read_text()


def header_and_rows(text: str) -> tuple[list[str], int]:
    rows = list(csv.reader(io.StringIO(text)))
    return rows[0], len(rows) - 1


# -- the runs ------------------------------------------------------------------------------
def bad_input_is_said_in_the_form(page: Any, ui: WebUI) -> None:
    start_from_form(page, model="no_such_model", concurrency_range="1:2")
    message = form_error(page)
    assert "no_such_model" in message
    assert page.is_visible("#swarm_form")  # the form stays open, to be corrected
    page.wait_for_selector("#triton-error:not([hidden])", state="attached")  # the tab too
    assert "no_such_model" in page.inner_text("#triton-error")
    page.screenshot(path=str(SHOTS / f"{ui.cwd.name}-bad-model.png"))

    start_from_form(page, model="sleep_5ms", concurrency_range="1:x")
    page.wait_for_function(
        "() => document.querySelector('#triton-form-error').textContent.includes('1:x')"
    )
    assert "--concurrency-range" in form_error(page)
    assert ui.state()["sweep"] is None  # nothing started
    assert not (ui.cwd / "results").exists() or not any((ui.cwd / "results").iterdir())


def sweep_fills_the_tab(page: Any, ui: WebUI, headless_csv: str, number: int) -> str:
    start_from_form(page, model="sleep_5ms", concurrency_range="1:2")
    wait_for_sweep(page, number)
    assert page.is_visible("#triton-pane")  # Start shows the Triton tab
    wait_mid_sweep(page, finished=1)
    assert level_rows(page)[0][0] == 1
    assert "window" in page.inner_text("#triton-status")
    assert page.is_visible("#triton-live")
    page.screenshot(path=str(SHOTS / f"{ui.cwd.name}-mid-sweep.png"), full_page=True)

    wait_for_status(page, "Finished")
    assert [c for c, _ in level_rows(page)] == [1, 2]
    assert all(status in ("stable", "unstable") for _, status in level_rows(page))
    assert len(page.query_selector_all("#triton-curve g.triton-point")) == 2
    assert page.query_selector("#triton-curve circle.triton-pick") is not None
    assert page.query_selector_all("#triton-recommendation li")
    page.screenshot(path=str(SHOTS / f"{ui.cwd.name}-finished.png"), full_page=True)

    # Locust's own statistics: one row per level (a worker reports them every few seconds).
    levels = {"sleep_5ms c=1", "sleep_5ms c=2"}
    wait_until(lambda: levels <= ui.request_names(), 15, f"no rows {levels}", ui.log)

    folder = results_folder(page)
    assert folder.startswith("results/") and folder.rstrip("/").endswith("-sleep_5ms")
    downloaded = download_csv(page)
    assert downloaded == (ui.cwd / folder / "perf.csv").read_text()
    header, rows = header_and_rows(downloaded)
    assert header == PA_HEADER.split(",")
    assert (header, rows) == header_and_rows(headless_csv)
    assert page.query_selector("#triton-file-json[href]") is not None
    assert page.query_selector("#triton-file-report[href]") is not None
    return folder


def stop_keeps_the_finished_levels(page: Any, ui: WebUI, number: int, earlier: str) -> str:
    # -s 0 never settles: each level runs its 3 windows, time to press Stop mid-sweep.
    start_from_form(page, concurrency_range="1:4", stability_pct="0", max_trials="3")
    wait_for_sweep(page, number)
    folder = results_folder(page)
    assert folder != earlier  # a new sweep, a new folder
    wait_mid_sweep(page, finished=1)
    page.click("#box_stop a.stop-button")
    wait_for_status(page, "Stopped")
    rows = level_rows(page)
    *kept, (interrupted, status) = rows
    assert kept and all(s == "unstable" for _, s in kept)
    assert status.startswith("interrupted")
    assert "interrupted" in page.inner_text("#triton-status")
    page.screenshot(path=str(SHOTS / f"{ui.cwd.name}-stopped.png"), full_page=True)

    levels = json.loads((ui.cwd / folder / "perf.json").read_text())["levels"]
    assert [lvl["status"] for lvl in levels] == ["unstable"] * len(kept) + ["interrupted"]
    assert levels[-1]["concurrency"] == interrupted
    # The sweep stops before Locust stops the users: no empty window in a kept level.
    assert all(w["request_count"] > 0 for lvl in levels[:-1] for w in lvl["windows"])
    assert header_and_rows((ui.cwd / folder / "perf.csv").read_text())[1] == len(kept)
    return folder


def start_again(page: Any, ui: WebUI, number: int, earlier: str) -> None:
    start_from_form(page, concurrency_range="1", stability_pct="10", max_trials="4")
    wait_for_sweep(page, number)
    assert results_folder(page) != earlier
    wait_for_status(page, "Finished")
    assert [c for c, _ in level_rows(page)] == [1]


# -- the tests -----------------------------------------------------------------------------
def test_one_process(
    triton_server: TritonServer, browser: Any, headless_csv: str, tmp_path: Path
) -> None:
    (tmp_path / "one").mkdir()
    ui = WebUI(tmp_path / "one", triton_server.http_url)
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    try:
        page.goto(ui.base)
        page.wait_for_selector("#triton-tab-link.current", state="attached")  # opens on it
        assert "can't be set in the Web UI" not in page.content()
        assert page.input_value("#host") == triton_server.http_url  # the Host box is the URL
        bad_input_is_said_in_the_form(page, ui)
        first = sweep_fills_the_tab(page, ui, headless_csv, number=1)
        stopped = stop_keeps_the_finished_levels(page, ui, number=2, earlier=first)
        start_again(page, ui, number=3, earlier=stopped)
        # Locust's report names the server it measured.
        report = urllib.request.urlopen(f"{ui.base}/stats/report", timeout=10).read().decode()
        assert triton_server.http_url in report
    finally:
        page.close()
        ui.close()


def test_master_and_two_workers(
    triton_server: TritonServer, browser: Any, headless_csv: str, tmp_path: Path
) -> None:
    (tmp_path / "cluster").mkdir()
    ui = WebUI(tmp_path / "cluster", triton_server.http_url, workers=2)
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    try:
        page.goto(ui.base)
        bad_input_is_said_in_the_form(page, ui)
        first = sweep_fills_the_tab(page, ui, headless_csv, number=1)
        stop_keeps_the_finished_levels(page, ui, number=2, earlier=first)
    finally:
        page.close()
        ui.close()
