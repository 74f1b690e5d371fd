"""How busy the load generator is: its CPU share, and how late its event loop runs."""

import time

import gevent
from gevent import monkey

from triton_user.sweep.busy_meter import TICK_S, LoopLag, busy_share, mark

_block = monkey.get_original("time", "sleep")  # holds the whole loop, as busy code does


def test_cpu_share_is_cpu_seconds_per_wall_second():
    start, thread_start = mark(), time.thread_time_ns()
    deadline = time.monotonic() + 0.05
    while time.monotonic() < deadline:  # spin: one core, as much of it as the machine gives
        pass
    end, thread_end = mark(), time.thread_time_ns()
    share = busy_share(start, end)
    # This thread's CPU is the process's, nothing else runs: no thread left behind by an
    # earlier test, and no OpenBLAS worker spinning after a long dot product.
    this_thread = (thread_end - thread_start) / (end.wall_ns - start.wall_ns)
    assert share is not None and this_thread * 0.9 <= share <= this_thread + 0.1
    assert busy_share(start, start) is None


def test_a_loop_held_by_busy_code_shows_as_lag():
    meter = LoopLag()
    meter.start()
    try:
        gevent.sleep(TICK_S * 5)
        meter.take_ms()  # from here on
        _block(0.2)  # the timer greenlet cannot wake meanwhile
        gevent.sleep(TICK_S * 3)
        lag = meter.take_ms()
    finally:
        meter.stop()
    # The first wakeup after the block is ~190 ms late; a handful of ticks share it.
    assert lag is not None and lag > 20


def test_no_figure_before_the_timer_has_woken():
    assert LoopLag().take_ms() is None
