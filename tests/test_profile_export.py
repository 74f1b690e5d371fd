"""perf_analyzer's profile export (--profile-export-file), without a server: the schema
against perf_analyzer's own files (tests/data/, written once by perf_analyzer 2.51), our
writer and reader, the recorder and the sweep's listener that fill it, the report that reads
it, and the flag's refusals."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from analysis.flag_table import NOT_YET
from analysis.pa_arithmetic import NS_PER_US, fmt, whole_us
from analysis.profile_export import (
    CONCURRENCY,
    FORMAT_VERSION,
    REQUEST_RATE,
    ProfileExport,
    RequestLog,
    read_profile_export,
    write_profile_export,
)
from analysis.report.html import write_report
from analysis.report.load import load_summary
from analysis.results import SweepResult
from analysis.settings import Outputs, RateSettings, SweepSettings
from analysis.stabiliser import StabilityRule, last_windows
from analysis.window import WindowSample, merge
from tests.helpers import REPO
from triton_user.outputs import ProfileExportOutput, ResultFiles, request_log_of, standard_outputs
from triton_user.sweep.driver import SweepDriver
from triton_user.sweep.events import SweepEvents
from triton_user.sweep.recorder import Recorder

DATA = Path(__file__).parent / "data"
PA_CONCURRENCY = DATA / "pa_export_concurrency.json"
PA_RATE = DATA / "pa_export_rate.json"
SCHEMA = json.loads((DATA / "profile_export.schema.json").read_text())
S = 1_000_000_000
EPOCH_2026 = 1_780_000_000 * S


def schema_errors(path: Path) -> list[str]:
    """Every way the file breaks perf_analyzer's schema (none: it validates)."""
    validator = jsonschema.Draft202012Validator(SCHEMA)
    data = json.loads(path.read_text())
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(data)]


def pa_csv(path: Path) -> dict[float, dict[str, str]]:
    """perf_analyzer's CSV rows by their first column (concurrency or request rate)."""
    with path.open() as f:
        rows = list(csv.DictReader(f))
    first = next(iter(rows[0]))
    return {float(r[first]): r for r in rows}


# -- the schema and perf_analyzer's own files -------------------------------------------------


def test_the_schema_is_valid_and_perf_analyzers_exports_satisfy_it():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    for path in (PA_CONCURRENCY, PA_RATE):
        assert schema_errors(path) == [], path


def test_the_schema_refuses_what_perf_analyzer_never_writes():
    good = json.loads(PA_CONCURRENCY.read_text())
    validator = jsonschema.Draft202012Validator(SCHEMA)
    request = good["experiments"][0]["requests"][0]
    broken = [
        {k: v for k, v in good.items() if k != "version"},
        {**good, "extra": 1},
        {**good, "service_kind": "kserve"},
    ]
    for change in (
        {"timestamp": -1},
        {"timestamp": 1.5},
        {"response_timestamps": ["1"]},
        {"sequence_id": 0},  # written only when not 0
        {"request_inputs": []},
    ):
        bad = json.loads(json.dumps(good))
        bad["experiments"][0]["requests"][0] = {**request, **change}
        broken.append(bad)
    bad = json.loads(json.dumps(good))
    bad["experiments"][0]["experiment"] = {"mode": "concurrency", "value": 1.5}
    broken.append(bad)
    for doc in broken:
        assert not validator.is_valid(doc)


@pytest.mark.parametrize("name", ["concurrency", "rate"])
def test_reading_perf_analyzers_export_gives_its_own_figures(name):
    """Its windows rebuilt from the boundaries, the last three merged: the throughput and
    latencies perf_analyzer printed in the CSV of the same run, to the digit."""
    export = read_profile_export(DATA / f"pa_export_{name}.json")
    truth = pa_csv(DATA / f"pa_export_{name}.csv")
    rule = StabilityRule()
    assert [e.value for e in export.experiments] == list(truth)
    for e in export.experiments:
        windows = e.windows(1, None)
        assert sum(w.request_count for w in windows) == e.request_count  # each request once
        m = merge([w for w in last_windows(windows, rule) if w.request_count], None)
        row = truth[e.value]
        assert fmt(m.throughput) == row["Inferences/Second"]
        for p in (50, 90, 95, 99):
            assert whole_us(m.percentiles_ns[p]) == int(row[f"p{p} latency"])


