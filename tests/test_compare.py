"""`triton-locust compare`: per-level change with signs."""

from analysis.report.compare import compare
from tests.report_fixtures import table_summary
from triton_locust.cli import main


def test_changes_are_relative_and_signed():
    a = table_summary([(1, 100, 1000), (2, 150, 2000)])
    b = table_summary([(1, 110, 900), (3, 200, 3000)])
    diffs = {d.concurrency: d for d in compare(a, b).levels}
    assert round(diffs[1].throughput_change, 3) == 0.1
    assert round(diffs[1].latency_change, 3) == -0.1
    assert diffs[2].b_throughput is None and diffs[2].throughput_change is None
    assert diffs[3].a_throughput is None


def test_compare_command_prints_the_table_and_writes_html(tmp_path, capsys):
    from tests.report_fixtures import INCEPTION_CSV

    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text(INCEPTION_CSV)
    b.write_text(INCEPTION_CSV.replace("114.8", "126.28"))
    assert main(["compare", str(a), str(b), "-o", str(tmp_path / "c.html")]) == 0
    out = capsys.readouterr().out
    assert "+10.0%" in out
    assert (tmp_path / "c.html").read_text().count("<svg") == 1
