"""--binary-search as perf_analyzer 2.51 runs it (inference_profiler.h, Profile with
SearchMode::BINARY): START, END, then midpoints, STEP the precision; its argument checks;
outputs that cope with levels measured out of order; and a search on the real server."""

from __future__ import annotations

import csv
import io
import itertools
import json
from dataclasses import replace

import pytest

from analysis import console
from analysis.csv_writer import csv_text
from analysis.flag_table import NOT_YET
from analysis.records import Records
from analysis.report.html import write_report
from analysis.report.rate import by_rate
from analysis.report.settings_words import settings_rows
from analysis.report.summary import from_result
from analysis.results import LevelResult, SweepResult
from analysis.search import binary_levels, planned_levels, sweep_levels
from analysis.settings import RateSettings, SweepSettings
from analysis.stabiliser import Spread, Verdict
from analysis.window import merge, summarize
from tests.helpers import expected_exit, profile
from tests.test_sweep_driver import driver
from triton_locust.cli import build_parser
from triton_locust.pa_flags import from_pa_namespace
from triton_locust.server import free_ports
from triton_user.options import from_locust_options, locust_namespace


def search(start, end, step, meets):
    """The levels binary_levels gives when `meets(level)` is each level's verdict, and the
    order in which the verdicts were asked for."""
    asked = []

    def met(level):
        asked.append(level)
        return meets(level)

    return list(binary_levels(start, end, step, met)), asked


# -- the order of levels (pure) ----------------------------------------------------------------


def test_it_measures_start_then_end_then_halves_towards_the_highest_level_under_l():
    # sleep_5ms: about 1.8 ms more per request in flight past 3; -l between levels 7 and 8.
    levels, asked = search(1, 16, 1, lambda c: c <= 7)
    assert levels == [1, 16, 8, 4, 6, 7]
    assert asked == levels  # each verdict asked for once, after its level was measured


def test_step_is_the_precision_it_stops_at():
    assert search(1, 16, 4, lambda c: c <= 7)[0] == [1, 16, 8, 4]  # 8 - 4 is not above 4
    assert search(1, 16, 2, lambda c: c <= 7)[0] == [1, 16, 8, 4, 6]


def test_concurrency_midpoints_are_floored_as_perf_analyzers_size_t():
    assert search(1, 4, 1, lambda c: c <= 2)[0] == [1, 4, 2, 3]  # (1 + 4) / 2 is 2


def test_rates_are_halved_as_floats():
    # What perf_analyzer 2.51 visited on sleep_5ms with --request-rate-range 100:700:25 -l 7.
    levels, _ = search(100.0, 700.0, 25.0, lambda r: r <= 550)
    assert levels == [100.0, 700.0, 400.0, 550.0, 625.0, 587.5, 568.75]


def test_start_over_the_threshold_ends_the_search_at_once():
    assert search(4, 16, 1, lambda c: False) == ([4], [4])


def test_end_under_the_threshold_ends_the_search_after_it():
    assert search(4, 16, 1, lambda c: True) == ([4, 16], [4, 16])


def test_start_equal_to_end_is_measured_twice_as_perf_analyzer_does():
    assert search(5, 5, 1, lambda c: True)[0] == [5, 5]
    assert search(5, 5, 1, lambda c: False)[0] == [5]


def test_an_unstable_level_is_a_miss_like_one_over_l():
    # perf_analyzer's meets_threshold is false for both: the search goes below it.
    assert search(1, 16, 1, lambda c: c != 8 and c <= 10)[0] == [1, 16, 8, 4, 6, 7]


@pytest.mark.parametrize("start, end", [(1, 16), (2, 9), (3, 3), (1, 2), (5, 40)])
def test_with_step_1_it_finds_the_highest_level_meeting_the_threshold(start, end):
    for limit in range(start - 1, end + 2):
        levels, _ = search(start, end, 1, lambda c, limit=limit: c <= limit)
        assert all(start <= c <= end for c in levels)
        if start < end:
            assert len(set(levels)) == len(levels)  # no level twice
        met = [c for c in levels if c <= limit]
        truth = [c for c in range(start, end + 1) if c <= limit]
        assert max(met, default=None) == max(truth, default=None)
        if truth and truth[-1] < end:  # the first level that misses was measured too
            assert truth[-1] + 1 in levels


