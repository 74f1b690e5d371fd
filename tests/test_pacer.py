"""The pacer decides when each request of a rate is due, apart from what sends it; tried on
synthetic clocks. The gate hands those slots out in order to whichever user is free."""

from __future__ import annotations

import ctypes
import threading
import time

import msgpack
import numpy as np
import pytest

from analysis.pacer import (
    ConstantPacer,
    IntervalsPacer,
    PoissonPacer,
    RateShare,
    StridedPacer,
    pacer_for,
    read_intervals,
)
from triton_user.sweep import request_loop
from triton_user.sweep.pacing import PacedLoop, RateGate
from triton_user.sweep.recorder import Recorder
from triton_user.sweep.request_loop import (
    BUSY_DRAIN_S,
    DRAIN_INTERVAL_S,
    TIMER_SLACK_NS,
    EventBuffer,
)
from triton_user.wire.timing import Timing

S = 1_000_000_000
PR_GET_TIMERSLACK = 30


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
    # A Locust worker's share kept from before its users came: due from when it arrived.
    gate.start(ConstantPacer(10.0), start_ns=4 * S)
    assert gate.take() == (4, 4 * S + 100_000_000)


# Request-rate mode across Locust workers: one schedule, dealt out in turns ------------------
WHOLE_SCHEDULES = {
    "constant": lambda: ConstantPacer(300.0),
    "poisson": lambda: PoissonPacer(300.0, seed=11),
    "intervals": lambda: IntervalsPacer([1_000, 7_000, 0, 2_500, 40_000]),
}


@pytest.mark.parametrize("kind", WHOLE_SCHEDULES)
@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_the_workers_turns_together_are_the_single_schedule_slot_for_slot(kind, count):
    per_worker = 3000  # past a chunk of Poisson draws, and many rounds of the file
    whole = WHOLE_SCHEDULES[kind]()
    single = [whole.due_ns(i) for i in range(per_worker * count)]
    turns = [StridedPacer(WHOLE_SCHEDULES[kind](), k, count) for k in range(count)]
    union = sorted(t.due_ns(j) for t in turns for j in range(per_worker))
    assert union == single
    assert all(t.rate == pytest.approx(whole.rate / count) for t in turns)


def test_a_constant_rate_s_turns_interleave_worker_after_worker():
    count, rate = 3, 600.0
    turns = [StridedPacer(ConstantPacer(rate), k, count) for k in range(count)]
    slots = sorted((t.due_ns(j), k) for k, t in enumerate(turns) for j in range(100))
    assert [k for _, k in slots] == [0, 1, 2] * 100  # each worker in turn, never two at once
    gaps = np.diff([due for due, _ in slots])
    assert set(gaps) <= {S // 600 - 1, S // 600, S // 600 + 1}  # the whole rate's spacing
    # Each worker alone: rate / count, its first slot k/count of its own period later.
    assert [t.due_ns(1) - t.due_ns(0) for t in turns] == [5_000_000] * 3
    assert [t.due_ns(0) for t in turns] == [1_666_667, 3_333_333, 5_000_000]


def test_a_share_says_its_whole_schedule_and_its_turns_on_the_wire():
    share = RateShare(250.0, "poisson", (), seed=3).dealt(1, 2)
    carried = RateShare.from_wire(msgpack.unpackb(msgpack.packb(share.to_wire())))
    assert carried == share
    whole = PoissonPacer(250.0, seed=3)
    assert [carried.pacer().due_ns(j) for j in range(4)] == [
        whole.due_ns(1 + 2 * j) for j in range(4)
    ]
    assert RateShare(10.0).pacer().due_ns(0) == ConstantPacer(10.0).due_ns(0)  # one: the whole
    assert RateShare(10.0, "constant", (100, 300)).dealt(1, 2).pacer().due_ns(0) == 400_000


@pytest.mark.parametrize(
    "wire",
    [
        {"rate": 10.0, "distribution": "constant", "index": 2, "count": 2},
        {"rate": 10.0, "distribution": "constant", "index": 0, "count": 0},
        {"rate": 10.0, "distribution": "uniform", "index": 0, "count": 1},
        {"rate": -1.0, "distribution": "constant", "index": 0, "count": 1},
    ],
)
def test_a_share_no_pacer_can_follow_is_refused(wire):
    with pytest.raises(ValueError):
        RateShare.from_wire(wire)


def test_a_turn_outside_the_senders_is_refused():
    with pytest.raises(ValueError, match="sender 3 of 3"):
        StridedPacer(ConstantPacer(1.0), 3, 3)


def test_a_paced_user_sleeps_with_a_one_microsecond_timer_slack():
    # Linux's default 50 µs slack would let every wake-up for a slot come up to 50 µs late.
    libc = ctypes.CDLL(None)
    seen: list[int] = []
    done = threading.Event()

    def send() -> Timing:
        seen.append(libc.prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0))
        loop.stop()
        done.set()
        now = time.monotonic_ns()
        return Timing(now, now, 0, 0, 0)

    gate = RateGate()
    loop = PacedLoop(send, lambda: None, gate, Recorder(), lambda t: None)
    gate.start(ConstantPacer(1000.0))
    loop.start()
    assert done.wait(5)
    assert seen == [TIMER_SLACK_NS] == [1_000]


class _Stop(Exception):
    pass


def drain_waits(monkeypatch, paced: bool, arrivals: list[int]) -> list[float]:
    """The waits of an event buffer's drainer when `arrivals[i]` events come before its
    i-th drain."""
    buffer = EventBuffer(lambda t: None, paced=paced)
    waits, coming = [], iter(arrivals)

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        for _ in range(next(coming, 0)):
            buffer.add(Timing(0, 1, 0, 0, 0))
        if len(waits) > len(arrivals):
            raise _Stop

    monkeypatch.setattr(request_loop.gevent, "sleep", sleep)
    with pytest.raises(_Stop):
        buffer._drain_forever()
    return waits


def test_a_paced_buffer_drains_every_2_ms_while_events_come_fast(monkeypatch):
    # Each drain holds the GIL, and a paced user waking for its slot waits for it: at
    # 5,000 req/s, ten events (~45 µs) a drain rather than fifty (~0.2 ms).
    waits = drain_waits(monkeypatch, paced=True, arrivals=[50, 10, 10, 3, 0])
    slow, busy = DRAIN_INTERVAL_S, BUSY_DRAIN_S
    assert waits == [slow, busy, busy, busy, slow, slow]


def test_a_concurrency_buffer_keeps_its_10_ms_drains(monkeypatch):
    waits = drain_waits(monkeypatch, paced=False, arrivals=[50, 10, 10, 3, 0])
    assert waits == [DRAIN_INTERVAL_S] * 6
