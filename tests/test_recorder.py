"""The recorder: users' rows in, windows out; folding old rows away changes no window and
keeps memory flat however long a window lasts."""

import time
import tracemalloc

import numpy as np
import pytest

from triton_user.sweep.recorder import FOLD_AGE_NS, Recorder

S = 1_000_000_000


def record_steady(recorder: Recorder, t0: int, seconds: int, per_s: int) -> None:
    """Requests ending evenly over `seconds` from t0, latencies from 100 us to 5 ms."""
    for i in range(seconds * per_s):
        end = t0 + i * S // per_s
        recorder.record(end - 100_000 - (i * 7919) % 4_900_000, end, 20_000, 10_000, i % 97 != 0)


def window_figures(sample):
    lat = sample.latencies
    return (
        lat.count,
        sample.error_count,
        sample.send_total_ns,
        sample.recv_total_ns,
        lat.mean_ns(),
        [lat.percentile_ns(p) for p in (50, 90, 95, 99)],
    )


@pytest.mark.parametrize("histogram", [False, True], ids=["exact", "worker-histogram"])
def test_folding_as_the_window_goes_changes_no_figure_of_it(histogram):
    plain, folding = Recorder(histogram), Recorder(histogram)
    for r in (plain, folding):
        r.discard()
    t0 = time.monotonic_ns() + S  # the window under way starts after both discards
    for second in range(6):
        for r in (plain, folding):
            record_steady(r, t0 + second * S, 1, 2000)
        folding.fold(now_ns=t0 + (second + 1) * S)  # folds what ended a second before
    end = t0 + 6 * S - S // 4  # the last quarter second waits for the next window
    assert folding.pending() == plain.pending() == 12_000
    a, b = plain.cut(t0, end), folding.cut(t0, end)
    assert window_figures(b) == window_figures(a)
    assert window_figures(folding.cut(end, end + S)) == window_figures(plain.cut(end, end + S))


def test_rows_that_ended_before_the_window_are_folded_into_none():
    recorder = Recorder(histogram=True)
    recorder.discard()
    t0 = time.monotonic_ns()
    record_steady(recorder, t0 - 3 * S, 2, 100)  # a ramp's stragglers, recorded late
    record_steady(recorder, t0 + S, 1, 100)
    recorder.fold(now_ns=t0 + 2 * S + FOLD_AGE_NS)
    sample = recorder.cut(t0, t0 + 3 * S)
    assert sample.latencies.count + sample.error_count == 100


@pytest.mark.parametrize(("histogram", "at_most"), [(False, 1.0), (True, 1 / 25)])
def test_a_long_window_is_kept_compact_not_as_python_rows(histogram, at_most):
    recorder = Recorder(histogram)
    recorder.discard()
    t0 = time.monotonic_ns()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        record_steady(recorder, t0, 10, 10_000)  # 100,000 requests of one long window
        as_rows = tracemalloc.get_traced_memory()[0] - before
        recorder.fold(now_ns=t0 + 11 * S)
        folded = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert as_rows < 100_000 * 48  # bytes: five int64s a request, no Python object each
    assert folded <= as_rows * at_most
    assert recorder.cut(t0, t0 + 11 * S).latencies.count == np.sum(np.arange(100_000) % 97 != 0)
