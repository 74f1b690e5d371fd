"""perf_analyzer's stability rule on synthetic series of windows: the last 3 windows agree
within -s on throughput and on the stabilising latency, or the level goes on."""

import math

from analysis.stabiliser import StabilityRule, Verdict, assess, final_verdict, spread
from analysis.window import merge
from tests.synthetic import window

RULE = StabilityRule(stability_pct=10, max_trials=10)
MORE, STABLE = Verdict.MEASURE_MORE, Verdict.STABLE


def verdicts(windows, rule=RULE):
    """The verdict after each window, as the sweep would see them."""
    return [assess(windows[: i + 1], rule) for i in range(len(windows))]


def test_three_agreeing_windows_settle_the_level_at_the_third():
    ws = [window(100, 500), window(104, 510), window(98, 505)]
    assert verdicts(ws) == [MORE, MORE, STABLE]


def test_a_series_that_warms_up_settles_at_its_fifth_window():
    ws = [window(50, 900), window(80, 700), window(100, 500), window(101, 505), window(99, 500)]
    assert verdicts(ws) == [MORE, MORE, MORE, MORE, STABLE]


def test_the_limit_is_inclusive():
    # max/min exactly 1 + s/100 is stable, a hair more is not.
    assert assess([window(100, 500), window(110, 500), window(105, 500)], RULE) is STABLE
    assert assess([window(100, 500), window(111, 500), window(105, 500)], RULE) is MORE


def test_a_series_that_never_settles_is_unstable_at_max_trials():
    ws = [window(100, 500 if i % 2 else 700) for i in range(10)]
    assert verdicts(ws) == [MORE] * 9 + [Verdict.UNSTABLE]
    assert spread(ws, RULE).latency == 700 / 500
    assert spread(ws, RULE).throughput == 1.0
    # -r is the number of windows, whatever it is.
    assert verdicts(ws[:4], StabilityRule(max_trials=4))[-1] is Verdict.UNSTABLE


def test_a_window_without_requests_prevents_stability():
    ws = [window(100, 500), window(0, 500), window(100, 500)]
    assert assess(ws, RULE) is MORE
    assert math.isinf(spread(ws, RULE).throughput)
    # Once it is out of the last three, the level can settle.
    assert assess([*ws, window(100, 500), window(100, 500)], RULE) is STABLE


def test_throughput_is_compared_not_the_request_count():
    # count_windows: the same rate over windows of different lengths is stable...
    ws = [
        window(100, 500, duration_ms=1000),
        window(150, 500, duration_ms=1500),
        window(200, 500, duration_ms=2000),
    ]
    assert assess(ws, RULE) is STABLE
    # ...and the same count over different lengths is not.
    ws = [window(100, 500, duration_ms=d) for d in (1000, 1500, 2000)]
    assert assess(ws, RULE) is MORE


def test_percentile_mode_stabilises_on_that_percentile():
    p95 = StabilityRule(percentile=95)
    # Equal averages, but a growing tail: stable on the average, not on p95.
    ws = [window(100, 500 - s / 2, spread_us=s, percentile=95) for s in (0, 300, 600)]
    assert assess(ws, RULE) is STABLE
    assert assess(ws, p95) is MORE
    # A tail that holds while the average moves: stable on p95, not on the average.
    ws = [window(100, 600 - s, spread_us=s, percentile=95) for s in (0, 100, 200)]
    assert assess(ws, p95) is STABLE
    assert assess(ws, RULE) is MORE


def test_latency_threshold_stops_once_any_of_the_last_three_windows_reaches_it():
    rule = StabilityRule(latency_threshold_ms=1.0)
    ws = [window(100, 1000), window(100, 400), window(100, 900)]
    assert assess(ws[:2], rule) is MORE  # fewer than 3 windows: not judged
    assert assess(ws, rule) is Verdict.OVER_THRESHOLD  # the oldest of the three, exactly 1 ms
    # A window that has left the last three no longer counts.
    assert assess([*ws, window(100, 400)], rule) is MORE


def test_a_stable_series_is_reported_stable_even_above_the_threshold_until_merged():
    # perf_analyzer checks stability first; the merge is then held against -l.
    rule = StabilityRule(latency_threshold_ms=0.5)
    ws = [window(100, 500), window(100, 505), window(100, 510)]
    assert assess(ws, rule) is STABLE
    assert final_verdict(merge(ws), STABLE, rule) is Verdict.OVER_THRESHOLD


def test_final_verdict_only_turns_stable_levels_whose_merge_reaches_the_threshold():
    ws = [window(100, 450), window(100, 499), window(100, 480)]  # merged average ~476 us
    merged = merge(ws)
    assert final_verdict(merged, STABLE, StabilityRule(latency_threshold_ms=0.5)) is STABLE
    over = StabilityRule(latency_threshold_ms=0.47)
    assert final_verdict(merged, STABLE, over) is Verdict.OVER_THRESHOLD
    assert final_verdict(merged, Verdict.UNSTABLE, over) is Verdict.UNSTABLE


def test_no_threshold_never_stops_the_sweep():
    ws = [window(100, 10**6) for _ in range(3)]
    assert assess(ws, RULE) is STABLE
    assert final_verdict(merge(ws), STABLE, RULE) is STABLE
    unsettled = [window(100, 10**6 if i % 2 else 10**5) for i in range(10)]
    assert verdicts(unsettled)[-1] is Verdict.UNSTABLE
