"""perf_analyzer's "Sequence count" of a sequence model: the successful requests of a window
that carried their sequence's END flag, and those per second of the window (in the single
precision of its infer/sec); a level's figure is its windows' counts over their summed
durations; it crosses the master/worker wire and the JSON, and is printed only for a
sequence model."""

from __future__ import annotations

import time

import numpy as np
import pytest

from analysis import console
from analysis.pa_arithmetic import throughput
from analysis.records import Records
from analysis.results import LevelResult
from analysis.settings import RateSettings, SweepSettings
from analysis.stabiliser import Spread, Verdict
from analysis.window import Window, WindowSample, merge, summarize
from triton_user.sweep.recorder import Recorder
from triton_user.sweep.window_channel import sample_from_wire, sample_to_wire

MS = 1_000_000
S = 1_000_000_000


def sequence_records(n: int, length: int, t0: int = 0, failed_ends: int = 0) -> Records:
    """`n` requests ending 1 ms apart from t0 + 1 ms, each sequence `length` long (every
    `length`-th request carries END); the first `failed_ends` END requests failed."""
    ends = np.arange(1, n + 1, dtype=np.int64) * MS + t0
    starts = ends - 500_000
    zeros = np.zeros(n, dtype=np.int64)
    ended = (np.arange(n) % length) == length - 1
    ok = np.ones(n, dtype=bool)
    ok[np.flatnonzero(ended)[:failed_ends]] = False
    return Records(starts, ends, zeros, zeros, ok, sequence_end=ended)


def test_a_window_counts_the_successful_requests_that_ended_a_sequence():
    records = sequence_records(1000, 4, failed_ends=10)
    w = summarize(records, 0, S, 1)
    assert w.request_count == 990 and w.error_count == 10
    assert w.sequence_count == 250 - 10
    assert w.sequence_per_sec == throughput(240, 1, S) == 240.0


