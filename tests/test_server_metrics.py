"""--collect-metrics without a server: Triton's exposition text parsed and aggregated as
perf_analyzer aggregates it, and written where perf_analyzer writes it (console, CSV).

The data: tests/data/triton_metrics_scrape_{1,2,3}.txt are three scrapes of the embedded
Triton 2.51 server (`curl HOST:METRICS_PORT/metrics`, 2.2 s apart: Triton refreshes its
CPU figures every 2 s). pa_collect_metrics.{csv,stdout,stderr} are what NVIDIA's
perf_analyzer 2.51 wrote against that server:

    perf_analyzer -m sleep_5ms -u localhost:HTTP_PORT --concurrency-range 1:2 -p 300 \\
        --collect-metrics --metrics-url localhost:METRICS_PORT/metrics --verbose-csv \\
        -f pa_collect_metrics.csv

The GPU figures come from perf_analyzer's own unit tests (r24.10: test_triton_client_backend.cc
for the parsing, test_inference_profiler.cc for MergeMetrics), since our server has no GPU."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import pytest

from analysis.console import level_block, prometheus_lines
from analysis.csv_columns import CPU_METRIC_COLUMNS, GPU_METRIC_COLUMNS, header
from analysis.csv_writer import csv_text
from analysis.flag_table import FLAGS, from_values
from analysis.results import LevelResult, SweepResult
from analysis.server_metrics import (
    Scrape,
    ServerMetrics,
    average_per_gpu,
    default_metrics_url,
    metrics_http_url,
    missing_metric_warnings,
    parse_scrape,
)
from analysis.settings import SweepSettings
from analysis.stabiliser import Spread, Verdict
from analysis.statistics import wanted_percentiles
from analysis.window import Window, merge
from tests.synthetic import window
from triton_locust.cli import build_parser
from triton_locust.pa_flags import from_pa_namespace

DATA = Path(__file__).parent / "data"
SCRAPES = [DATA / f"triton_metrics_scrape_{i}.txt" for i in (1, 2, 3)]


def plain_value(path: Path, name: str) -> float:
    """A metric without labels read the plain way, apart from the parser under test."""
    for line in path.read_text().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in {path}")


def scrape(i: int, at_ns: int = 0) -> Scrape:
    return parse_scrape(SCRAPES[i].read_text(), at_ns)


# -- parsing ---------------------------------------------------------------------------------


def test_a_real_scrape_of_the_cpu_server_has_its_cpu_figures_and_no_gpu():
    s = scrape(0, at_ns=7)
    assert s.at_ns == 7
    assert s.cpu_utilization == plain_value(SCRAPES[0], "nv_cpu_utilization")
    assert s.cpu_memory_used_bytes == int(plain_value(SCRAPES[0], "nv_cpu_memory_used_bytes"))
    assert s.cpu_memory_total_bytes == int(plain_value(SCRAPES[0], "nv_cpu_memory_total_bytes"))
    assert 0 <= s.cpu_utilization <= 1
    assert 0 < s.cpu_memory_used_bytes < s.cpu_memory_total_bytes
    assert s.gpu_utilization == s.gpu_power_usage == {}
    assert s.gpu_memory_used_bytes == s.gpu_memory_total_bytes == {}


def test_a_server_without_gpus_gets_perf_analyzers_four_warnings():
    # perf_analyzer's own stderr against the same server, line for line.
    assert (
        missing_metric_warnings(scrape(0))
        == (DATA / "pa_collect_metrics.stderr").read_text().splitlines()
    )


# perf_analyzer's ParseAndStoreMetric test texts (test_triton_client_backend.cc), one text.
PA_GPU_TEXT = """
# HELP nv_gpu_utilization GPU utilization rate [0.0 - 1.0)
# TYPE nv_gpu_utilization gauge
nv_gpu_utilization{gpu_uuid="GPU-00000000-0000-0000-0000-000000000000"} 0.41
nv_gpu_utilization{gpu_uuid="GPU-00000000-0000-0000-0000-000000000001"} 0.77
# HELP nv_gpu_power_usage GPU power usage in watts
# TYPE nv_gpu_power_usage gauge
nv_gpu_power_usage{gpu_uuid="GPU-00000000-0000-0000-0000-000000000000"} 81.619
nv_gpu_power_usage{gpu_uuid="GPU-00000000-0000-0000-0000-000000000001"} 99.217
# HELP nv_gpu_memory_used_bytes GPU used memory, in bytes
# TYPE nv_gpu_memory_used_bytes gauge
nv_gpu_memory_used_bytes{gpu_uuid="GPU-00000000-0000-0000-0000-000000000000"} 50000000
nv_gpu_memory_used_bytes{gpu_uuid="GPU-00000000-0000-0000-0000-000000000001"} 75000000
# HELP nv_gpu_memory_total_bytes GPU total memory, in bytes
# TYPE nv_gpu_memory_total_bytes gauge
nv_gpu_memory_total_bytes{gpu_uuid="GPU-00000000-0000-0000-0000-000000000000"} 1000000000
nv_gpu_memory_total_bytes{gpu_uuid="GPU-00000000-0000-0000-0000-000000000001"} 2000000000
"""
GPU0, GPU1 = "GPU-00000000-0000-0000-0000-000000000000", "GPU-00000000-0000-0000-0000-000000000001"


def test_gpu_metrics_parse_per_uuid_as_perf_analyzers_tests_expect():
    s = parse_scrape(PA_GPU_TEXT, 0)
    assert s.gpu_utilization == {GPU0: 0.41, GPU1: 0.77}
    assert s.gpu_power_usage == {GPU0: 81.619, GPU1: 99.217}
    assert s.gpu_memory_used_bytes == {GPU0: 50000000, GPU1: 75000000}
    assert s.gpu_memory_total_bytes == {GPU0: 1000000000, GPU1: 2000000000}
    assert missing_metric_warnings(s) == []
    assert s.cpu_utilization is None


def test_the_gpu_lines_of_a_real_scrape_are_read_among_its_other_metrics():
    s = parse_scrape(SCRAPES[0].read_text() + PA_GPU_TEXT, 0)
    assert s.gpu_utilization == {GPU0: 0.41, GPU1: 0.77}
    assert s.cpu_utilization == plain_value(SCRAPES[0], "nv_cpu_utilization")


def test_values_perf_analyzers_pattern_cannot_read_are_left_out():
    # Its regular expression takes digits only: NaN, infinities and negatives are absent.
    text = (
        'nv_gpu_utilization{gpu_uuid="GPU-a"} NaN\n'
        'nv_gpu_memory_used_bytes{gpu_uuid="GPU-a"} +Inf\n'
        "nv_cpu_utilization -1\n"
    )
    s = parse_scrape(text, 0)
    assert s.gpu_utilization == s.gpu_memory_used_bytes == {} and s.cpu_utilization is None


def test_a_malformed_metric_line_is_a_value_error_naming_the_format():
    with pytest.raises(ValueError, match="exposition format"):
        parse_scrape('nv_cpu_utilization{gpu_uuid="x" 0.5\n', 0)


# -- aggregation -----------------------------------------------------------------------------


def test_cpu_figures_aggregate_as_perf_analyzers_gpu_ones_average_max_max():
    m = ServerMetrics(tuple(scrape(i, at_ns=i) for i in range(3)))
    utils = [plain_value(p, "nv_cpu_utilization") for p in SCRAPES]
    used = [int(plain_value(p, "nv_cpu_memory_used_bytes")) for p in SCRAPES]
    total = [int(plain_value(p, "nv_cpu_memory_total_bytes")) for p in SCRAPES]
    assert m.cpu_utilization == (utils[0] + utils[1] + utils[2]) / 3  # summed in scrape order
    assert m.cpu_memory_used_bytes == max(used)
    assert m.cpu_memory_total_bytes == max(total)
    assert m.gpu_count == 0
    # Right after the server starts Triton says 0 until its first CPU poll.
    unpolled = replace(scrape(0, at_ns=0), cpu_memory_total_bytes=0)
    assert ServerMetrics((unpolled, scrape(1, at_ns=1))).cpu_memory_total_bytes == total[1]


def test_merge_metrics_as_perf_analyzers_test_all_metrics_present():
    # test_inference_profiler.cc, "testing the MergeMetrics function", both subcases.
    a = Scrape(0, {"gpu0": 0.45}, {"gpu0": 70.0}, {"gpu0": 10000}, {"gpu0": 100000})
    b = Scrape(1, {"gpu0": 0.52}, {"gpu0": 84.5}, {"gpu0": 12000}, {"gpu0": 100000})
    m = ServerMetrics((a, b))
    assert m.gpu_utilization == {"gpu0": pytest.approx(0.485)}
    assert m.gpu_power_usage == {"gpu0": pytest.approx(77.25)}
    assert m.gpu_memory_used_bytes == {"gpu0": 12000}
    assert m.gpu_memory_total_bytes == {"gpu0": 100000}
    missing = ServerMetrics(
        (
            Scrape(0, {"gpu0": 0.45}, {}, {"gpu0": 10000}, {}),
            Scrape(1, {"gpu0": 0.52}, {}, {"gpu0": 12000}, {}),
        )
    )
    assert missing.gpu_utilization == {"gpu0": pytest.approx(0.485)}
    assert missing.gpu_power_usage == missing.gpu_memory_total_bytes == {}
    assert missing.gpu_memory_used_bytes == {"gpu0": 12000}


def test_average_per_gpu_as_perf_analyzers_test_all_gpus_present():
    # test_inference_profiler.cc, "testing the GetMetricAveragePerGPU function".
    maps = [
        {"gpu0": 0.45, "gpu1": 0.23},
        {"gpu0": 0.52, "gpu1": 0.27},
        {"gpu0": 0.56, "gpu1": 0.30},
    ]
    # doctest::Approx's tolerance: 100 float epsilons, scaled by 1 + the larger value.
    close = 100 * 1.1920929e-07 * 2
    assert average_per_gpu(maps) == {
        "gpu0": pytest.approx(0.51, abs=close),
        "gpu1": pytest.approx(0.26666, abs=close),
    }


def test_a_gpu_missing_from_some_scrapes_averages_over_those_that_have_it():
    maps = [{"gpu0": 0.4}, {"gpu0": 0.6, "gpu1": 0.2}]
    assert average_per_gpu(maps) == {"gpu0": pytest.approx(0.5), "gpu1": 0.2}


def with_scrapes(w: Window, *indices: int, failed: int = 0) -> Window:
    scrapes = tuple(scrape(i, at_ns=i) for i in indices)
    return replace(w, server_metrics=ServerMetrics(scrapes, failed, "boom" if failed else ""))


def test_a_level_pools_its_windows_scrapes_then_aggregates_once():
    # perf_analyzer merges the Metrics of every merged window, then averages: with one
    # scrape in the first window and two in the second, that is not the mean of the means.
    w1, w2 = with_scrapes(window(10, 5000), 0), with_scrapes(window(10, 5000), 1, 2, failed=1)
    merged = merge([w1, w2])
    utils = [plain_value(p, "nv_cpu_utilization") for p in SCRAPES]
    assert merged.server_metrics is not None
    assert merged.server_metrics.cpu_utilization == pytest.approx(sum(utils) / 3)
    assert merged.server_metrics.failed == 1
    assert merge([window(10, 5000)]).server_metrics is None  # not collected


def test_the_json_keeps_the_scrapes_and_gives_them_back():
    w = with_scrapes(window(10, 5000), 0, 1, failed=2)
    data = w.to_dict()["server_metrics"]
    assert data["scrapes"] == 2 and data["failed_scrapes"] == 2 and data["last_error"] == "boom"
    assert data["cpu_utilization"] == w.server_metrics.cpu_utilization
    assert "gpu_utilization" not in data["samples"][0]  # a server without GPUs: no GPU keys
    assert Window.from_dict(w.to_dict()).server_metrics == w.server_metrics
    gpu = replace(w, server_metrics=ServerMetrics((parse_scrape(PA_GPU_TEXT, 5),)))
    assert Window.from_dict(gpu.to_dict()).server_metrics == gpu.server_metrics


# -- the flags -------------------------------------------------------------------------------


def settings_of(*argv: str) -> SweepSettings:
    return from_pa_namespace(build_parser().parse_args(["profile", "-m", "m", *argv]))[0]


@pytest.mark.parametrize(
    ("url", "metrics_url"),
    [
        ([], "localhost:8002/metrics"),  # perf_analyzer's default
        (["-u", "triton.example:9000"], "triton.example:8002/metrics"),
        (["-u", "[::1]:9000"], "[::1]:8002/metrics"),  # perf_analyzer's cut breaks this one
        (["-u", "https://triton.example"], "triton.example:8002/metrics"),
    ],
)
def test_the_metrics_url_defaults_to_the_servers_host_port_8002(url, metrics_url):
    s = settings_of(*url, "--collect-metrics")
    assert (s.collect_metrics, s.metrics_url, s.metrics_interval_ms) == (True, metrics_url, 1000)


def test_without_collect_metrics_nothing_is_scraped():
    s = settings_of()
    assert (s.collect_metrics, s.metrics_url) == (False, "")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--metrics-url", "h:1/metrics"],
            "Must specify --collect-metrics when using the --metrics-url option.",
        ),
        (
            ["--metrics-interval", "500"],
            "Must specify --collect-metrics when using the --metrics-interval option.",
        ),
        (
            ["--collect-metrics", "--metrics-interval", "0"],
            "Failed to parse --metrics-interval. The value must be > 0 msecs.",
        ),
        (["--collect-metrics", "--metrics-url", "ftp://h/m"], "ftp:// is not supported"),
        (["--collect-metrics", "--metrics-url", "h:port/m"], "expected [http://]HOST[:PORT]"),
    ],
)
def test_perf_analyzers_checks_of_the_metrics_flags_in_its_words(argv, message):
    with pytest.raises(ValueError) as refused:
        settings_of(*argv)
    assert message in str(refused.value)
    assert "\n" not in str(refused.value)


def test_the_metrics_url_is_fetched_as_libcurl_reads_it():
    assert metrics_http_url("localhost:8002/metrics") == "http://localhost:8002/metrics"
    assert metrics_http_url("https://h.example/metrics") == "https://h.example/metrics"
    assert metrics_http_url("[::1]:8002/metrics") == "http://[::1]:8002/metrics"
    assert default_metrics_url("::1") == "[::1]:8002/metrics"


def test_the_web_forms_empty_boxes_are_unset():
    # The Locust side hands over "" for an empty box: no metrics flag is then given.
    values = {f.dest: f.default for f in FLAGS} | {
        "model": "m",
        "metrics_url": "",
        "metrics_interval_ms": "",
    }
    settings, _ = from_values(values.__getitem__)
    assert not settings.collect_metrics


# -- where perf_analyzer writes them ---------------------------------------------------------


def level_with(metrics: ServerMetrics, concurrency: int = 1) -> LevelResult:
    w = replace(window(10, 5000), server_metrics=metrics)
    return LevelResult(concurrency, Verdict.STABLE, [w], merge([w]), Spread(1.0, 1.0))


def collecting(**kw) -> SweepSettings:
    return SweepSettings(model="sleep_5ms", collect_metrics=True, metrics_url="h:8002/m", **kw)


def test_the_console_block_of_a_cpu_server_is_perf_analyzers_then_ours():
    pa = (DATA / "pa_collect_metrics.stdout").read_text().splitlines()
    first = pa.index("  Server Prometheus Metrics: ")
    pa_block = pa[first : pa.index("    Total GPU Memory:", first) + 1]
    metrics = ServerMetrics(tuple(scrape(i, at_ns=i) for i in range(3)))
    text = level_block(level_with(metrics), collecting()).splitlines()
    ours = text[text.index("  Server Prometheus Metrics: ") :]
    assert ours[: len(pa_block)] == pa_block
    assert ours[len(pa_block) :] == [
        f"    Avg CPU Utilization: {metrics.cpu_utilization * 100:.6g}%",
        f"    Max CPU Memory Usage: {metrics.cpu_memory_used_bytes} bytes",
        f"    Total CPU Memory: {metrics.cpu_memory_total_bytes} bytes",
    ]
    # Without --collect-metrics, no block.
    plain = level_block(level_with(metrics), SweepSettings(model="sleep_5ms"))
    assert "Prometheus" not in plain


def test_gpu_lines_per_uuid_as_report_prometheus_metrics_prints_them():
    lines = prometheus_lines(ServerMetrics((parse_scrape(PA_GPU_TEXT, 0),)))
    assert lines == [
        "    Avg GPU Utilization:",
        f"      {GPU0} : 41%",
        f"      {GPU1} : 77%",
        "    Avg GPU Power Usage:",
        f"      {GPU0} : 81.619 watts",
        f"      {GPU1} : 99.217 watts",
        "    Max GPU Memory Usage:",
        f"      {GPU0} : 50000000 bytes",
        f"      {GPU1} : 75000000 bytes",
        "    Total GPU Memory:",
        f"      {GPU0} : 1000000000 bytes",
        f"      {GPU1} : 2000000000 bytes",
    ]


def test_over_sixteen_gpus_the_console_points_to_the_csv():
    many = {f"GPU-{i:02d}": 0.5 for i in range(17)}
    lines = prometheus_lines(ServerMetrics((Scrape(0, gpu_utilization=many),)))
    assert lines == [
        "Too many GPUs on system to print out individual Prometheus metrics, use the CSV "
        "output feature to see metrics."
    ]


def test_failed_scrapes_get_a_warning_line_of_their_own():
    failed = ServerMetrics((scrape(0),), failed=2, last_error="Unable to connect to Metrics")
    text = level_block(level_with(failed), collecting())
    warning = [line for line in text.splitlines() if "Failed scrapes" in line]
    assert warning == [
        "  [WARNING] Failed scrapes of the metrics endpoint: 2 in 1 of 1 window, 2 in the "
        "reported windows (last: Unable to connect to Metrics); the metrics above leave them out"
    ]


def csv_rows(settings: SweepSettings, verbose: bool, metrics: ServerMetrics) -> list[list[str]]:
    result = SweepResult(settings, [level_with(metrics, 1), level_with(metrics, 2)])
    return list(csv.reader(csv_text(result, verbose=verbose).splitlines()))


def test_the_verbose_csv_header_is_perf_analyzers_then_our_cpu_columns():
    with (DATA / "pa_collect_metrics.csv").open() as f:
        pa_rows = list(csv.reader(f))
    metrics = ServerMetrics(tuple(scrape(i, at_ns=i) for i in range(3)))
    rows = csv_rows(collecting(), verbose=True, metrics=metrics)
    assert rows[0] == pa_rows[0] + list(CPU_METRIC_COLUMNS)
    # A server without GPUs: perf_analyzer's four cells empty, as in its own rows.
    gpu_cells = slice(len(pa_rows[0]) - len(GPU_METRIC_COLUMNS), len(pa_rows[0]))
    assert all(
        row[gpu_cells] == pa_row[gpu_cells] == [""] * 4
        for row, pa_row in zip(rows[1:], pa_rows[1:], strict=True)
    )
    assert rows[1][len(pa_rows[0]) :] == [
        f"{metrics.cpu_utilization:.6g}",
        str(metrics.cpu_memory_used_bytes),
        str(metrics.cpu_memory_total_bytes),
    ]


def test_metrics_columns_come_with_verbose_csv_only_as_perf_analyzers():
    metrics = ServerMetrics((scrape(0),))
    assert csv_rows(collecting(), verbose=False, metrics=metrics)[0] == header(
        wanted_percentiles(None), False, True
    )


def test_gpu_cells_are_uuid_value_pairs_as_write_gpu_metrics_writes_them():
    rows = csv_rows(
        collecting(), verbose=True, metrics=ServerMetrics((parse_scrape(PA_GPU_TEXT, 0),))
    )
    start = rows[0].index(GPU_METRIC_COLUMNS[0])
    assert rows[1][start : start + 4] == [
        f"{GPU0}:0.41;{GPU1}:0.77;",
        f"{GPU0}:81.619;{GPU1}:99.217;",
        f"{GPU0}:50000000;{GPU1}:75000000;",
        f"{GPU0}:1000000000;{GPU1}:2000000000;",
    ]
    assert rows[1][-3:] == ["", "", ""]  # no CPU figures in that text


def test_in_request_rate_mode_our_columns_follow_all_of_perf_analyzers():
    cols = header([50, 90, 95, 99], True, True, request_rate=True, metrics=True)
    gpu_at = cols.index(GPU_METRIC_COLUMNS[0])
    assert cols[gpu_at - 1] == "response wait"  # perf_analyzer's own order
    assert cols[-3:] == list(CPU_METRIC_COLUMNS)


# -- the report ------------------------------------------------------------------------------


def test_the_report_has_a_server_metrics_section_and_its_summary_the_aggregates():
    from analysis.report.html import report_html
    from analysis.report.json_out import summary_dict
    from analysis.report.recommend import recommend
    from analysis.report.summary import from_result

    cpu = ServerMetrics(tuple(scrape(i, at_ns=i) for i in range(3)))
    gpu = ServerMetrics((parse_scrape(PA_GPU_TEXT, 0),))
    result = SweepResult(collecting(), [level_with(cpu, 1), level_with(gpu, 2)])
    summary = from_result(result)
    page = report_html(summary, recommend(summary))
    section = page[page.index("<h2>Server metrics</h2>") :]
    assert f"{cpu.cpu_utilization:.1%}" in section
    assert f'<td class="text">{GPU1}</td><td>77.0%</td><td>99.2 W</td>' in section
    levels = summary_dict(summary, recommend(summary))["levels"]
    assert levels[0]["server_metrics"]["cpu_utilization"] == cpu.cpu_utilization
    assert "samples" not in levels[0]["server_metrics"]
    plain = from_result(SweepResult(SweepSettings(model="m"), [level_with(cpu)]))
    assert "Server metrics" not in report_html(
        replace(plain, levels=[replace(r, server_metrics=None) for r in plain.levels]),
        recommend(plain),
    )


def test_the_request_rate_report_has_the_section_too():
    from analysis.report.rate import rate_report_html
    from analysis.settings import RateSettings

    cpu = ServerMetrics(tuple(scrape(i, at_ns=i) for i in range(3)))
    level = replace(level_with(cpu), request_rate=50.0)
    settings = collecting(rate=RateSettings(start=50.0, end=50.0))
    page = rate_report_html(SweepResult(settings, [level]))
    section = page[page.index("<h2>Server metrics</h2>") :]
    assert "<th>request rate</th>" in section and f"{cpu.cpu_utilization:.1%}" in section


def test_the_web_uis_start_form_takes_the_metrics_options(monkeypatch):
    import sys

    from locust.argument_parser import parse_options
    from locust.env import Environment

    from tests.test_flag_table import LOCUSTFILE, _Idle, _StartForm
    from triton_user.options import from_locust_options
    from triton_user.user import TritonUser

    argv = ["-f", LOCUSTFILE, "--model", "identity_fp32", "--triton-url", "triton.example:9000"]
    monkeypatch.setattr(sys, "argv", ["locust", *argv])
    environment = Environment(user_classes=[TritonUser], parsed_options=parse_options(argv))
    environment.shape_class = _Idle()
    runner = environment.create_local_runner()
    try:
        client = environment.create_web_ui("127.0.0.1", 0).app.test_client()
        form = _StartForm()
        form.feed(client.get("/").get_data(as_text=True))
        assert form.fields["triton_collect_metrics"] == "no"
        assert form.fields["triton_metrics_url"] == form.fields["triton_metrics_interval_ms"] == ""
        form.fields["triton_collect_metrics"] = "yes"
        form.fields["triton_metrics_interval_ms"] = "250"
        assert client.post("/swarm", data=form.fields).get_json()["success"]
    finally:
        runner.quit()
    settings, _ = from_locust_options(environment.parsed_options)
    assert (settings.collect_metrics, settings.metrics_url, settings.metrics_interval_ms) == (
        True,
        "triton.example:8002/metrics",
        250,
    )