def test_with_a_coarser_step_the_last_hit_and_miss_are_step_apart_at_most():
    for start, end, step in itertools.product([1, 3], [20, 33], [2, 3, 5]):
        for limit in range(start, end):
            levels, _ = search(start, end, step, lambda c, limit=limit: c <= limit)
            hit = max(c for c in levels if c <= limit)
            miss = min(c for c in levels if c > limit)
            assert hit <= limit < miss and miss - hit <= step


def test_a_float_step_below_the_gap_between_doubles_still_ends():
    # perf_analyzer would measure the same rate for ever; we stop when nothing is between.
    levels, _ = search(1.0, 2.0, 5e-324, lambda r: r <= 1.3)
    assert 50 < len(levels) < 100
    assert len(set(levels)) == len(levels)


def test_sweep_levels_is_linear_by_default_and_binary_when_asked():
    linear = SweepSettings(model="m", concurrency_start=2, concurrency_end=8, concurrency_step=3)
    assert list(sweep_levels(linear, met=lambda _: True)) == [2, 5, 8]
    binary = SweepSettings(model="m", concurrency_end=16, search="binary")
    assert list(sweep_levels(binary, met=lambda c: c <= 7)) == [1, 16, 8, 4, 6, 7]
    rates = SweepSettings(model="m", rate=RateSettings(100.0, 700.0, 25.0), search="binary")
    assert list(sweep_levels(rates, met=lambda r: r <= 550))[-1] == 568.75


def test_the_driver_measures_the_levels_in_that_order_and_completes():
    # Synthetic load: latency c ms at concurrency c; -l 8 is met up to 7.
    d = driver(
        lambda c, n: 1000.0 * c,
        concurrency_end=16,
        latency_threshold_ms=8.0,
        search="binary",
    )
    result = d.run()
    assert [lvl.concurrency for lvl in result.levels] == [1, 16, 8, 4, 6, 7]
    assert [lvl.concurrency for lvl in result.levels if lvl.stable] == [1, 4, 6, 7]
    assert {lvl.verdict for lvl in result.levels if not lvl.stable} == {Verdict.OVER_THRESHOLD}
    assert result.stop_reason == "completed"  # over -l is part of the search, not its end
    assert d.load.history == [1, 16, 8, 4, 6, 7]


# -- the flag -----------------------------------------------------------------------------------


def settings_of(*argv: str) -> SweepSettings:
    return from_pa_namespace(build_parser().parse_args(["profile", "-m", "m", *argv]))[0]


def test_the_flag_is_taken_and_recorded_in_the_settings():
    assert "--binary-search" not in NOT_YET
    s = settings_of("--concurrency-range", "1:16", "-l", "15", "--binary-search")
    assert s.search == "binary"
    assert settings_of("--concurrency-range", "1:16", "-l", "15").search == "linear"
    assert SweepSettings.from_dict(s.to_dict()) == s
    assert s.to_dict()["search"] == "binary"
    rate = settings_of("--request-rate-range", "10:100:5", "-l", "15", "--binary-search")
    assert rate.search == "binary" and rate.rate_mode


def test_a_results_file_from_before_binary_search_reads_as_linear():
    data = SweepSettings(model="m").to_dict()
    del data["search"]
    assert SweepSettings.from_dict(data).search == "linear"


