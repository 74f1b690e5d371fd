"""A scheduled run's reports: JUnit for Jenkins and GitLab (a case per check, a broken sweep
never green), the Markdown job summary, and the console's check and baseline lines."""

from __future__ import annotations

import pytest
from junitparser import Error, Failure, JUnitXml

from analysis.baseline import (
    BETTER,
    MISSING_NOW,
    WITHIN_NOISE,
    WORSE,
    BaselineVerdict,
    LevelVerdict,
)
from analysis.checks import BASELINE, CheckResult
from analysis.report.junit import junit_xml
from analysis.report.markdown import _row, markdown_summary
from analysis.report.text import baseline_lines, check_lines
from analysis.run_record import RunRecord
from tests.report_fixtures import sweep_result

P95_OK = CheckResult("p95 < 50ms at concurrency 2", True, "p95 at concurrency 2: 11.2 ms")
THROUGHPUT_LOW = CheckResult(
    "throughput >= 100 at concurrency 1", False, "throughput at concurrency 1: 80.0 infer/s"
)
BASELINE_WORSE = CheckResult(
    "baseline at concurrency 2", False, "worse: throughput -25.0% (band ±10.0%)", BASELINE
)


@pytest.fixture(scope="module")
def result() -> dict:
    """A three-level sweep (level 3 unstable) as its results file holds it."""
    sweep = sweep_result(3, unstable=3)
    sweep.started_at, sweep.server_version = "2026-11-25T02:00:00Z", "2.51.0"
    data = sweep.to_dict()
    data["settings"]["model_version"] = "2"
    return data


def record(result, checks, scenario="http", exit_code=0, stop_reason=None) -> RunRecord:
    if stop_reason is not None:
        result = dict(result, stop_reason=stop_reason)
    return RunRecord(scenario, result.get("started_at", ""), exit_code, result, list(checks))


def parsed(records) -> JUnitXml:
    return JUnitXml.fromstring(junit_xml(records))


def cases(suite) -> dict:
    return {case.name: case for case in suite}


def verdict(levels=None, warnings=()) -> BaselineVerdict:
    def level(c, v, bt, t, tc, lc):
        return LevelVerdict(c, v, bt, t, 1000.0, 1000.0, tc, lc, 0.10, 0.125)

    return BaselineVerdict(
        baseline="history run 12 (2026-11-24T02:00:00Z)",
        latency_label="p95",
        max_regression=0.10,
        levels=levels
        or [
            level(1, WITHIN_NOISE, 100.0, 102.0, 0.02, 0.01),
            level(2, WORSE, 200.0, 150.0, -0.25, 0.30),
            level(4, MISSING_NOW, 400.0, None, None, None),
            level(8, BETTER, 50.0, 80.0, 0.6, -0.2),
        ],
        warnings=list(warnings),
    )


# JUnit


def test_junit_has_a_suite_per_scenario_and_a_case_per_check(result):
    xml = parsed(
        [
            record(result, [P95_OK, THROUGHPUT_LOW, BASELINE_WORSE], "http", exit_code=99),
            record(result, [P95_OK], "grpc"),
        ]
    )
    assert (xml.tests, xml.failures, xml.errors) == (4, 2, 0)
    http, grpc = list(xml)
    assert (http.name, http.tests, http.failures, http.errors) == ("http", 3, 2, 0)
    assert list(cases(http)) == [
        "p95 < 50ms at concurrency 2",
        "throughput >= 100 at concurrency 1",
        "baseline at concurrency 2",
    ]
    assert {case.classname for case in http} == {"triton-locust.http"}
    assert [case.classname for case in grpc] == ["triton-locust.grpc"]


def test_a_failed_check_says_what_was_measured(result):
    suite = next(iter(parsed([record(result, [P95_OK, THROUGHPUT_LOW, BASELINE_WORSE])])))
    by_name = cases(suite)
    assert by_name["p95 < 50ms at concurrency 2"].is_passed
    (failure,) = by_name["throughput >= 100 at concurrency 1"].result
    assert isinstance(failure, Failure)
    assert (failure.message, failure.type) == ("throughput at concurrency 1: 80.0 infer/s", "slo")
    (failure,) = by_name["baseline at concurrency 2"].result
    assert failure.type == "baseline" and failure.message.startswith("worse: throughput -25.0%")


