"""--collect-metrics against the real embedded server, beside what NVIDIA's perf_analyzer
2.51 printed and wrote with the same flags against the same server (tests/data/
pa_collect_metrics.*, recorded once from the real binary: a CI clone may not have it;
bench/compare_perf_analyzer.py --collect-metrics runs both live): the same console block
and CSV header, our CPU figures after them; the metrics endpoint
unreachable before any load is one line, and failing mid-sweep is counted, not fatal."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import gevent
import pytest

from analysis.csv_columns import CPU_METRIC_COLUMNS
from tests.helpers import REPO, expected_exit, load_levels, profile, wait_for_window
from triton_locust.server import free_ports
from triton_user.requests.metrics import MetricsScraper

pytestmark = pytest.mark.server

PA_RECORDED = REPO / "tests" / "data" / "pa_collect_metrics"
FAST = ["-p", "300", "-r", "6"]
GPU_WARNINGS = [
    f"WARNING: Unable to parse '{name}' metric."
    for name in (
        "nv_gpu_utilization",
        "nv_gpu_power_usage",
        "nv_gpu_memory_used_bytes",
        "nv_gpu_memory_total_bytes",
    )
]


def metrics_address(server) -> str:
    """--metrics-url as perf_analyzer's users write it: HOST:PORT/metrics, no scheme."""
    return f"{server.connect_host}:{server.metrics_port}/metrics"


def csv_header(path: Path) -> list[str]:
    with path.open() as f:
        return next(csv.reader(f))




def prometheus_block(stdout: str) -> list[str]:
    """The first level's "Server Prometheus Metrics" block, up to the next level."""
    lines = stdout.splitlines()
    start = lines.index("  Server Prometheus Metrics: ")
    end = next(
        (i for i in range(start + 1, len(lines)) if not lines[i].startswith("    ")), len(lines)
    )
    return lines[start:end]


def test_a_sweep_writes_perf_analyzers_metrics_and_the_cpus(triton_server, tmp_path):
    flags = [
        "-m",
        "sleep_5ms",
        "-u",
        triton_server.http_url,
        "--concurrency-range",
        "1:2",
        *FAST,
        # perf_analyzer gives up a level that does not settle, and writes no CSV then: on a
        # busy machine, windows of 300 ms may differ by more than its default 10%.
        "-s",
        "100",
        "--collect-metrics",
        "--metrics-url",
        metrics_address(triton_server),
        "--metrics-interval",
        "100",
        "--verbose-csv",
    ]
    ours_csv, ours_json = tmp_path / "ours.csv", tmp_path / "ours.json"
    pa_csv = PA_RECORDED.with_suffix(".csv")
    pa_stdout = PA_RECORDED.with_suffix(".stdout").read_text()
    pa_stderr = PA_RECORDED.with_suffix(".stderr").read_text()
    run = profile(*flags, "-f", str(ours_csv), "--json", str(ours_json))
    levels = load_levels(ours_json)
    assert run.returncode == expected_exit(levels), run.stderr[-2000:]
    assert "Traceback" not in run.stderr

    # The CSV: perf_analyzer's header, then our CPU columns; its GPU cells empty as its own.
    pa_header = csv_header(pa_csv)
    assert csv_header(ours_csv) == pa_header + list(CPU_METRIC_COLUMNS)
    with ours_csv.open() as f:
        rows = list(csv.DictReader(f))
    with pa_csv.open() as f:
        pa_rows = list(csv.DictReader(f))
    gpu_columns = pa_header[-4:]
    assert [[r[c] for c in gpu_columns] for r in rows] == [
        [r[c] for c in gpu_columns] for r in pa_rows
    ]

    # The console: perf_analyzer's block line for line (no GPU: its four headings alone),
    # then the CPU's; its warnings on stderr once, as perf_analyzer gives them.
    pa_block = prometheus_block(pa_stdout)
    ours = prometheus_block(run.stdout)
    assert ours[: len(pa_block)] == pa_block
    cpu_lines = ours[len(pa_block) :]
    assert [line.split(":")[0] for line in cpu_lines] == [
        "    Avg CPU Utilization",
        "    Max CPU Memory Usage",
        "    Total CPU Memory",
    ]
    assert run.stdout.count("  Server Prometheus Metrics: ") == len(levels) == 2
    for warning in GPU_WARNINGS:
        assert pa_stderr.splitlines().count(warning) == 1
        assert run.stderr.splitlines().count(warning) == 1

    # The JSON: every window has its scrapes, every level their aggregates; the CSV and the
    # console say the same figures.
    interval_s = 0.1
    for level in levels:
        for w in level["windows"]:
            m = w["server_metrics"]
            assert m["failed_scrapes"] == 0
            # A scrape every 100 ms over a 360 ms window: a loaded machine may delay some.
            assert 1 <= m["scrapes"] <= w["duration_ns"] / 1e9 / interval_s + 1
            times = [s["at_ns"] for s in m["samples"]]
            assert all(w["start_ns"] < t <= w["end_ns"] for t in times) and times == sorted(times)
        merged = level["merged"]["server_metrics"]
        assert merged["scrapes"] == sum(
            w["server_metrics"]["scrapes"] for w in level["windows"][-3:]
        )
        assert 0 <= merged["cpu_utilization"] <= 1
        assert 0 < merged["cpu_memory_used_bytes"] < merged["cpu_memory_total_bytes"]
        assert merged["gpu_utilization"] == {}
        row = next(r for r in rows if int(r["Concurrency"]) == level["concurrency"])
        assert int(row["Max CPU Memory Usage"]) == merged["cpu_memory_used_bytes"]
        assert float(row["Avg CPU Utilization"]) == pytest.approx(
            merged["cpu_utilization"], rel=1e-5
        )
    report = (tmp_path / "ours.html").read_text()
    assert "<h2>Server metrics</h2>" in report