def test_locusts_switch_reaches_the_same_settings():
    ns = build_parser().parse_args(
        ["profile", "-m", "m", "--concurrency-range", "1:16", "-l", "15", "--binary-search"]
    )
    assert from_locust_options(locust_namespace(ns)) == from_pa_namespace(ns)


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["--concurrency-range", "1:16"],
            "--binary-search: The --latency-threshold cannot be 0 for binary search mode.",
        ),
        (
            ["--concurrency-range", "1:16", "-l", "0"],
            "--binary-search: The --latency-threshold cannot be 0 for binary search mode.",
        ),
        (
            ["--concurrency-range", "1:0", "-l", "10"],
            "--binary-search: The end of the range can not be 0 (or 0.0) for binary search mode.",
        ),
        (
            ["--request-rate-range", "10:0:5", "-l", "10"],
            "--binary-search: The end of the range can not be 0 (or 0.0) for binary search mode.",
        ),
        (
            # A lone START: END is 1, as perf_analyzer defaults it.
            ["--concurrency-range", "4", "-l", "10"],
            "--binary-search: The end of the range can not be less than start of the range "
            "for binary search mode.",
        ),
        (
            ["--request-rate-range", "50:20", "-l", "10"],
            "--binary-search: The end of the range can not be less than start of the range "
            "for binary search mode.",
        ),
        # perf_analyzer's own check comes first: END 0 and no -l.
        (["--concurrency-range", "1:0"], "--concurrency-range with END 0 needs -l"),
    ],
)
def test_perf_analyzers_checks_in_its_words(argv, message):
    with pytest.raises(ValueError) as error:
        settings_of(*argv, "--binary-search")
    assert str(error.value).startswith(message)


def test_an_intervals_file_has_no_range_to_search(tmp_path):
    intervals = tmp_path / "intervals.txt"
    intervals.write_text("1000\n2000\n")
    with pytest.raises(ValueError, match="--binary-search: --request-intervals is one level"):
        settings_of("--request-intervals", str(intervals), "-l", "10", "--binary-search")


def test_the_command_line_says_it_in_one_line_and_exits_2():
    url = f"127.0.0.1:{free_ports(1)[0]}"  # nothing listens: the check comes before any load
    run = profile(
        "-m", "m", "-u", url, "--concurrency-range", "1:0", "-l", "10", "--binary-search",
        timeout=60,
    )  # fmt: skip
    assert run.returncode == 2, run.stderr
    [line] = run.stderr.strip().splitlines()
    assert "The end of the range can not be 0 (or 0.0) for binary search mode." in line


# -- outputs with levels out of order (pure) -----------------------------------------------------


def level(concurrency, throughput, latency_ms, verdict=Verdict.STABLE, rate=None):
    """One window of a second: `throughput` requests of `latency_ms` each."""
    ns = int(latency_ms * 1e6)
    rows = [(i * 1000, i * 1000 + ns, 1000, 1000, True) for i in range(int(throughput))]
    w = summarize(Records.from_rows(rows), 0, 10**9, 1, None)
    return LevelResult(concurrency, verdict, [w], merge([w], None), Spread(1, 1), request_rate=rate)


def binary_result() -> SweepResult:
    """sleep_5ms's search over 1:16:1 with -l 14, in the order measured."""
    settings = SweepSettings(
        model="sleep_5ms", concurrency_end=16, latency_threshold_ms=14.0, search="binary"
    )
    return SweepResult(
        settings,
        [
            level(1, 176, 5.6),
            level(16, 552, 29.0, Verdict.OVER_THRESHOLD),
            level(8, 550, 14.4, Verdict.OVER_THRESHOLD),
            level(4, 553, 7.2),
            level(6, 554, 10.8),
            level(7, 549, 12.7),
        ],
    )


def test_the_console_says_binary_search_where_perf_analyzer_does():
    block = console.settings_block(binary_result().settings).split("\n")
    assert block[-4:] == [
        "  Concurrency limit: 16 concurrent requests",
        "  Using Binary Search algorithm",
        "  Using synchronous calls for inference",
        "",
    ]
    assert "Binary" not in console.settings_block(SweepSettings(model="m"))


def test_the_summary_lists_the_levels_in_the_order_measured_as_perf_analyzer():
    lines = console.summary_block(binary_result()).splitlines()[1:]
    assert [line.split(",")[0] for line in lines] == [
        "Concurrency: 1",
        "Concurrency: 4",
        "Concurrency: 6",
        "Concurrency: 7",
    ]


def test_the_csv_orders_rows_by_throughput_as_perf_analyzer():
    rows = list(csv.reader(io.StringIO(csv_text(binary_result()))))[1:]
    assert [r[0] for r in rows] == ["1", "7", "4", "6"]  # 176, 549, 553, 554 infer/sec


