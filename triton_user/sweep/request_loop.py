"""A user's closed loop off Locust's thread: send, wait, record, send again. By default in an
OS thread of its own, waiting blocking, off gevent's hub (perf_analyzer's synchronous
contexts); with --async as a greenlet on the hub of one of a few OS threads
(triton_user/sweep/async_loop.py). Neither touches Locust's hub: timings go to the
recorder (locked) and to an EventBuffer that a greenlet drains into Locust's request event."""

from __future__ import annotations

import collections
import ctypes
import functools
import time
from collections.abc import Callable
from typing import Any

import gevent
from gevent import monkey

from triton_user.sweep.recorder import Recorder
from triton_user.wire.timing import Timing, crashed

_start_thread = monkey.get_original("_thread", "start_new_thread")
# A drain holds the GIL (~4.5 µs an event, in Locust's statistics), and a user thread that
# wakes for its request-rate slot meanwhile waits for it: every 10 ms at 5,000 req/s, each
# drain held it ~0.2 ms, 2% of the time, and send lateness p99 rose by ~80 µs. So in
# request-rate mode, while events come fast (a drain found BUSY_EVENTS or more), drains
# come every BUSY_DRAIN_S. Concurrency mode keeps the longer interval: its hub wakes less
# (2 ms cost ~5 µs of CPU a request at c=1).
DRAIN_INTERVAL_S = 0.01
BUSY_DRAIN_S = 0.002
BUSY_EVENTS = 8
# What `top -H` and /proc/PID/task/*/comm show for a synchronous user's thread (15 bytes at
# most): sending threads can be told from Locust's and gevent's own.
USER_THREAD_NAME = "tl-user"
PR_SET_NAME = 15
PR_SET_TIMERSLACK = 29
# Linux lets a sleeping thread wake up to its timer slack late (50 µs by default) so that
# wake-ups can be merged; a user waiting for its request-rate slot asks for 1 µs.
TIMER_SLACK_NS = 1_000


@functools.lru_cache(maxsize=1)
def _libc() -> Any:
    return ctypes.CDLL(None)  # the process's own symbols, libc's among them


def name_this_thread(name: str) -> None:
    """Name the calling OS thread as the kernel shows it (Linux); elsewhere nothing."""
    try:
        _libc().prctl(PR_SET_NAME, name.encode()[:15], 0, 0, 0)
    except (OSError, AttributeError):
        pass


class EventBuffer:
    """Timings waiting to be told to Locust (its statistics, UI and workers' reports live
    on gevent's hub, which OS threads must not touch). deque appends are thread-safe."""

    def __init__(self, fire: Callable[[Timing], None], paced: bool = False) -> None:
        self._pending: collections.deque[Timing] = collections.deque()
        self._fire = fire
        self._drainer: gevent.Greenlet | None = None
        self._busy_s = BUSY_DRAIN_S if paced else DRAIN_INTERVAL_S

    def add(self, timing: Timing) -> None:
        self._pending.append(timing)

    def start(self) -> None:
        if self._drainer is None or self._drainer.dead:
            self._drainer = gevent.spawn(self._drain_forever)

    def drain(self) -> int:
        """Fire the waiting timings' events; how many there were."""
        pending, fire = self._pending, self._fire
        count = len(pending)
        for _ in range(count):
            fire(pending.popleft())
        return count

    def _drain_forever(self) -> None:
        interval = DRAIN_INTERVAL_S
        while True:
            gevent.sleep(interval)
            interval = self._busy_s if self.drain() >= BUSY_EVENTS else DRAIN_INTERVAL_S


# How long a stopping user waits for its loop to close (a sequence model's END requests
# sent): a request in flight longer than that is left to its deadline.
CLOSE_WAIT_S = 5.0


def wait_closed(loop: Any, sleep: Callable[[float], None], timeout_s: float = CLOSE_WAIT_S) -> bool:
    """Wait until `loop` (stopped) has closed its sender; False if it did not in time. Else
    a process that ends right after its users stop can leave before a loop's last requests
    go: a sequence model's open sequences then hold the server's slots until they idle out."""
    deadline = time.monotonic() + timeout_s
    while not loop.closed and time.monotonic() < deadline:
        sleep(0.005)
    return bool(loop.closed)


def tighten_timer_slack() -> bool:
    """This OS thread's timer slack set to TIMER_SLACK_NS (Linux); False where it cannot be:
    its sleeps then keep the system's slack."""
    try:
        return _libc().prctl(PR_SET_TIMERSLACK, TIMER_SLACK_NS, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def own_thread(body: Callable[[], None]) -> None:
    """Run `body` in a new OS thread of its own (the thread ends with it)."""
    _start_thread(_named, (body,))


def _named(body: Callable[[], None]) -> None:
    name_this_thread(USER_THREAD_NAME)
    body()


class ThreadedLoop:
    """One request in flight, until stopped; `host` runs the loop: in an OS thread of its own
    (own_thread), or as a greenlet on another thread's hub (HubThread.spawn)."""

    def __init__(
        self,
        send: Callable[[], Timing],
        close: Callable[[], None],
        recorder: Recorder,
        events: EventBuffer,
        host: Callable[[Callable[[], None]], None] = own_thread,
    ) -> None:
        self._send, self._close = send, close
        self._recorder, self._events = recorder, events
        self._host = host
        self._running = True
        self.closed = False  # the loop ended and closed its sender (a sequence's END sent)

    def start(self) -> None:
        self._events.start()
        self._host(self._run)

    def stop(self) -> None:
        """The thread ends after the request in flight."""
        self._running = False

    def _run(self) -> None:
        send, record, add = self._send, self._recorder.record, self._events.add
        try:
            while self._running:
                try:
                    t = send()
                except Exception as exc:  # a failed request, shown; not a thread ended unseen
                    t = crashed(time.monotonic_ns(), exc)
                ok, streamed, ended = t.error is None, t.responses_ns, t.sequence_end
                record(t.start_ns, t.end_ns, t.send_ns, t.recv_ns, ok, streamed, ended)
                add(t)
        finally:
            self._close()
            self.closed = True