def test_perf_analyzers_export_read_and_written_again_is_the_same_but_for_tensors(tmp_path):
    export = read_profile_export(PA_CONCURRENCY)
    out = tmp_path / "again.json"
    write_profile_export(export, out)
    assert schema_errors(out) == []
    theirs, ours = json.loads(PA_CONCURRENCY.read_text()), json.loads(out.read_text())
    assert list(ours) == list(theirs)  # the same keys, in perf_analyzer's order
    for a, b in zip(theirs["experiments"], ours["experiments"], strict=True):
        assert a["experiment"] == b["experiment"]
        assert a["window_boundaries"] == b["window_boundaries"]
        assert [(r["timestamp"], r["response_timestamps"]) for r in a["requests"]] == [
            (r["timestamp"], r["response_timestamps"]) for r in b["requests"]
        ]
        assert {json.dumps(r["request_inputs"]) for r in b["requests"]} == {"{}"}
        assert all(r["response_outputs"] == [{}] for r in b["requests"])


# -- our writer --------------------------------------------------------------------------------


def cols(*values: int) -> np.ndarray:
    return np.asarray(values, dtype=np.int64)


def test_a_level_becomes_an_experiment_on_the_epoch_with_shared_boundaries(tmp_path):
    export = ProfileExport()
    windows = [
        (1000, 2000, cols(1500, 1100), cols(1900, 1400)),  # recorded out of start order
        (2000, 3000, cols(1950), cols(2500)),  # started in the window before
    ]
    export.add_level(CONCURRENCY, 2, windows, offset_ns=EPOCH_2026)
    path = tmp_path / "export.json"
    write_profile_export(export, path)
    assert schema_errors(path) == []
    data = json.loads(path.read_text())
    assert data["version"] == FORMAT_VERSION and data["service_kind"] == "triton"
    assert data["endpoint"] == ""
    (experiment,) = data["experiments"]
    assert experiment["experiment"] == {"mode": "concurrency", "value": 2}
    assert experiment["window_boundaries"] == [EPOCH_2026 + t for t in (1000, 2000, 3000)]
    assert [
        (r["timestamp"] - EPOCH_2026, r["response_timestamps"]) for r in experiment["requests"]
    ] == [
        (1100, [EPOCH_2026 + 1400]),
        (1500, [EPOCH_2026 + 1900]),
        (1950, [EPOCH_2026 + 2500]),
    ]


def test_a_value_measured_again_adds_to_its_experiment_as_perf_analyzer_does():
    export = ProfileExport()
    export.add_level(REQUEST_RATE, 50.0, [(0, 10, cols(1), cols(5))], 0)
    export.add_level(REQUEST_RATE, 100.0, [(10, 20, cols(11), cols(15))], 0)
    # Measured again later: its first window does not start where its last one ended, so
    # both of its edges are written (profile_data_collector.cc's AddWindow).
    export.add_level(
        REQUEST_RATE, 50.0, [(30, 40, cols(31), cols(35)), (40, 50, cols(), cols())], 0
    )
    assert [e.value for e in export.experiments] == [50.0, 100.0]
    fifty = export.experiments[0]
    assert fifty.window_boundaries == [0, 10, 30, 40, 50]
    assert fifty.request_count == 2
    text = "".join(export.chunks())
    assert '"experiment":{"mode":"request_rate","value":50.0}' in text  # a double, as rapidjson