def test_the_scraper_hands_each_window_the_scrapes_that_arrived_in_it(triton_server):
    scraper = MetricsScraper(triton_server.metrics_url, interval_ms=100)
    scraper.check()
    start = time.monotonic_ns()
    scraper.start()
    gevent.sleep(0.35)
    middle = time.monotonic_ns()
    gevent.sleep(0.35)
    end = time.monotonic_ns()
    first, second = scraper.take(start, middle), scraper.take(middle, end)
    scraper.stop()
    for window, (lo, hi) in ((first, (start, middle)), (second, (middle, end))):
        assert 2 <= len(window.scrapes) <= 5, window
        assert all(lo < s.at_ns <= hi for s in window.scrapes)
        assert window.failed == 0 and window.cpu_memory_total_bytes
    gevent.sleep(0.3)
    assert scraper.take(end, time.monotonic_ns()).scrapes == ()  # stopped: none since


def inference_count(server, model: str) -> int:
    url = f"http://{server.http_url}/v2/models/{model}/stats"
    with urllib.request.urlopen(url, timeout=10) as answer:
        stats = json.load(answer)["model_stats"]
    return sum(s["inference_count"] for s in stats)


def test_an_unreachable_metrics_endpoint_is_one_line_before_any_load(triton_server, tmp_path):
    port = free_ports(1)[0]
    before = inference_count(triton_server, "identity_fp32")
    run = profile(
        "-m",
        "identity_fp32",
        "-u",
        triton_server.http_url,
        "--collect-metrics",
        "--metrics-url",
        f"127.0.0.1:{port}/metrics",
        "-f",
        str(tmp_path / "perf.csv"),
        timeout=60,
    )
    assert run.returncode == 2
    # perf_analyzer's words (it mostly fails the run with them, mid-level), then why.
    assert run.stderr.strip().splitlines() == [
        f"triton-locust profile: error: Unable to connect to Metrics endpoint "
        f"127.0.0.1:{port}/metrics ([Errno 111] Connection refused)"
    ]
    assert "Request concurrency" not in run.stdout
    assert not (tmp_path / "perf.csv").exists()
    assert inference_count(triton_server, "identity_fp32") == before


