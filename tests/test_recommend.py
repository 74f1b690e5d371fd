"""The recommendation reads off the walkthrough's charts what its author read by eye."""

import random
import warnings

from analysis.report.csv_input import read_csv
from analysis.report.recommend import kneedle, recommend
from analysis.report.text import recommendation_lines
from tests.report_fixtures import EDSR, INCEPTION_CSV, table_summary

# `make demo` on the 2-core machine (sleep_5ms: 3 instances of 5 ms, -p 2000, p95).
DEMO = [
    (1, 173.173, 6418),
    (2, 343.327, 6530),
    (3, 513.819, 6442),
    (4, 539.99, 10512),
    (5, 535.973, 11452),
    (6, 545.021, 11655),
]


def picks(rec):
    return {
        k: (v["concurrency"] if v else None)
        for k, v in rec.to_dict().items()
        if k in ("max_throughput", "saturation", "knee", "latency_budget")
    }


def test_edsr_best_for_throughput_is_6_for_latency_3_and_5_within_100ms():
    rec = recommend(table_summary(EDSR), latency_budget_ms=100)
    assert picks(rec) == {"max_throughput": 6, "saturation": 6, "knee": 3, "latency_budget": 5}


def test_inception_saturates_from_2_with_knee_at_1(tmp_path):
    path = tmp_path / "perf.csv"
    path.write_text(INCEPTION_CSV)
    rec = recommend(read_csv(path))
    assert picks(rec) == {"max_throughput": 2, "saturation": 2, "knee": 1}
    assert rec.to_dict()["latency"] == "p95"  # a CSV does not say: p95
    assert rec.knee.latency_us == 9758


def test_row_order_does_not_matter():
    shuffled = EDSR[:]
    random.Random(7).shuffle(shuffled)
    assert picks(recommend(table_summary(shuffled), 100)) == picks(
        recommend(table_summary(EDSR), 100)
    )


def test_every_key_has_concurrency_throughput_and_latency():
    rec = recommend(table_summary(EDSR), latency_budget_ms=100).to_dict()
    for key in ("max_throughput", "saturation", "knee", "latency_budget"):
        assert {"concurrency", "throughput", "latency_us"} <= set(rec[key])
    assert rec["max_throughput"]["throughput"] == 59.6


def test_no_level_within_budget_gives_null():
    rec = recommend(table_summary(EDSR), latency_budget_ms=10).to_dict()
    assert rec["latency_budget"] is None


def test_without_budget_the_key_is_absent():
    assert "latency_budget" not in recommend(table_summary(EDSR)).to_dict()


def test_ties_go_to_the_lower_concurrency():
    rec = recommend(table_summary([(1, 100, 10), (2, 120, 20), (3, 120, 30)]))
    assert rec.max_throughput.concurrency == 2


def test_a_single_level_is_every_answer():
    rec = recommend(table_summary([(4, 50, 1000)]), latency_budget_ms=5)
    assert picks(rec) == {"max_throughput": 4, "saturation": 4, "knee": 4, "latency_budget": 4}


def test_the_demo_curve_rises_to_its_knee_at_3_then_saturates():
    rec = recommend(table_summary(DEMO))
    assert picks(rec) == {"max_throughput": 6, "saturation": 4, "knee": 3}
    assert rec.knee_found


def test_one_slow_step_early_does_not_end_the_search():
    """The issue's demo: 1 -> 2 doubled latency for +22% throughput (the old rule stopped
    there, at 1), yet 4 gives twice 1's throughput at 2's latency. Throughput kept pace with
    concurrency over the whole curve: no bend, so the knee is the last level."""
    rec = recommend(
        table_summary([(1, 180, 6000), (2, 220, 11800), (3, 290, 11900), (4, 360, 12100)])
    )
    assert rec.knee.concurrency == 4


def test_the_knee_is_kneedles_on_random_curves():
    """Our scipy-free port picks the level the reference implementation picks."""
    from kneed import KneeLocator

    rng = random.Random(3)
    for _ in range(300):
        xs = [0] + sorted(rng.sample(range(1, 64), rng.randint(2, 10)))
        cap = rng.uniform(1, 40)
        ys = [0.0] + [min(x, cap) * 50 * rng.uniform(0.8, 1.2) for x in xs[1:]]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # kneed warns when there is no knee
            theirs = KneeLocator(xs, ys, curve="concave", direction="increasing").knee
        expected = None if theirs is None else xs.index(int(theirs))
        assert kneedle([float(x) for x in xs], ys) == expected, (xs, ys)


def test_a_curve_that_never_bends_has_its_knee_at_the_last_level_and_says_so():
    rec = recommend(table_summary([(1, 100, 10), (2, 200, 10), (3, 300, 11)]))
    assert rec.knee.concurrency == 3 and not rec.knee_found
    assert "sweep higher to find it" in recommendation_lines(rec)[1]


def test_unstable_levels_are_considered_and_marked():
    rec = recommend(table_summary(EDSR, stable={1, 2, 3, 4, 5, 7, 8}))
    assert rec.max_throughput.concurrency == 6
    assert rec.to_dict()["max_throughput"]["stable"] is False


def test_each_level_is_recommended_on_one_line_naming_its_rules():
    one_level = recommendation_lines(recommend(table_summary([(4, 50, 1000)])))
    assert one_level[1:] == [
        "  max_throughput, saturation, knee  concurrency 4: 50 infer/sec, p95 latency 1000 usec"
        "  [highest throughput; first within 5% of the highest; the last level: the curve has "
        "not bent yet (Kneedle); sweep higher to find it]"
    ]
    lines = recommendation_lines(recommend(table_summary(EDSR), latency_budget_ms=100))
    assert [line.split("concurrency ")[1][0] for line in lines[1:]] == ["3", "5", "6"]
    assert lines[3].lstrip().startswith("max_throughput, saturation ")


def test_no_level_within_budget_says_so_on_a_line_of_its_own():
    lines = recommendation_lines(recommend(table_summary(EDSR), latency_budget_ms=10))
    assert lines[-1].split() == ["latency_budget", "none:", "no", "level", "within", "10", "ms"]
