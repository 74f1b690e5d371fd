"""A request-rate level in perf_analyzer's console lines and CSV, with ours beside them: the
latency from each request's slot and the late requests."""

from __future__ import annotations

import csv
import io

from analysis import console
from analysis.csv_writer import csv_text
from analysis.records import Records
from analysis.results import LevelResult, SweepResult
from analysis.settings import RateSettings, SweepSettings
from analysis.stabiliser import Spread, Verdict
from analysis.window import merge, summarize

MS = 1_000_000
S = 1_000_000_000
SETTINGS = SweepSettings(model="m", percentile=95, rate=RateSettings(100.0, 200.0, 100.0))


def level(rate: float, late_every: int, wait_ms: int) -> LevelResult:
    """A second of requests at `rate`, in one window of 2 s: every `late_every`-th left
    `wait_ms` after its slot (every user was busy); each took 5 ms from its send."""
    rows = []
    n = int(rate)
    for i in range(n):
        slot = (i + 1) * S // n
        start = slot + (wait_ms * MS if i % late_every == 0 else 50_000)
        rows.append((start, start + 5 * MS, 100_000, 50_000, True, slot))
    window = summarize(Records.from_rows(rows), 0, 2 * S, 1, 95)
    window = window.__class__(**{**window.__dict__, "sent_count": n})
    merged = merge([window], 95)
    return LevelResult(4, Verdict.STABLE, [window], merged, Spread(1.0, 1.0), request_rate=rate)


def result() -> SweepResult:
    return SweepResult(SETTINGS, [level(200.0, 10, 20), level(100.0, 1000, 0)])


def test_the_csv_is_perf_analyzers_with_request_rate_first_and_rows_by_throughput():
    rows = list(csv.reader(io.StringIO(csv_text(result()))))
    assert rows[0][:2] == ["Request Rate", "Inferences/Second"]  # report_writer.cc
    assert rows[0][-1] == "p99 latency"  # nothing of ours without --verbose-csv
    assert [r[0] for r in rows[1:]] == ["100", "200"]  # perf_analyzer sorts by infer/sec


def test_verbose_csv_appends_ours_after_perf_analyzers_columns():
    rows = list(csv.DictReader(io.StringIO(csv_text(result(), verbose=True))))
    header = list(rows[0])
    assert header[-7:] == [
        "request/response",
        "response wait",
        "Scheduled p50 latency",
        "Scheduled p90 latency",
        "Scheduled p95 latency",
        "Scheduled p99 latency",
        "Late requests",
    ]
    late_level = rows[1]
    assert late_level["Late requests"] == "20"  # 1 in 10 of 200
    assert int(late_level["Scheduled p99 latency"]) >= 25_000  # the 20 ms wait + 5 ms
    assert int(late_level["p99 latency"]) == 5_000  # perf_analyzer's: from the send


def test_the_console_warns_as_perf_analyzer_above_one_percent_late_and_shows_the_rate_sent():
    late = level(200.0, 10, 20)
    block = console.level_block(late, SETTINGS)
    # 200 sent in a window of 2 s; the Throughput line inherits perf_analyzer's fixed format.
    assert "    Avg send request rate: 100.00 infer/sec" in block.splitlines()
    assert "    Throughput: 100.00 infer/sec" in block.splitlines()
    assert (
        "    [WARNING] triton-locust was not able to keep up with the desired request rate. "
        "10.00% of the requests were delayed. "
    ) in block.splitlines()
    assert "p95 5000 usec" not in block  # ours is from the slot: the wait is in it
    assert "  Late requests: 20 of 200 (10.00%), late by p50 20000 usec" in block
    on_time = console.level_block(level(100.0, 1000, 0), SETTINGS)
    assert "Avg send request rate" not in on_time  # 1 of 100 late: not above 1%


def test_the_console_names_each_level_by_its_rate():
    assert console.level_header(12.5, SETTINGS) == (
        "Request Rate: 12.5 inference requests per seconds"
    )
    settings_lines = console.settings_block(SETTINGS).splitlines()
    assert "  Request Rate limit: 200 requests per seconds" in settings_lines
    assert "  Using uniform distribution on request generation" in settings_lines
    summary = console.summary_block(result()).splitlines()
    assert summary[1].startswith("Request Rate: 200, throughput: ")


def test_json_keeps_both_latencies_and_the_late_requests():
    data = result().to_dict()
    window = data["levels"][0]["merged"]
    assert data["levels"][0]["request_rate"] == 200.0
    assert window["late_count"] == 20 and window["late_p50_us"] == 20_000
    assert window["scheduled_percentiles_us"]["p99"] > window["percentiles_us"]["p99"]
    again = SweepResult.from_dict(data)
    assert again.levels[0].merged.late_count == 20
    assert again.levels[0].request_rate == 200.0