def test_scrapes_failing_mid_sweep_are_counted_and_the_sweep_goes_on(triton_server, tmp_path):
    relay_port = free_ports(1)[0]
    relay = subprocess.Popen(
        [
            sys.executable,
            *("-m", "tests.tcp_relay", "--listen", "127.0.0.1", "--target", "127.0.0.1"),
            f"{relay_port}:{triton_server.metrics_port}:delay=0",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    out_json = tmp_path / "perf.json"
    try:
        assert relay.stdout is not None and relay.stdout.readline().strip() == "ready"
        sweep = subprocess.Popen(
            [
                sys.executable,
                *("-m", "triton_locust.cli", "profile", "-m", "identity_fp32"),
                *("-u", triton_server.http_url, "--concurrency-range", "1:2", *FAST, "-v"),
                *("--collect-metrics", "--metrics-url", f"127.0.0.1:{relay_port}/metrics"),
                *("--metrics-interval", "100", "--json", str(out_json)),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        seen = wait_for_window(sweep, 2)
        relay.send_signal(signal.SIGTERM)  # the endpoint goes away mid-level
        relay.wait(timeout=10)
        rest, err = sweep.communicate(timeout=120)
    finally:
        relay.kill()
    stdout = seen + rest
    levels = load_levels(out_json)
    assert sweep.returncode == expected_exit(levels), err[-2000:]
    assert [lvl["concurrency"] for lvl in levels] == [1, 2]
    windows = [w["server_metrics"] for lvl in levels for w in lvl["windows"]]
    assert windows[0]["scrapes"] > 0 and windows[0]["failed_scrapes"] == 0
    after = [w["server_metrics"] for w in levels[1]["windows"]]  # the endpoint was gone
    assert all(m["failed_scrapes"] > 0 and m["scrapes"] == 0 for m in after)
    assert (
        "Unable to connect to Metrics endpoint"
        in levels[1]["merged"]["server_metrics"]["last_error"]
    )
    # Said once on stderr, and per level on the console, on a line of its own.
    assert sum("Unable to connect to Metrics endpoint" in line for line in err.splitlines()) == 1
    assert "Traceback" not in err
    assert "  [WARNING] Failed scrapes of the metrics endpoint: " in stdout


def test_a_distributed_run_scrapes_on_the_master_alone(triton_server, tmp_path):
    out_json = tmp_path / "perf.json"
    run = profile(
        *("-m", "identity_fp32", "-u", triton_server.http_url, "--concurrency-range", "2"),
        *FAST,
        *("--processes", "2", "--collect-metrics", "--metrics-url", metrics_address(triton_server)),
        *("--metrics-interval", "100", "--json", str(out_json)),
    )
    levels = load_levels(out_json)
    assert run.returncode == expected_exit(levels), run.stderr[-2000:]
    for w in levels[0]["windows"]:
        # One scraper: at most a scrape per interval (two workers scraping would double it).
        assert 1 <= w["server_metrics"]["scrapes"] <= w["duration_ns"] / 1e8 + 1
    assert sum(line.startswith("WARNING: Unable to parse") for line in run.stderr.splitlines()) == 4


def test_locust_f_takes_the_same_options(triton_server, tmp_path):
    out_json = tmp_path / "locust.json"
    run = subprocess.run(
        [
            sys.executable,
            *("-m", "locust", "-f", "locustfiles/triton_sweep.py", "--headless"),
            *("--model", "identity_fp32", "--triton-url", triton_server.http_url),
            *("--concurrency-range", "1", "--measurement-interval", "300", "--max-trials", "6"),
            *("--collect-metrics", "--metrics-url", metrics_address(triton_server)),
            *("--metrics-interval", "200", "--results-json", str(out_json)),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=REPO,
    )
    levels = load_levels(out_json)
    assert run.returncode == expected_exit(levels), run.stderr[-2000:]
    settings = json.loads(out_json.read_text())["settings"]
    assert (settings["collect_metrics"], settings["metrics_interval_ms"]) == (True, 200)
    assert levels[0]["merged"]["server_metrics"]["cpu_memory_total_bytes"] > 0


def test_the_embedded_server_is_scraped_on_its_own_metrics_port(tmp_path):
    # Its ports are free ones, not 8002: the default URL must follow the server we started.
    out_json = tmp_path / "perf.json"
    run = profile(
        "--embedded-server", "-m", "sleep_5ms", "--concurrency-range", "1", *FAST,
        "-s", "100", "--collect-metrics", "--json", str(out_json),
    )  # fmt: skip
    (level,) = load_levels(out_json)
    assert run.returncode == expected_exit([level]), run.stderr[-2000:]
    assert level["merged"]["server_metrics"]["failed_scrapes"] == 0
    assert level["merged"]["server_metrics"]["scrapes"] >= 1
