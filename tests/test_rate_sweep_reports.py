"""A request-rate sweep after the run: `report`, `compare`, baselines, SLOs and the
Pushgateway take its levels as rates. Its users are one pool (--max-threads), so its
levels share one concurrency: nothing may pair, label or recommend them by it."""

from __future__ import annotations

from pathlib import Path

import pytest

from analysis.baseline import WORSE, against_baseline
from analysis.json_writer import write_json
from analysis.report.compare import compare
from analysis.report.load import load_summary
from analysis.report.recommend import recommend
from analysis.report.summary import from_result
from analysis.report.text import baseline_lines, comparison_lines
from analysis.run_record import RunRecord
from analysis.slo import check_slo_fits, evaluate, parse_slo
from tests.report_fixtures import INCEPTION_CSV, rate_sweep_result
from triton_locust.cli import main
from triton_locust.pushgateway import THROUGHPUT, run_registry

PA_RATE_CSV = Path(__file__).parent / "data" / "pa_export_rate.csv"  # perf_analyzer 2.51's


def test_perf_analyzers_rate_csv_gives_its_levels_by_rate():
    summary = load_summary(PA_RATE_CSV)
    assert summary.rate_mode
    assert [r.request_rate for r in summary.levels] == [40, 80]
    assert summary.levels[0].throughput == 39.6959
    assert summary.levels[1].percentiles_us[95] == 7131


def test_two_rate_sweeps_are_compared_rate_by_rate(tmp_path):
    ours = tmp_path / "ours.json"
    write_json(rate_sweep_result({40.0: 6.0, 80.0: 6.5}), ours)
    cmp = compare(load_summary(PA_RATE_CSV), load_summary(ours))
    assert [(d.request_rate, d.a_throughput is not None, d.b_throughput is not None)
            for d in cmp.levels] == [(40, True, True), (80, True, True)]  # fmt: skip
    lines = comparison_lines(cmp)
    assert lines[-4].split()[0] == "rate"
    assert [line.split()[0] for line in lines[-3:-1]] == ["40/s", "80/s"]


def test_a_rate_sweep_and_a_concurrency_sweep_share_no_level(tmp_path):
    concurrency = tmp_path / "perf.csv"
    concurrency.write_text(INCEPTION_CSV)
    cmp = compare(load_summary(concurrency), load_summary(PA_RATE_CSV))
    assert any("a request-rate sweep and perf.csv a concurrency sweep" in w for w in cmp.warnings)
    assert all(d.a_throughput is None or d.b_throughput is None for d in cmp.levels)


def test_a_baseline_holds_each_rate_to_the_same_rate():
    before = from_result(rate_sweep_result({100.0: 6.0, 200.0: 6.0}), "before")
    now = from_result(rate_sweep_result({100.0: 6.0, 200.0: 9.0}), "now")
    verdict = against_baseline(before, now)
    assert [(c.name, c.passed) for c in verdict.checks()] == [
        ("baseline at request rate 100", True),
        ("baseline at request rate 200", False),
    ]
    assert verdict.levels[1].verdict == WORSE
    assert baseline_lines(verdict)[1].split()[0] == "rate"


def test_a_rate_sweep_recommends_no_concurrency():
    advice = recommend(from_result(rate_sweep_result({100.0: 6.0, 200.0: 6.0})))
    assert (advice.knee, advice.saturation, advice.max_throughput) == (None, None, None)


@pytest.mark.parametrize(
    "text", ["p95 < 50ms at concurrency 4", "recommended.knee >= 1", "recommended.saturation > 2"]
)
def test_slos_about_concurrency_are_refused_for_a_rate_sweep(text):
    settings = rate_sweep_result({100.0: 6.0}).settings
    with pytest.raises(ValueError, match="does not apply to a request-rate sweep"):
        check_slo_fits(parse_slo(text), settings, None)


def test_a_rate_sweeps_slos_name_the_rate_they_were_measured_at():
    result = rate_sweep_result({100.0: 6.0, 200.0: 9.0})
    advice = recommend(from_result(result))
    p95 = evaluate(parse_slo("p95 < 8ms"), result, advice)
    assert not p95.passed
    assert p95.measured == "p95 at request rate 200: 9.00 ms, failing of 2 levels"
    best = evaluate(parse_slo("max_throughput >= 150"), result, advice)
    top = from_result(result).levels[-1].throughput
    assert best.passed and best.measured == f"max_throughput: {top:.1f} infer/s at request rate 200"


def test_the_pushgateway_labels_a_rate_sweeps_levels_by_rate():
    result = rate_sweep_result({100.0: 6.0, 200.0: 6.0})
    record = RunRecord(scenario="s", started_at="", exit_code=0, result=result.to_dict())
    [family] = [f for f in run_registry(record).collect() if f.name == THROUGHPUT]
    assert sorted((s.labels["request_rate"], s.value) for s in family.samples) == [
        ("100", from_result(result).levels[0].throughput),
        ("200", from_result(result).levels[1].throughput),
    ]
    assert all("concurrency" not in s.labels for s in family.samples)


def test_report_draws_a_rate_sweep_from_its_results_json(tmp_path, capsys):
    path, page = tmp_path / "rate.json", tmp_path / "rate.html"
    write_json(rate_sweep_result({100.0: 6.0, 200.0: 6.0}), path)
    assert main(["report", str(path), "-o", str(page)]) == 0
    out = capsys.readouterr().out
    assert "Request Rate: 100, throughput: 99 infer/sec" in out
    assert "Recommended" not in out
    assert "latency by request rate" in page.read_text()


@pytest.mark.parametrize(
    "args, words",
    [
        (["--png", "x.png"], "--png only with a concurrency sweep"),
        (["--latency-budget", "10"], "--latency-budget only with a concurrency sweep"),
    ],
)
def test_report_refuses_what_a_rate_sweep_cannot_give_in_one_line(tmp_path, capsys, args, words):
    path = tmp_path / "rate.json"
    write_json(rate_sweep_result({100.0: 6.0}), path)
    assert main(["report", str(path), *args]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert words in line


def test_report_sends_a_rate_csv_to_the_results_json_in_one_line(capsys):
    assert main(["report", str(PA_RATE_CSV)]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "a request-rate sweep's CSV" in line and "results JSON" in line
