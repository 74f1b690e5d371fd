"""A user's closed loop in an OS thread of its own: send, wait (blocking, off gevent's hub),
record, send again. The thread never touches gevent: timings go to the recorder (locked)
and to an EventBuffer that a greenlet drains into Locust's request event."""

from __future__ import annotations

import collections
import time
from collections.abc import Callable

import gevent
from gevent import monkey

from triton_user.sweep.recorder import Recorder
from triton_user.wire.timing import Timing, crashed

_start_thread = monkey.get_original("_thread", "start_new_thread")
DRAIN_INTERVAL_S = 0.05


class EventBuffer:
    """Timings waiting to be told to Locust (its statistics, UI and workers' reports live
    on gevent's hub, which OS threads must not touch). deque appends are thread-safe."""

    def __init__(self, fire: Callable[[Timing], None]) -> None:
        self._pending: collections.deque[Timing] = collections.deque()
        self._fire = fire
        self._drainer: gevent.Greenlet | None = None

    def add(self, timing: Timing) -> None:
        self._pending.append(timing)

    def start(self) -> None:
        if self._drainer is None or self._drainer.dead:
            self._drainer = gevent.spawn(self._drain_forever)

    def drain(self) -> None:
        pending, fire = self._pending, self._fire
        for _ in range(len(pending)):
            fire(pending.popleft())

    def _drain_forever(self) -> None:
        while True:
            gevent.sleep(DRAIN_INTERVAL_S)
            self.drain()


class ThreadedLoop:
    """One request in flight, in its own OS thread, until stopped."""

    def __init__(
        self,
        send: Callable[[], Timing],
        close: Callable[[], None],
        recorder: Recorder,
        events: EventBuffer,
    ) -> None:
        self._send, self._close = send, close
        self._recorder, self._events = recorder, events
        self._running = True

    def start(self) -> None:
        self._events.start()
        _start_thread(self._run, ())

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
                record(t.start_ns, t.end_ns, t.send_ns, t.recv_ns, t.error is None)
                add(t)
        finally:
            self._close()