def test_an_empty_sweep_writes_a_valid_file_with_no_experiments(tmp_path):
    path = tmp_path / "export.json"
    write_profile_export(ProfileExport(), path)
    assert schema_errors(path) == []
    assert json.loads(path.read_text())["experiments"] == []


def test_a_large_experiment_is_written_in_pieces_and_read_back_whole(tmp_path):
    n = 200_000  # several of the writer's pieces
    starts = np.arange(n, dtype=np.int64) * 1000
    export = ProfileExport()
    export.add_level(CONCURRENCY, 8, [(0, n * 1000 + 500, starts, starts + 400)], EPOCH_2026)
    path = tmp_path / "export.json"
    write_profile_export(export, path)
    back = read_profile_export(path).experiments[0]
    assert back.request_count == n
    assert np.array_equal(back.starts_ns, starts + EPOCH_2026)
    assert np.array_equal(back.ends_ns - back.starts_ns, np.full(n, 400))


def test_a_request_ending_on_a_shared_boundary_belongs_to_the_earlier_window():
    export = ProfileExport()
    export.add_level(
        CONCURRENCY, 1, [(0, 100, cols(10, 50), cols(60, 100)), (100, 200, cols(100), cols(150))], 0
    )
    windows = export.experiments[0].windows()
    assert [w.request_count for w in windows] == [2, 1]


def test_the_request_log_gives_each_window_up_once():
    log = RequestLog()
    log.add(0, 10, cols(1), cols(2))
    log.add(10, 20, cols(11), cols(12))
    starts, ends, _ = log.take(0, 10)
    assert starts.tolist() == [1] and ends.tolist() == [2]
    with pytest.raises(LookupError, match=r"\[0, 10\]"):
        log.take(0, 10)
    log.clear()
    assert len(log) == 0


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda d: d.pop("experiments"), "no 'experiments'"),
        (lambda d: d["experiments"][0].pop("window_boundaries"), "lacks 'window_boundaries'"),
        (lambda d: d["experiments"][0]["experiment"].update(mode="batch"), "mode 'batch'"),
        (lambda d: d["experiments"][0]["experiment"].update(value=-1), "value -1"),
        (lambda d: d["experiments"][0]["window_boundaries"].reverse(), "go back in time"),
        (
            lambda d: d["experiments"][0]["requests"][0].update(timestamp="x"),
            "not whole nanoseconds",
        ),
        (
            lambda d: d["experiments"][0]["requests"][0].update(response_timestamps=[0]),
            "precedes its start",
        ),
    ],
)
def test_a_broken_export_is_one_line_naming_the_problem(tmp_path, change, words):
    data = json.loads(PA_CONCURRENCY.read_text())
    change(data)
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="not a perf_analyzer profile export") as caught:
        read_profile_export(path)
    assert words in str(caught.value) and "\n" not in str(caught.value)


# -- the recorder and the sweep's listener ----------------------------------------------------


def test_the_recorder_keeps_each_windows_successful_requests_only_when_asked():
    log = RequestLog()
    recorder = Recorder()
    recorder.keep_requests(log)
    recorder.discard()
    t0 = time.monotonic_ns()
    for i in range(10):  # the 4th fails; the last ends after the window
        recorder.record(t0 + i * 10, t0 + i * 10 + 5 + (100 if i == 9 else 0), 1, 1, i != 3)
    sample = recorder.cut(t0, t0 + 100)
    starts, ends, _ = log.take(t0, t0 + 100)
    assert len(starts) == sample.latencies.count == 8
    assert (starts - t0).tolist() == [0, 10, 20, 40, 50, 60, 70, 80]
    assert (ends - starts).tolist() == [5] * 8
    recorder.cut(t0 + 100, t0 + 200)
    assert (log.take(t0 + 100, t0 + 200)[0] - t0).tolist() == [90]

    plain = Recorder()  # without the flag: nothing is kept
    plain.discard()
    plain.record(t0, t0 + 5, 1, 1, True)
    plain.cut(t0, t0 + 100)
    assert plain._export is None


