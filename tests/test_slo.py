"""SLOs as users write them: parsed into a figure, an operator and a threshold, and checked
against a finished sweep's stabilised figures."""

from dataclasses import replace

import pytest

from analysis.report.recommend import recommend
from analysis.report.summary import from_result
from analysis.settings import SweepSettings
from analysis.slo import check_slo_fits, evaluate, parse_slo
from analysis.stabiliser import Verdict
from tests.report_fixtures import sweep_result


def check(text, result=None):
    result = result or sweep_result(3)  # p95: 0.5, 1.0, 1.5 usec at concurrency 1, 2, 3
    return evaluate(parse_slo(text), result, recommend(from_result(result)))


@pytest.mark.parametrize(
    ("text", "metric", "op", "threshold_us", "concurrency"),
    [
        ("p95 < 20ms at concurrency 8", "p95", "<", 20_000, 8),
        ("p99<=1.5s", "p99", "<=", 1_500_000, None),
        ("avg < 250us at concurrency 2", "avg", "<", 250, 2),
        ("throughput >= 900 at concurrency 8", "throughput", ">=", 900, 8),
        ("throughput >= 900 infer/s", "throughput", ">=", 900, None),
        ("max_throughput >= 1200", "max_throughput", ">=", 1200, None),
        ("errors == 0", "errors", "==", 0, None),
        ("recommended.knee >= 4", "recommended.knee", ">=", 4, None),
        ("unstable_levels == 0", "unstable_levels", "==", 0, None),
    ],
)
def test_the_issues_slos_parse(text, metric, op, threshold_us, concurrency):
    slo = parse_slo(text)
    assert (slo.metric, slo.op, slo.threshold, slo.concurrency) == (
        metric,
        op,
        threshold_us,
        concurrency,
    )


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("p95 < 20", "give the latency a unit"),
        ("p95 < 20 parsecs", "give the latency a unit"),
        ("p95 20ms", "expected METRIC OP VALUE"),
        ("speed > 3", "unknown metric 'speed'"),
        ("errors == 0 ms", "a count, without a unit"),
        ("max_throughput > 5 at concurrency 2", "of the whole sweep"),
        ("p95 < 5ms at concurrency 0", "whole number from 1"),
        ("throughput > 5 req/min", "infer/s"),
    ],
)
def test_a_malformed_slo_says_what_is_wrong(text, said):
    with pytest.raises(ValueError, match=said):
        parse_slo(text)


def test_an_slo_the_sweep_cannot_measure_is_refused_before_the_run():
    settings = SweepSettings(model="m", concurrency_start=1, concurrency_end=4, percentile=95)
    with pytest.raises(
        ValueError, match=r"concurrency 8 is not a level of the sweep \(1, 2, 3, 4\)"
    ):
        check_slo_fits(parse_slo("p95 < 5ms at concurrency 8"), settings, None)
    with pytest.raises(ValueError, match="p97 is not measured"):
        check_slo_fits(parse_slo("p97 < 5ms"), settings, None)
    with pytest.raises(ValueError, match="needs latency-budget"):
        check_slo_fits(parse_slo("recommended.latency_budget >= 2"), settings, None)
    binary = replace(settings, search="binary", latency_threshold_ms=20)
    with pytest.raises(ValueError, match="'at concurrency' needs a linear sweep"):
        check_slo_fits(parse_slo("p95 < 5ms at concurrency 2"), binary, None)
    check_slo_fits(parse_slo("p97 < 5ms"), SweepSettings(model="m", percentile=97), None)


def test_a_level_slo_passes_or_fails_with_the_measured_value():
    passed = check("p95 < 1.2us at concurrency 2")
    assert passed.passed and passed.measured == "p95 at concurrency 2: 1.0 us"
    assert not check("p95 < 0.9us at concurrency 2").passed


def test_without_at_every_level_must_hold_and_the_failing_one_is_shown():
    result = check("p95 < 1.2us")
    assert not result.passed
    assert result.measured.startswith("p95 at concurrency 3")
    assert "failing of 3 levels" in result.measured
    held = check("p95 < 2us")
    assert held.passed and "worst of 3 levels" in held.measured


def test_throughput_and_max_throughput():
    assert check("throughput >= 900000 at concurrency 1").passed
    assert not check("max_throughput >= 2000000").passed
    assert check("max_throughput >= 900000").measured == (
        "max_throughput: 989999.9 infer/s at concurrency 1"
    )


def test_a_level_the_sweep_never_reached_fails():
    result = check("p95 < 1s at concurrency 3", sweep_result(2))
    assert not result.passed and result.measured == "p95 at concurrency 3: not measured"


def test_errors_unstable_levels_and_recommendations():
    assert check("errors == 0").passed
    unstable = sweep_result(3, unstable=2)
    assert not check("unstable_levels == 0", unstable).passed
    assert check("unstable_levels == 0", unstable).measured == "unstable_levels: 1 (concurrency 2)"
    assert check("p95 < 1s at concurrency 2", unstable).measured.endswith("(unstable)")
    assert check("recommended.knee >= 1").measured.startswith("recommended.knee: ")


def test_an_unstable_level_is_still_checked_on_its_flagged_figures():
    result = sweep_result(2)
    result.levels[1] = result.levels[1].__class__(
        2,
        Verdict.UNSTABLE,
        result.levels[1].windows,
        result.levels[1].merged,
        result.levels[1].spread,
    )
    assert check("throughput > 1 at concurrency 2", result).passed


def test_an_open_ended_sweep_takes_slos_on_its_grid_only():
    settings = SweepSettings(
        model="m",
        concurrency_start=2,
        concurrency_end=0,
        concurrency_step=2,
        latency_threshold_ms=50,
    )
    check_slo_fits(parse_slo("p95 < 5ms at concurrency 8"), settings, None)
    with pytest.raises(ValueError, match=r"concurrency 3 is not a level of the sweep \(2, 4"):
        check_slo_fits(parse_slo("p95 < 5ms at concurrency 3"), settings, None)
