"""The pacer decides when each request of a rate is due, apart from what sends it; tried on
synthetic clocks. The gate hands those slots out in order to whichever user is free."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.pacer import (
    ConstantPacer,
    IntervalsPacer,
    PoissonPacer,
    pacer_for,
    read_intervals,
)
from triton_user.sweep.pacing import RateGate

S = 1_000_000_000


def test_a_constant_rate_is_evenly_spaced_from_one_interval_after_the_start():
    pacer = ConstantPacer(1000.0)
    assert [pacer.due_ns(i) for i in range(3)] == [1_000_000, 2_000_000, 3_000_000]
    # No drift from rounding however long the level: a third of a ns per request adds up.
    assert ConstantPacer(3.0).due_ns(2_999_999) == 1_000_000 * S


def test_the_wait_is_what_is_left_until_the_next_slot_and_negative_when_late():
    pacer = ConstantPacer(100.0)  # a slot every 10 ms
    assert pacer.wait_ns(elapsed_ns=4_000_000, sent=0) == 6_000_000
    assert pacer.wait_ns(elapsed_ns=25_000_000, sent=1) == -5_000_000  # 5 ms late


def test_poisson_arrivals_have_the_rate_as_mean_and_exponential_gaps():
    rate = 500.0
    pacer = PoissonPacer(rate, seed=7)
    n = 20_000
    due = np.array([pacer.due_ns(i) for i in range(n)])
    gaps = np.diff(np.concatenate([[0], due])) / S
    assert gaps.mean() == pytest.approx(1 / rate, rel=0.02)
    assert gaps.var() == pytest.approx(1 / rate**2, rel=0.05)  # exponential: var = mean²
    # Counts per 100 ms are Poisson: their variance equals their mean (50).
    counts = np.bincount((due // (S // 10)).astype(int))[:-1]
    assert counts.mean() == pytest.approx(50, rel=0.03)
    assert counts.var() == pytest.approx(50, rel=0.2)


def test_the_same_seed_gives_the_same_schedule_and_another_seed_another():
    a, b, c = PoissonPacer(100.0, 1), PoissonPacer(100.0, 1), PoissonPacer(100.0, 2)
    first = [a.due_ns(i) for i in range(5000)]  # past one chunk of draws
    assert first == [b.due_ns(i) for i in range(5000)]
    assert first != [c.due_ns(i) for i in range(5000)]
    assert all(x < y for x, y in zip(first, first[1:], strict=False))


def test_an_intervals_file_loops_each_round_after_the_last():
    pacer = IntervalsPacer([1_000, 3_000, 0])  # ns
    assert [pacer.due_ns(i) for i in range(7)] == [1_000, 4_000, 4_000, 5_000, 8_000, 8_000, 9_000]
    assert pacer.rate == pytest.approx(3 / 4e-6)


def test_pacer_for_takes_the_intervals_file_over_the_rate(tmp_path):
    assert isinstance(pacer_for(10.0, "constant"), ConstantPacer)
    assert isinstance(pacer_for(10.0, "poisson"), PoissonPacer)
    assert pacer_for(10.0, "constant", [250]).due_ns(1) == 500_000  # µs in the file
    with pytest.raises(ValueError, match="--request-distribution"):
        pacer_for(10.0, "uniform")


def test_read_intervals_takes_one_microsecond_count_a_line(tmp_path):
    path = tmp_path / "i.txt"
    path.write_text("100\n\n250\n")
    assert read_intervals(path) == [100, 250]
    path.write_text("0\n0\n")
    with pytest.raises(ValueError, match="no interval above 0"):
        read_intervals(path)


class FakeClock:
    def __init__(self) -> None:
        self.now = 5 * S

    def __call__(self) -> int:
        return self.now


def test_the_gate_hands_out_slots_in_order_from_the_levels_start():
    clock = FakeClock()
    gate = RateGate(clock)
    assert gate.take() is None  # between levels: nothing to send
    gate.start(ConstantPacer(1000.0))
    first, second = gate.take(), gate.take()
    assert first == (1, 5 * S + 1_000_000) and second == (1, 5 * S + 2_000_000)
    clock.now += S
    gate.start(ConstantPacer(10.0))  # the next level: its own schedule, from now
    assert gate.take() == (2, 6 * S + 100_000_000)
    gate.pause()
    assert gate.take() is None and gate.generation == 3
