"""Issue 12, no silent thread death: an exception out of a threaded user's request (a defect
of ours, anywhere under `send`) is a recorded, failed request and the user goes on; it does
not end the thread with nothing said."""

from __future__ import annotations

import time

from tests.h2_peer import sleep
from triton_user.sweep.recorder import Recorder
from triton_user.sweep.request_loop import EventBuffer, ThreadedLoop
from triton_user.wire.timing import ErrorLog, Timing


def test_an_exception_in_a_request_is_a_failed_request_and_the_loop_goes_on():
    ErrorLog.clear()
    calls, fired = [0], []

    def send() -> Timing:
        calls[0] += 1
        if calls[0] == 2:
            raise IndexError("list index out of range")
        now = time.monotonic_ns()
        sleep(0.001)
        return Timing(now, time.monotonic_ns(), 0, 0, 1)

    recorder = Recorder()
    loop = ThreadedLoop(send, lambda: None, recorder, EventBuffer(fired.append))
    loop.start()
    began = time.monotonic()
    while calls[0] < 5 and time.monotonic() - began < 5:
        sleep(0.01)
    loop.stop()
    sleep(0.05)
    assert calls[0] >= 5, "the loop died with the exception"
    sample = recorder.cut(0, time.monotonic_ns())
    assert len(sample.latencies.sorted_ns) >= 4  # the successes
    assert sample.error_count == 1
    assert ErrorLog.first is not None and "IndexError" in ErrorLog.first
    ErrorLog.clear()