def test_a_request_belongs_to_the_window_its_response_arrived_in():
    records = sequence_records(1000, 4)
    first, second = summarize(records, 0, S // 2, 1), summarize(records, S // 2 + 1, S, 1)
    assert first.sequence_count == 125 and second.sequence_count == 125  # 500 and 1000 end
    assert first.sequence_count + second.sequence_count == 250


def test_a_level_adds_its_windows_counts_and_durations():
    """MergePerfStatusReports: total sequences over the summed client durations (the gaps
    between windows left out)."""
    records = Records.concat([sequence_records(300, 3), sequence_records(200, 5, t0=2 * S)])
    windows = [summarize(records, 0, S // 2, 1), summarize(records, 2 * S, 2 * S + S // 4, 1)]
    assert [w.sequence_count for w in windows] == [100, 40]
    level = merge(windows)
    assert level.sequence_count == 140
    assert level.duration_ns == S // 2 + S // 4
    assert level.sequence_per_sec == throughput(140, 1, S // 2 + S // 4)
    assert level.sequence_per_sec == pytest.approx(140 / 0.75, rel=1e-6)


def test_a_model_without_sequences_has_no_sequence_count():
    rows = [(i * MS, i * MS + 500_000, 0, 0, True) for i in range(1, 100)]
    w = summarize(Records.from_rows(rows), 0, S, 1)
    assert w.sequence_count is None
    assert merge([w, w]).sequence_count is None
    assert "sequence_count" not in w.to_dict() and "sequence_per_sec" not in w.to_dict()


def test_the_json_carries_the_count_and_rate_and_reads_them_back():
    w = summarize(sequence_records(997, 4), 0, S, 1)
    data = w.to_dict()
    assert data["sequence_count"] == 249
    assert data["sequence_per_sec"] == w.sequence_per_sec
    back = Window.from_dict(data)
    assert back.sequence_count == 249 and back.sequence_per_sec == w.sequence_per_sec


def test_concat_and_mask_keep_the_end_flags_of_a_sequence_models_records():
    plain = Records.from_rows([(0, 5, 0, 0, True)])
    joined = Records.concat([sequence_records(8, 4), plain, Records.empty()])
    assert joined.sequence_end is not None
    assert joined.sequence_end.tolist() == [False, False, False, True] * 2 + [False]
    # The first sequence's four, and the other model's request (ended at 5 ns).
    assert joined.ended_within(0, 4 * MS).sequence_end.tolist() == [False] * 3 + [True, False]
    assert Records.concat([plain, Records.empty()]).sequence_end is None


@pytest.mark.parametrize("histogram", [False, True], ids=["exact", "worker-histogram"])
def test_the_recorder_keeps_each_requests_end_flag(histogram):
    recorder = Recorder(histogram)
    recorder.discard()
    t0 = time.monotonic_ns() + S
    for i in range(400):
        end = t0 + (i + 1) * MS
        recorder.record(end - 100_000, end, 10, 10, i % 50 != 0, (), i % 4 == 3)
    recorder.fold(now_ns=t0 + 200 * MS + FOLD_MARGIN)  # half of them folded away first
    sample = recorder.cut(t0, t0 + S)
    assert sample.latencies.count == 392 and sample.error_count == 8
    assert sample.sequence_count == 100  # the failed ones (i % 50 == 0) never END here


FOLD_MARGIN = 1_000_000_000  # Recorder.fold keeps the last FOLD_AGE_NS of rows


def test_the_recorder_keeps_paced_and_streamed_requests_end_flags():
    recorder = Recorder()
    recorder.paced = True
    recorder.discard()
    t0 = time.monotonic_ns()
    for i in range(40):
        end = t0 + (i + 1) * MS
        due = end - 200_000
        if i % 2:
            recorder.record_paced(end - 100_000, end, 1, 1, True, due, (end,), i % 4 == 3)
        else:
            recorder.record_paced(end - 100_000, end, 1, 1, True, due, sequence_end=i % 4 == 3)
    sample = recorder.cut(t0, t0 + S)
    assert sample.latencies.count == 40 and sample.sequence_count == 10


def test_a_recorder_of_a_model_without_sequences_counts_none():
    recorder = Recorder()
    recorder.discard()
    t0 = time.monotonic_ns()
    recorder.record(t0, t0 + MS, 1, 1, True)
    assert recorder.cut(t0, t0 + S).sequence_count is None


def test_the_count_crosses_the_worker_wire_and_adds_up_on_the_master():
    workers = [
        WindowSample.from_records(sequence_records(n, 4), histogram=True) for n in (400, 120)
    ]
    back = [sample_from_wire(sample_to_wire(s)) for s in workers]
    assert [s.sequence_count for s in back] == [100, 30]
    # A worker that measured nothing in the window sends no count: the others' still add.
    idle = sample_from_wire(sample_to_wire(WindowSample.from_records(Records.empty(), True)))
    assert idle.sequence_count is None
    assert WindowSample.merge([*back, idle]).sequence_count == 130
    plain = WindowSample.from_records(Records.from_rows([(0, 5, 0, 0, True)]), True)
    assert "sequence_count" not in sample_to_wire(plain)


def block(w: Window, settings: SweepSettings) -> list[str]:
    level = LevelResult(1, Verdict.STABLE, [w], merge([w], settings.percentile), Spread(1, 1))
    return console.level_block(level, settings).split("\n")


def test_the_console_line_follows_request_count_as_perf_analyzer_prints_it():
    lines = block(summarize(sequence_records(1000, 3), 0, 3 * S, 1), SweepSettings(model="m"))
    assert lines[1:4] == [
        "    Request count: 1000",
        "    Sequence count: 333 (111 seq/sec)",
        "    Throughput: 333.333 infer/sec",
    ]


def test_the_console_has_no_sequence_line_for_a_model_without_sequences():
    rows = [(i * MS, i * MS + 500_000, 0, 0, True) for i in range(1, 100)]
    lines = block(summarize(Records.from_rows(rows), 0, S, 1), SweepSettings(model="m"))
    assert lines[1] == "    Request count: 99"
    assert not any("Sequence count" in line for line in lines)


def test_after_the_late_warning_seq_per_sec_keeps_its_two_fixed_decimals():
    """perf_analyzer's std::fixed << setprecision(2) of the warning sticks to the lines
    after it: seq/sec and infer/sec."""
    records = sequence_records(300, 3)
    late = Records(
        records.start_ns,
        records.end_ns,
        records.send_ns,
        records.recv_ns,
        records.ok,
        records.start_ns - 5 * MS,  # every request left 5 ms after its slot
        sequence_end=records.sequence_end,
    )
    w = summarize(late, 0, 3 * S, 1)
    settings = SweepSettings(model="m", rate=RateSettings(100.0, 100.0, 1.0))
    lines = block(w, settings)
    assert lines[2].startswith("    Avg send request rate: ")
    assert lines[4:6] == [
        "    Sequence count: 100 (33.33 seq/sec)",
        "    Throughput: 100.00 infer/sec",
    ]
