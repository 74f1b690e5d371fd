"""Request-rate mode's side of sending: a gate that hands the level's slots (from a pure
pacer, analysis/pacer.py) to whichever user is free, and the user loop that sleeps until
its slot, sends, and records the slot with the request.

Users are the pool that can hold requests in flight (--max-threads). A free user takes the
next slot in order and waits for it; when every user is busy at a slot's time, the slot
waits for the first user to come free and leaves then, late: its latency from the slot
counts the wait. No slot is skipped within a level.

Why a thread per user and not the users as greenlets on one hub thread (as --async's), which
would spare the GIL's hand-offs between senders: measured at 5,000 req/s against nginx
replaying identity_fp32, one hub made the late tail longer (p99 149-427 µs against 119-129,
slots over 1 ms late 74-418 against 14-20 a run: whatever delays the hub delays every
user's slot at once) and cost ~18 µs more CPU a request over HTTP (gevent's cooperative
waits), though it switched tasks a third as often."""

from __future__ import annotations

import time
from collections.abc import Callable

from gevent import monkey

from analysis.pacer import Pacer
from triton_user.sweep.recorder import Recorder
from triton_user.sweep.request_loop import own_thread, tighten_timer_slack
from triton_user.wire.timing import Timing, crashed

_allocate_lock = monkey.get_original("_thread", "allocate_lock")
_thread_sleep = monkey.get_original("time", "sleep")  # a user's OS thread never enters gevent
# A user waiting for a slot wakes at least this often, to follow a new level's schedule.
WAKE_NS = 50_000_000
# No level under way (between levels): how long an idle user waits before it asks again.
IDLE_S = 0.01


class RateGate:
    """The slots of the level under way, handed out in order; thread-safe."""

    def __init__(self, clock: Callable[[], int] = time.monotonic_ns) -> None:
        self._lock = _allocate_lock()
        self._clock = clock
        self._pacer: Pacer | None = None
        self._start_ns = 0
        self._next = 0
        self.generation = 0  # a new level's schedule: slots of an earlier one are void

    def start(self, pacer: Pacer, start_ns: int | None = None) -> None:
        """A level's schedule, from now or from `start_ns` (the clock's ns: a Locust
        worker's share kept from before its users came, due since it arrived)."""
        with self._lock:
            start = self._clock() if start_ns is None else start_ns
            self._pacer, self._start_ns, self._next = pacer, start, 0
            self.generation += 1

    def pause(self) -> None:
        with self._lock:
            self._pacer = None
            self.generation += 1

    def take(self) -> tuple[int, int] | None:
        """The next slot: (generation, due time in the clock's ns); None between levels."""
        with self._lock:
            if self._pacer is None:
                return None
            index, self._next = self._next, self._next + 1
            return self.generation, self._start_ns + self._pacer.due_ns(index)


def wait_for(gate: RateGate, generation: int, due_ns: int, sleep: Callable[[float], None]) -> bool:
    """Sleep until `due_ns`; False when the level changed meanwhile (the slot is void)."""
    while True:
        if gate.generation != generation:
            return False
        wait = due_ns - time.monotonic_ns()
        if wait <= 0:
            return True
        sleep(min(wait, WAKE_NS) / 1e9)


def record_at_slot(recorder: Recorder, t: Timing, due_ns: int) -> None:
    """A paced request with its slot (streamed: its responses' arrivals; a sequence
    model's: whether it ended its sequence)."""
    ok = t.error is None
    recorder.record_paced(
        t.start_ns, t.end_ns, t.send_ns, t.recv_ns, ok, due_ns, t.responses_ns, t.sequence_end
    )


class PacedLoop:
    """A user of request-rate mode in an OS thread of its own: take a slot, sleep until it,
    send, record the request with its slot; until stopped."""

    def __init__(
        self,
        send: Callable[[], Timing],
        close: Callable[[], None],
        gate: RateGate,
        recorder: Recorder,
        fire: Callable[[Timing], None],
    ) -> None:
        self._send, self._close = send, close
        self._gate, self._recorder, self._fire = gate, recorder, fire
        self._running = True
        self.closed = False  # the loop ended and closed its sender (a sequence's END sent)

    def start(self) -> None:
        own_thread(self._run)

    def stop(self) -> None:
        self._running = False

    def _run(self) -> None:
        gate, send, recorder, fire = self._gate, self._send, self._recorder, self._fire
        tighten_timer_slack()
        try:
            while self._running:
                slot = gate.take()
                if slot is None:
                    _thread_sleep(IDLE_S)
                    continue
                generation, due = slot
                if not wait_for(gate, generation, due, _thread_sleep) or not self._running:
                    continue
                recorder.count_sent()
                try:
                    t = send()
                except Exception as exc:  # a failed request, shown; not a thread ended unseen
                    t = crashed(time.monotonic_ns(), exc)
                record_at_slot(recorder, t, due)
                fire(t)
        finally:
            self._close()
            self.closed = True