def test_the_suite_carries_the_run_as_properties_and_its_start_as_timestamp(result):
    suite = next(iter(parsed([record(result, [P95_OK], exit_code=1)])))
    assert suite.timestamp == "2026-11-25T02:00:00Z"
    assert {p.name: p.value for p in suite.properties()} == {
        "model": "m",
        "model_version": "2",
        "server_version": "2.51.0",
        "stop_reason": "completed",
        "exit_code": "1",
    }


@pytest.mark.parametrize(
    "stop_reason, exit_code, kind",
    [("interrupted", 130, "interrupted"), ("error: connection refused", 3, "error")],
)
def test_a_sweep_that_did_not_finish_is_an_error_even_with_every_check_passed(
    result, stop_reason, exit_code, kind
):
    xml = parsed([record(result, [P95_OK], exit_code=exit_code, stop_reason=stop_reason)])
    assert (xml.tests, xml.failures, xml.errors) == (2, 0, 1)
    suite = next(iter(xml))
    (error,) = cases(suite)["sweep"].result
    assert isinstance(error, Error) and error.type == kind
    assert stop_reason in error.message and f"exit code {exit_code}" in error.message


def test_a_scenario_that_left_no_results_is_an_error_too():
    suite = next(iter(parsed([RunRecord("http", "", 3, {}, [])])))
    (case,) = suite
    assert case.name == "sweep" and isinstance(case.result[0], Error)
    assert "no results" in case.result[0].message


def test_a_finished_sweep_whose_files_failed_is_an_error(result):
    suite = next(iter(parsed([record(result, [P95_OK], exit_code=3)])))
    (error,) = cases(suite)["sweep"].result
    assert error.message.startswith("the sweep ended, but with exit code 3")


def test_a_scenario_without_checks_still_shows_as_one_passing_case(result):
    suite = next(iter(parsed([record(result, [])])))
    (case,) = suite
    assert (case.name, case.classname, case.is_passed) == ("sweep", "triton-locust.http", True)


def test_junit_is_utf8_deterministic_and_survives_awkward_text(result):
    odd = CheckResult('p99 <= 5ms & "fast" — ünïcode', False, "bad\x00byte <here>")
    records = [record(result, [odd], "a<b", exit_code=99)]
    text = junit_xml(records)
    assert text.startswith("<?xml version='1.0' encoding='UTF-8'?>")
    assert text == junit_xml(records)
    (case,) = next(iter(JUnitXml.fromstring(text)))
    assert case.name == odd.name and case.classname == "triton-locust.a<b"
    assert case.result[0].message == "bad\ufffdbyte <here>"  # NUL cannot be in XML at all


# Markdown


def test_markdown_says_passed_when_every_check_held(result):
    md = markdown_summary([(record(result, [P95_OK]), None)], title="Nightly")
    assert md.startswith("## Nightly\n\n✅ **Passed**: 1 check in 1 scenario\n")
    assert "### ✅ http" in md


def test_markdown_counts_failed_checks_and_names_the_scenario_that_did_not_finish(result):
    md = markdown_summary(
        [
            (record(result, [P95_OK, THROUGHPUT_LOW], "http", exit_code=99), None),
            (record(result, [P95_OK], "grpc", exit_code=130, stop_reason="interrupted"), None),
        ]
    )
    overall = md.splitlines()[2]
    assert overall.startswith("❌ ")
    assert "1 scenario of 2 did not finish: grpc (interrupted)" in overall
    assert "1 of 3 checks failed" in overall
    assert "### ❌ http" in md and "### ❌ grpc" in md
    assert "> ❌ The sweep did not finish: interrupted (exit code 130)." in md


