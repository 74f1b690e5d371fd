"""perf_analyzer's stability rule on synthetic series of windows."""

from analysis.stabiliser import StabilityRule, Verdict, assess, final_verdict, spread
from analysis.window import merge
from tests.synthetic import window

RULE = StabilityRule(stability_pct=10, max_trials=10)


def verdicts(windows, rule=RULE):
    """The verdict after each window, as the sweep would see them."""
    return [assess(windows[: i + 1], rule) for i in range(len(windows))]


def test_three_agreeing_windows_settle_the_level():
    ws = [window(100, 500), window(104, 510), window(98, 505)]
    assert verdicts(ws) == [Verdict.MEASURE_MORE, Verdict.MEASURE_MORE, Verdict.STABLE]


def test_a_series_that_settles_later_is_stable_at_its_fifth_window():
    ws = [window(50, 900), window(80, 700), window(100, 500), window(101, 505), window(99, 500)]
    assert verdicts(ws)[-3:] == [Verdict.MEASURE_MORE, Verdict.MEASURE_MORE, Verdict.STABLE]


def test_a_series_that_never_settles_is_unstable_at_max_trials():
    ws = [window(100, 500 if i % 2 else 700) for i in range(10)]
    assert verdicts(ws)[-1] is Verdict.UNSTABLE
    assert verdicts(ws)[:-1] == [Verdict.MEASURE_MORE] * 9
    assert spread(ws, RULE).latency == 700 / 500


def test_a_window_without_requests_prevents_stability():
    ws = [window(100, 500), window(0, 500), window(100, 500)]
    assert assess(ws, RULE) is Verdict.MEASURE_MORE


def test_throughput_is_compared_not_the_request_count():
    # Same rate, windows of different lengths (count_windows): stable.
    ws = [
        window(100, 500, duration_ms=1000),
        window(150, 500, duration_ms=1500),
        window(200, 500, duration_ms=2000),
    ]
    assert assess(ws, RULE) is Verdict.STABLE


def test_percentile_mode_stabilises_on_that_percentile():
    # Equal averages, but a growing tail: stable on the average, not on p95.
    ws = [window(100, 500 - s / 2, spread_us=s, percentile=95) for s in (0, 300, 600)]
    assert assess(ws, RULE) is Verdict.STABLE
    assert assess(ws, StabilityRule(percentile=95)) is Verdict.MEASURE_MORE
    # And a tail that holds while the average moves: stable on p95 only.
    ws = [window(100, 600 - s, spread_us=s, percentile=95) for s in (0, 100, 200)]
    assert assess(ws, StabilityRule(percentile=95)) is Verdict.STABLE


def test_latency_threshold_stops_once_any_of_the_last_three_windows_reaches_it():
    rule = StabilityRule(latency_threshold_ms=1.0)
    ws = [window(100, 900), window(100, 1000), window(100, 400)]
    assert assess(ws[:2], rule) is Verdict.MEASURE_MORE  # fewer than 3 windows: not judged
    assert assess(ws, rule) is Verdict.OVER_THRESHOLD


def test_a_stable_level_whose_merge_reaches_the_threshold_is_over_it():
    rule = StabilityRule(latency_threshold_ms=0.5, stability_pct=30)
    ws = [window(100, 450), window(100, 499), window(100, 480)]
    assert assess(ws, rule) is Verdict.STABLE
    merged = merge(ws)
    assert (
        final_verdict(merged, Verdict.STABLE, StabilityRule(latency_threshold_ms=0.47))
        is Verdict.OVER_THRESHOLD
    )
    assert final_verdict(merged, Verdict.STABLE, rule) is Verdict.STABLE


def test_no_threshold_never_stops_the_sweep():
    ws = [window(100, 10**6) for _ in range(3)]
    assert assess(ws, RULE) is Verdict.STABLE