def test_the_report_draws_the_levels_by_concurrency(tmp_path):
    result = binary_result()
    assert [r.concurrency for r in from_result(result).levels] == [1, 4, 6, 7]
    rec = write_report(result, tmp_path / "r.html", tmp_path / "r.png")
    assert rec is not None and rec.max_throughput is not None
    assert rec.max_throughput.concurrency == 6
    page = (tmp_path / "r.html").read_text()
    assert "binary (--binary-search)" in page
    assert dict(settings_rows(result.settings.to_dict()))["latency threshold"].startswith(
        "14 ms: binary search looks for the highest level under it"
    )


def test_a_level_measured_twice_start_equal_to_end_does_not_break_the_outputs(tmp_path):
    settings = SweepSettings(
        model="m", concurrency_start=3, concurrency_end=3, latency_threshold_ms=50.0,
        search="binary",
    )  # fmt: skip
    result = SweepResult(settings, [level(3, 500, 6.0), level(3, 510, 6.1)])
    assert len(list(csv.reader(io.StringIO(csv_text(result))))) == 3
    assert write_report(result, tmp_path / "r.html") is not None
    assert len(console.summary_block(result).splitlines()) == 3


def test_the_rate_report_sorts_the_rates(tmp_path):
    settings = SweepSettings(
        model="m", latency_threshold_ms=7.0, rate=RateSettings(100.0, 700.0, 200.0),
        search="binary",
    )  # fmt: skip
    result = SweepResult(
        settings,
        [
            level(4, 100, 5.7, rate=100.0),
            level(4, 550, 9.0, Verdict.OVER_THRESHOLD, rate=700.0),
            level(4, 400, 5.6, rate=400.0),
            level(4, 548, 6.4, rate=550.0),
        ],
    )
    assert [lvl.request_rate for lvl in by_rate(result)] == [100.0, 400.0, 550.0]
    assert write_report(result, tmp_path / "r.html") is None  # no concurrency to recommend
    page = (tmp_path / "r.html").read_text()
    assert page.index(">400<") < page.index(">550<")


# -- on the real server --------------------------------------------------------------------------


def replay(levels: list[dict], start, end, step) -> list:
    """The order binary_levels gives with the verdicts the run measured; it must want no
    level the run did not measure, and the run must have measured no other."""
    verdicts: dict = {}
    order: list = []
    for value in binary_levels(start, end, step, lambda v: verdicts[v]):
        assert len(order) < len(levels), f"the search wanted {value} after {order}"
        measured = levels[len(order)]
        assert measured.get("request_rate", measured["concurrency"]) == value, order
        verdicts[value] = measured["status"] == "stable"
        order.append(value)
    return order


def latencies_ms(level: dict) -> list[float]:
    """The average latency of each of the level's last 3 windows (those -l is checked on)."""
    return [w["avg_latency_us"] / 1000 for w in level["windows"][-3:] if w["avg_latency_us"]]


@pytest.fixture(scope="module")
def warm_sleep_5ms(triton_server):
    """sleep_5ms's first requests on a fresh server take tens of ms: a first level over -l
    would end the search there (perf_analyzer's --warmup-request-count is not taken yet)."""
    run = profile(
        "-m", "sleep_5ms", "-u", triton_server.http_url, "--concurrency-range", "6",
        "-p", "300", "-r", "3", "-s", "100",
    )  # fmt: skip
    assert run.returncode in (0, 1), run.stderr[-2000:]
    return triton_server