def test_markdown_shows_the_levels_with_their_stabilised_latency_and_stability(result):
    md = markdown_summary([(record(result, [P95_OK]), None)])
    assert "Model `m` version 2 · Triton 2.51.0 · started 2026-11-25T02:00:00Z" in md
    assert "| Concurrency | infer/s | p95 latency (ms) | Stable |" in md
    rows = [line for line in md.splitlines() if line.startswith(("| 1 |", "| 2 |", "| 3 |"))]
    assert [row.rsplit("|", 2)[1].strip() for row in rows] == ["stable", "stable", "**unstable**"]
    assert "**Recommendation** (p95 latency):" in md
    for pick in ("- Knee: concurrency", "- Saturation: concurrency", "- Max throughput: concurr"):
        assert pick in md


def test_markdown_lists_the_checks_with_marks_and_measurements(result):
    md = markdown_summary([(record(result, [P95_OK, THROUGHPUT_LOW]), None)])
    assert "- ✅ `p95 < 50ms at concurrency 2`: p95 at concurrency 2: 11.2 ms" in md
    assert (
        "- ❌ `throughput >= 100 at concurrency 1`: throughput at concurrency 1: 80.0 infer/s" in md
    )


def test_markdown_without_results_says_nothing_was_measured():
    md = markdown_summary([(RunRecord("http", "", 3, {}, []), None)])
    assert "No level was measured." in md and "| Concurrency" not in md


def test_markdown_has_the_baseline_verdict_table_with_its_bands_and_warnings(result):
    warning = "the runs used different percentiles"
    md = markdown_summary([(record(result, [BASELINE_WORSE]), verdict(warnings=[warning]))])
    assert "**Against the baseline** (history run 12 (2026-11-24T02:00:00Z)):" in md
    assert "maximum regression (10%)" in md and "(±10.0% to ±12.5% here)" in md
    assert (
        "| Concurrency | Baseline → now (infer/s) | Throughput change | p95 change | Verdict |"
        in md
    )
    assert "| 1 | 100.0 → 102.0 | +2.0% | +1.0% | within noise |" in md
    assert "| 2 | 200.0 → 150.0 | -25.0% | +30.0% | ❌ worse |" in md
    assert "| 4 | 400.0 → - | - | - | ❌ not measured now |" in md
    assert "| 8 | 50.0 → 80.0 | +60.0% | -20.0% | better |" in md
    assert f"- ⚠️ {warning}" in md


def test_a_pipe_in_a_cell_does_not_split_the_row():
    assert _row(["a|b", "c\nd"]) == "| a\\|b | c d |"


# Console


def test_check_lines_pass_and_fail_with_the_measurement():
    assert check_lines([P95_OK, THROUGHPUT_LOW]) == [
        "  PASS  p95 < 50ms at concurrency 2  (p95 at concurrency 2: 11.2 ms)",
        "  FAIL  throughput >= 100 at concurrency 1  (throughput at concurrency 1: 80.0 infer/s)",
    ]


def test_baseline_lines_name_the_baseline_and_align_a_row_per_level():
    lines = baseline_lines(verdict(warnings=["the runs used different percentiles"]))
    assert lines[0].startswith("Against the baseline: history run 12 (2026-11-24T02:00:00Z)")
    assert "max regression 10%" in lines[0]
    assert lines[1] == "Warning: the runs used different percentiles"
    header, *rows = lines[2:]
    assert header.split() == [
        "conc",
        "infer/s:",
        "baseline",
        "→",
        "now",
        "(change)",
        "p95",
        "change",
        "band",
        "verdict",
    ]
    assert [row.split()[0] for row in rows] == ["1", "2", "4", "8"]
    assert len({row.index("→") for row in rows}) == 1  # the arrows line up
    assert len({row.index("±") for row in rows}) == 1
    assert rows[1].endswith("  worse") and "200.0 → 150.0 (-25.0%)" in rows[1]
    assert rows[2].endswith("  not measured now") and "400.0 →     - (-)" in rows[2]
    assert "±10%/±12%" in rows[0]
