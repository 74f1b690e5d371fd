"""The recommendation reads off the walkthrough's charts what its author read by eye."""

import random

from analysis.report.csv_input import read_csv
from analysis.report.recommend import recommend
from tests.report_fixtures import EDSR, INCEPTION_CSV, table_summary


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


def test_a_curve_that_never_bends_has_its_knee_at_the_last_level():
    assert (
        recommend(table_summary([(1, 100, 10), (2, 200, 10), (3, 300, 11)])).knee.concurrency == 3
    )


def test_unstable_levels_are_considered_and_marked():
    rec = recommend(table_summary(EDSR, stable={1, 2, 3, 4, 5, 7, 8}))
    assert rec.max_throughput.concurrency == 6
    assert rec.to_dict()["max_throughput"]["stable"] is False