def test_a_workers_recorder_cannot_keep_requests():
    with pytest.raises(ValueError, match="histograms"):
        Recorder(histogram=True).keep_requests(RequestLog())


class SyntheticLoad:
    """Users started at once; requests made up at each cut, every 10th failing."""

    def __init__(self) -> None:
        self.recorder = Recorder()
        self.users = 0
        self.last = time.monotonic_ns()
        self.made = 0

    def set_users(self, count: int) -> None:
        self.users = count

    def running_users(self) -> int:
        return self.users

    def set_rate(self, rate: float | None) -> None:
        pass

    def _make_up(self) -> None:
        now = time.monotonic_ns()
        n = (now - self.last) * 20 // 1_000_000
        for i in range(n):
            end = self.last + (i + 1) * (now - self.last) // n
            self.made += 1
            self.recorder.record(end - 300_000, end, 1000, 2000, self.made % 10 != 0)
        self.last = now

    def discard(self) -> None:
        self._make_up()
        self.recorder.discard()

    def end_window(self) -> None:
        pass

    def pending(self) -> int:
        return 0

    def cut(self, start_ns: int, end_ns: int) -> WindowSample:
        self._make_up()
        return self.recorder.cut(start_ns, end_ns)


def sweep_with_export(tmp_path: Path, **settings: object) -> tuple[Path, SweepResult, ResultFiles]:
    path = tmp_path / "export.json"
    outputs = Outputs(profile_export=str(path))
    listeners, files = standard_outputs(outputs, io.StringIO())
    load = SyntheticLoad()
    log = request_log_of(listeners)
    assert log is not None
    load.recorder.keep_requests(log)
    base = {"model": "m", "concurrency_start": 1, "concurrency_end": 2}
    run = SweepDriver(
        SweepSettings(**{**base, "measurement_interval_ms": 20, **settings}),
        load,
        load,
        events=SweepEvents(listeners),
    )
    before = time.time_ns()
    result = run.run()
    after = time.time_ns()
    experiments = json.loads(path.read_text())["experiments"]
    # On the epoch, within the run: perf_analyzer's system_clock nanoseconds.
    assert before < min(b for e in experiments for b in e["window_boundaries"])
    assert max(r["response_timestamps"][-1] for e in experiments for r in e["requests"]) < after
    return path, result, files


def test_a_sweep_exports_every_successful_request_of_every_window(tmp_path):
    path, result, files = sweep_with_export(tmp_path)
    assert schema_errors(path) == []
    data = json.loads(path.read_text())
    assert [e["experiment"] for e in data["experiments"]] == [
        {"mode": "concurrency", "value": 1},
        {"mode": "concurrency", "value": 2},
    ]
    for e, level in zip(data["experiments"], result.levels, strict=True):
        # Every window, those before the stable three too; the failed requests left out.
        assert len(e["requests"]) == sum(w.request_count for w in level.windows)
        assert any(w.error_count for w in level.windows)
        bounds = e["window_boundaries"]
        assert len(bounds) == len(level.windows) + 1
        offsets = {b - w.start_ns for b, w in zip(bounds, level.windows, strict=False)}
        assert len(offsets) == 1  # one offset moved the whole run onto the epoch
        assert [b - a for a, b in zip(bounds, bounds[1:], strict=False)] == [
            w.duration_ns for w in level.windows
        ]
    assert files.written == [str(path)] and files.failed == []


def test_the_report_from_our_export_has_the_figures_of_our_results(tmp_path):
    path, result, _ = sweep_with_export(tmp_path, percentile=95)
    summary = load_summary(path)
    for row, level in zip(summary.levels, result.reported_levels, strict=True):
        m = level.merged
        assert row.concurrency == level.concurrency
        assert row.throughput == m.throughput
        assert row.percentiles_us == {p: v / NS_PER_US for p, v in m.percentiles_ns.items()}
    write_report(summary, tmp_path / "report.html")
    assert "throughput" in (tmp_path / "report.html").read_text()


