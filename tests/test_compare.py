"""`triton-locust compare`: runs named by file, per-level change with signs, a verdict per
level against the windows' own noise, and a warning when the runs measured differently."""

import dataclasses

from analysis.json_writer import write_json
from analysis.report.compare import DEFAULT_NOISE, compare, run_names
from analysis.report.summary import LevelRow, RunSummary
from analysis.settings import SweepSettings
from tests.report_fixtures import sweep_result, table_summary
from triton_locust.cli import main


def run(rows, spread=1.05, source="run.json", **settings):
    """A run from our JSON: levels (concurrency, infer/sec, p95 us) whose windows differed
    by `spread` (max/min)."""
    return RunSummary(
        source=source,
        latency_label="p95",
        levels=[LevelRow(c, t, lat, {95: lat}, {}, spread=(spread, spread)) for c, t, lat in rows],
        settings=dataclasses.replace(SweepSettings(model="m", percentile=95), **settings).to_dict(),
        has_windows=True,
    )


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


def test_runs_are_named_by_their_files():
    assert run_names("/r/before.json", "/r/after.json") == ("before.json", "after.json")
    assert run_names("/r/monday/perf.json", "/r/tuesday/perf.json") == (
        "monday/perf.json",
        "tuesday/perf.json",
    )
    assert run_names("perf.csv", "perf.csv") == ("perf.csv (A)", "perf.csv (B)")


def test_a_change_inside_the_windows_spread_is_noise():
    a = run([(1, 100, 1000), (2, 200, 1000), (3, 300, 1000), (4, 400, 1000)])
    b = run([(1, 103, 1020), (2, 220, 1000), (3, 270, 1000), (4, 440, 1300)])
    verdicts = {d.concurrency: d.verdict for d in compare(a, b).levels}
    assert verdicts == {1: "within noise", 2: "better", 3: "worse", 4: "mixed"}


def test_the_band_is_the_noisier_runs_spread():
    a = run([(1, 100, 1000)], spread=1.02)
    b = run([(1, 108, 1000)], spread=1.10)
    [d] = compare(a, b).levels
    assert round(d.throughput_noise, 2) == 0.10 and d.noise_known
    assert d.verdict == "within noise"
    [d] = compare(a, run([(1, 108, 1000)], spread=1.02)).levels
    assert d.verdict == "better"


def test_csv_runs_have_unknown_noise_and_a_stated_default_band():
    a, b = table_summary([(1, 100, 1000)]), table_summary([(1, 105, 1000)])
    cmp = compare(a, b)
    [d] = cmp.levels
    assert not d.noise_known and d.throughput_noise == DEFAULT_NOISE
    assert d.verdict == "within noise"
    assert "Noise unknown" in cmp.noise_note and "±10%" in cmp.noise_note
    assert any("records no settings" in w for w in cmp.warnings)


def test_differing_window_percentile_and_protocol_are_warned():
    a = run([(1, 100, 1000)], source="a.json")
    b = run(
        [(1, 100, 1000)],
        source="b.json",
        protocol="grpc",
        measurement_interval_ms=2000,
        percentile=99,
    )
    warnings = compare(a, b).warnings
    assert "The runs differ in protocol: a.json http, b.json grpc." in warnings
    assert (
        "The runs differ in window: a.json time windows of 5000 ms, "
        "b.json time windows of 2000 ms." in warnings
    )
    assert "The runs differ in latency stabilised on: a.json p95, b.json p99." in warnings
    assert compare(a, run([(1, 100, 1000)], source="c.json")).warnings == []


def test_compare_command_names_files_and_gives_verdicts(tmp_path, capsys):
    before, after = tmp_path / "before.json", tmp_path / "after.json"
    write_json(sweep_result(3), before)
    write_json(sweep_result(3), after)
    out_html = tmp_path / "c.html"
    assert main(["compare", str(before), str(after), "-o", str(out_html)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"A: before.json  ({before})\nB: after.json  ({after})\n")
    assert out.count("within noise") >= 3
    page = out_html.read_text()
    assert "before.json vs after.json" in page and "<title>before.json: concurrency 1: " in page
