"""`triton-locust report` reads our JSON and any perf_analyzer CSV; anything else is one line."""

from analysis.json_writer import write_json
from analysis.report.load import load_summary
from tests.report_fixtures import INCEPTION_CSV, sweep_result
from triton_locust.cli import main


def test_perf_analyzers_own_csv_in_any_row_order(tmp_path):
    path = tmp_path / "perf.csv"
    path.write_text(INCEPTION_CSV)
    summary = load_summary(path)
    assert [r.concurrency for r in summary.levels] == [1, 2, 3, 4]
    assert summary.levels[1].throughput == 114.8
    assert summary.levels[1].breakdown_us["server_queue"] == 7638
    assert summary.levels[1].percentiles_us == {50: 17449, 90: 17661, 95: 17720, 99: 17800}
    assert not summary.has_windows


def test_a_csv_does_not_say_whether_a_level_was_stable(tmp_path):
    path = tmp_path / "perf.csv"
    path.write_text(INCEPTION_CSV)
    summary = load_summary(path)
    assert [r.stable for r in summary.levels] == [None] * 4
    assert [r.spread for r in summary.levels] == [None] * 4
    # Its average is the sum of the breakdown columns (the network one is derived from it).
    assert summary.levels[1].avg_latency_us == 127 + 969 + 7638 + 158 + 8525 + 6 + 0
    assert summary.levels[1].server_compute_us == 158 + 8525 + 6
    assert summary.model == "" and summary.started_at  # the file's date stands in


def test_our_json_keeps_windows_and_what_it_stabilised_on(tmp_path):
    path = tmp_path / "r.json"
    write_json(sweep_result(3, unstable=2), path)
    summary = load_summary(path)
    assert summary.latency_label == "p95"
    assert [len(r.windows) for r in summary.levels] == [3, 3, 3]
    assert [r.stable for r in summary.levels] == [True, False, True]
    assert [r.spread for r in summary.levels] == [(1.0, 1.0)] * 3
    assert summary.model == "m" and all(r.avg_latency_us for r in summary.levels)


def test_report_command_writes_html_png_and_json(tmp_path, capsys):
    src = tmp_path / "perf.csv"
    src.write_text(INCEPTION_CSV)
    out = tmp_path / "r.html"
    code = main(
        [
            "report",
            str(src),
            "-o",
            str(out),
            "--png",
            str(tmp_path / "r.png"),
            "--json",
            str(tmp_path / "s.json"),
            "--latency-budget",
            "20",
        ]
    )
    assert code == 0
    assert out.stat().st_size > 10_000
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"
    assert '"latency_budget": {"concurrency": 2' in (tmp_path / "s.json").read_text().replace(
        "\n", ""
    ).replace("  ", "")
    out = capsys.readouterr().out
    assert "\n  max_throughput, saturation, latency_budget  concurrency 2: 114.8 infer/sec" in out
    assert "\n  knee                                        concurrency 1: 105 infer/sec" in out


def test_a_file_that_is_not_a_result_gets_one_line(tmp_path, capsys):
    bad = tmp_path / "notes.txt"
    bad.write_text("hello\nthis, is, not\na perf_analyzer, csv\n")
    assert main(["report", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a perf_analyzer CSV" in err[0]


def test_missing_file_and_bad_budget(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope.csv")]) == 2
    assert "no such file" in capsys.readouterr().err
    src = tmp_path / "perf.csv"
    src.write_text(INCEPTION_CSV)
    assert main(["report", str(src), "--latency-budget", "-1"]) == 2
    assert "--latency-budget" in capsys.readouterr().err


def test_broken_json_gets_one_line(tmp_path, capsys):
    bad = tmp_path / "r.json"
    bad.write_text('{"format": "triton-locust-results/1", "settings": ')
    assert main(["report", str(bad)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