def test_a_request_rate_sweep_exports_its_rates(tmp_path):
    path, result, _ = sweep_with_export(tmp_path, rate=RateSettings(50.0, 100.0, 50.0))
    assert schema_errors(path) == []
    data = json.loads(path.read_text())
    assert [e["experiment"] for e in data["experiments"]] == [
        {"mode": "request_rate", "value": level.request_rate} for level in result.levels
    ]
    assert '"value":50.0' in path.read_text()


def test_a_file_that_cannot_be_written_is_said_and_fails_the_run(tmp_path, capsys):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    path = str(blocker / "export.json")
    files = ResultFiles(Outputs(profile_export=path))
    out = ProfileExportOutput(path, files)
    out.sweep_started(SweepSettings(model="m"))
    out.sweep_ended(None)  # type: ignore[arg-type]
    assert files.failed == [path] and files.written == []
    assert f"cannot write {path}" in capsys.readouterr().err


def test_a_window_the_recorder_never_cut_fails_the_export_rather_than_short_it(tmp_path, capsys):
    path, result, _ = sweep_with_export(tmp_path)
    files = ResultFiles(Outputs(profile_export=str(tmp_path / "other.json")))
    out = ProfileExportOutput(str(tmp_path / "other.json"), files)
    out.sweep_started(result.settings)
    out.level_finished(result.levels[0], result)  # its log never saw these windows
    out.sweep_ended(result)
    assert files.failed == [str(tmp_path / "other.json")]
    assert not (tmp_path / "other.json").exists()
    assert "no requests recorded for the window" in capsys.readouterr().err


# -- the flag ------------------------------------------------------------------------------


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "triton_locust.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )


def test_the_flag_is_taken_and_an_existing_path_refused_as_perf_analyzer_does(tmp_path):
    assert "--profile-export-file" not in NOT_YET
    existing = tmp_path / "there.json"
    existing.write_text("{}")
    for path in (existing, tmp_path):
        run = cli("profile", "-m", "m", "-u", "localhost:1", "--profile-export-file", str(path))
        assert run.returncode == 2
        (line,) = run.stderr.strip().splitlines()
        assert line.endswith(
            f"--profile-export-file {path}: the path must not already exist (perf_analyzer's rule)"
        )


def test_the_export_with_locust_workers_is_refused_in_one_line(tmp_path):
    run = cli(
        "profile", "-m", "m", "-u", "localhost:1", "--processes", "2",
        "--profile-export-file", str(tmp_path / "x.json"),
    )  # fmt: skip
    assert run.returncode == 2
    (line,) = run.stderr.strip().splitlines()
    assert "--profile-export-file with Locust workers" in line
    assert not (tmp_path / "x.json").exists()


def test_the_report_command_reads_perf_analyzers_export_and_refuses_a_rate_one(tmp_path):
    out = tmp_path / "report.html"
    run = cli("report", str(PA_CONCURRENCY), "-o", str(out), "--json", str(tmp_path / "s.json"))
    assert run.returncode == 0, run.stderr
    page = out.read_text()
    truth = pa_csv(DATA / "pa_export_concurrency.csv")
    for row in truth.values():
        assert row["Inferences/Second"] in page
    # What an export does not record is said so, not shown as a CSV's gap or as zero.
    assert "assumed: a profile export does not say what its run stabilised on" in page
    assert "A profile export records no client or server breakdown" in page
    assert "perf_analyzer CSV" not in page
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["levels"]
    run = cli("report", str(PA_RATE), "-o", str(out))
    assert run.returncode == 2
    (line,) = run.stderr.strip().splitlines()
    assert "a request-rate profile export" in line