@pytest.mark.server
def test_on_sleep_5ms_it_finds_the_highest_concurrency_under_l(warm_sleep_5ms, tmp_path):
    # sleep_5ms: 3 in flight at a time, about 1.8 ms more latency per request past that:
    # -l 30 lies between the latencies at 16 (about 29 ms) and 17. Level 1 (about 5.6 ms)
    # stays under it on a loaded machine, where our client adds milliseconds of its own.
    out_csv, out_json = tmp_path / "perf.csv", tmp_path / "perf.json"
    run = profile(
        "-m", "sleep_5ms", "-u", warm_sleep_5ms.http_url, "--concurrency-range", "1:32:1",
        "--binary-search", "-l", "30", "-p", "500", "-s", "25", "-r", "8",
        "-f", str(out_csv), "--json", str(out_json),
    )  # fmt: skip
    data = json.loads(out_json.read_text())
    levels = data["levels"]
    assert run.returncode == expected_exit(levels), run.stderr[-2000:]
    assert data["settings"]["search"] == "binary" and data["stop_reason"] == "completed"
    assert "  Using Binary Search algorithm" in run.stdout.splitlines()

    # perf_analyzer's order: START, END, then midpoints, from the verdicts measured.
    visited = [lvl["concurrency"] for lvl in levels]
    assert replay(levels, 1, 32, 1) == visited
    assert visited[:3] == [1, 32, 16], run.stdout[-3000:]
    met = [lvl["concurrency"] for lvl in levels if lvl["status"] == "stable"]
    missed = [c for c in visited if c not in met]
    best = max(met)
    assert best + 1 in missed, visited  # the next level up was measured and missed -l
    assert 6 <= best <= 28, visited  # a search that landed mid-range
    for lvl in levels:
        if lvl["status"] == "stable":
            assert lvl["merged"]["avg_latency_us"] < 30_000
        elif lvl["status"] == "over_threshold":
            assert max(latencies_ms(lvl)) >= 30 or lvl["merged"]["avg_latency_us"] >= 30_000

    # The console's summary in the order measured; the CSV by throughput, as perf_analyzer.
    summary = run.stdout.split("Inferences/Second vs. Client Average Batch Latency\n")[1]
    listed = [
        int(line.split(",")[0].split(": ")[1])
        for line in summary.splitlines()
        if line.startswith("Concurrency: ")
    ]
    reported = [lvl["concurrency"] for lvl in levels if lvl["status"] in ("stable", "unstable")]
    assert listed == reported
    with out_csv.open() as f:
        rows = list(csv.DictReader(f))
    throughputs = [float(r["Inferences/Second"]) for r in rows]
    assert throughputs == sorted(throughputs)
    assert sorted(int(r["Concurrency"]) for r in rows) == sorted(reported)


@pytest.mark.server
def test_request_rates_are_searched_alike(warm_sleep_5ms, tmp_path):
    # sleep_5ms serves about 550 infer/s: 100/s takes about 6 ms, well under -l 15; at
    # 700/s the requests queue up to the 16 users' worth in flight (about 29 ms).
    out_json = tmp_path / "perf.json"
    run = profile(
        "-m", "sleep_5ms", "-u", warm_sleep_5ms.http_url, "--request-rate-range", "100:700:200",
        "--max-threads", "16", "--binary-search", "-l", "15", "-p", "500", "-s", "25", "-r", "8",
        "--json", str(out_json),
    )  # fmt: skip
    levels = json.loads(out_json.read_text())["levels"]
    assert run.returncode == expected_exit(levels), run.stderr[-2000:]
    visited = [lvl["request_rate"] for lvl in levels]
    assert replay(levels, 100.0, 700.0, 200.0) == visited
    assert visited[:3] == [100.0, 700.0, 400.0]
    # 400/s (72% busy) may go either way on a loaded machine: the order after it is replay's.
    assert [lvl["status"] for lvl in levels[:2]] == ["stable", "over_threshold"], [
        round(lvl["merged"]["avg_latency_us"]) for lvl in levels
    ]
    assert "Request Rate: 400 inference requests per seconds" in run.stdout


def test_the_levels_planned_ahead_are_unknown_for_a_binary_search():
    # The web UI says "level k of n" only when n is known before the sweep.
    linear = SweepSettings(model="m", concurrency_start=1, concurrency_end=4)
    assert planned_levels(linear) == [1, 2, 3, 4]
    assert planned_levels(replace(linear, concurrency_end=0, latency_threshold_ms=5)) is None
    assert planned_levels(replace(linear, search="binary", latency_threshold_ms=5)) is None
    rates = replace(linear, rate=RateSettings(start=100.0, end=300.0, step=100.0))
    assert planned_levels(rates) == [100.0, 200.0, 300.0]
