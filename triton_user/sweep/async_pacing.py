"""--async in request-rate mode: every request leaves at its slot, however many are in flight
(perf_analyzer's asynchronous request-rate workers).

A user is a dispatcher greenlet on the gevent hub of one of at most --max-threads OS threads
(async_loop.HubThread). It takes the level's slots from the rate gate in order, sleeps on
that hub until each, and hands the request to a sender greenlet of the same hub, which
sends it over a free client of the dispatcher's pool, opening a new one when every client
holds a request (ours hold one at a time, a --streaming client too). A slot so never waits
for a free user: its lateness is only the hub's own delay in waking the dispatcher.

The pool lives as long as the user: later levels reuse its connections, as the synchronous
users keep theirs. Stopped, the dispatcher closes its idle clients and each busy one is
closed once its request ends."""

from __future__ import annotations

import ctypes
import functools
import os
import time
from collections.abc import Callable
from typing import Any

import gevent

from triton_user.requests.plan import Sender
from triton_user.sweep.pacing import IDLE_S, RateGate, record_at_slot, wait_for
from triton_user.sweep.recorder import Recorder
from triton_user.sweep.request_loop import EventBuffer, tighten_timer_slack
from triton_user.wire.timing import crashed

CLOCK_MONOTONIC = 1  # time.monotonic_ns's clock (Linux)
TFD_NONBLOCK, TFD_CLOEXEC = 0o4000, 0o2000000


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


@functools.lru_cache(maxsize=1)
def _libc() -> Any:
    return ctypes.CDLL(None, use_errno=True)


class HubSleep:
    """A sleep for greenlets of one hub that ends within microseconds of its time.
    gevent's own timers wake up to a millisecond late (libev's epoll backend rounds its
    waits up to whole milliseconds), which would make most slots late; a timerfd, which
    the hub watches like a socket, fires on time. Where there is no timerfd (not Linux),
    gevent's sleep. Made and used on the hub's own thread."""

    def __init__(self) -> None:
        try:
            self._fd = _libc().timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)
        except (OSError, AttributeError):
            self._fd = -1
        self._hub = gevent.get_hub()
        self._ready = self._hub.loop.io(self._fd, 1) if self._fd >= 0 else None

    def __call__(self, seconds: float) -> None:
        if self._ready is None:
            gevent.sleep(seconds)
            return
        ns = max(int(seconds * 1e9), 1)  # 0 would disarm the timer
        spec = _Itimerspec(_Timespec(0, 0), _Timespec(ns // 1_000_000_000, ns % 1_000_000_000))
        if _libc().timerfd_settime(self._fd, 0, ctypes.byref(spec), None) != 0:
            gevent.sleep(seconds)
            return
        self._hub.wait(self._ready)
        try:
            os.read(self._fd, 8)  # the expiry count: read, the fd is quiet again
        except BlockingIOError:
            pass

    def close(self) -> None:
        if self._ready is not None:
            self._ready.close()
            os.close(self._fd)
            self._ready = None


class SenderPool:
    """A dispatcher's senders, each with its own client: a free one for the next request,
    a new one when all are busy. Used on one hub only: no lock."""

    def __init__(self, new_sender: Callable[[], Sender]) -> None:
        self._new = new_sender
        self._free: list[Sender] = []
        self.opened = 0  # senders made so far: the most requests this pool held in flight
        self.closing = False

    def take(self) -> Sender:
        if self._free:
            return self._free.pop()
        sender = self._new()
        self.opened += 1
        return sender

    def give_back(self, sender: Sender) -> None:
        """A sender whose request ended: kept for the next, or closed once stopping."""
        if self.closing:
            sender.close()
        else:
            self._free.append(sender)

    def close(self) -> None:
        """Close the idle senders; those still in flight close as they come back."""
        self.closing = True
        free, self._free = self._free, []
        for sender in free:
            sender.close()


class AsyncPacedLoop:
    """A user of --async request-rate mode: a dispatcher that `host` runs as a greenlet (on
    a HubThread's hub, or Locust's own with --client-io gevent), until stopped."""

    def __init__(
        self,
        new_sender: Callable[[], Sender],
        gate: RateGate,
        recorder: Recorder,
        events: EventBuffer,
        host: Callable[[Callable[[], None]], None] = gevent.spawn,
    ) -> None:
        self.pool = SenderPool(new_sender)
        self._gate, self._recorder, self._events = gate, recorder, events
        self._host = host
        self._running = True

    def start(self) -> None:
        self._events.start()  # on Locust's hub: the buffer's drainer lives there
        self._host(self._run)

    def stop(self) -> None:
        """The dispatcher sends no more; requests in flight end and are recorded."""
        self._running = False

    def _run(self) -> None:
        gate, pool, recorder = self._gate, self.pool, self._recorder
        tighten_timer_slack()  # the hub's thread: its loop's waits end closer to the slot
        sleep = HubSleep()
        try:
            while self._running:
                slot = gate.take()
                if slot is None:
                    gevent.sleep(IDLE_S)
                    continue
                generation, due = slot
                if not wait_for(gate, generation, due, sleep) or not self._running:
                    continue
                recorder.count_sent()
                try:
                    sender = pool.take()
                except Exception as exc:  # no client to be had: this request failed
                    t = crashed(time.monotonic_ns(), exc)
                    record_at_slot(recorder, t, due)
                    self._events.add(t)
                    continue
                gevent.spawn(self._send_one, sender, due)
        finally:
            sleep.close()
            pool.close()

    def _send_one(self, sender: Sender, due_ns: int) -> None:
        try:
            t = sender()
        except Exception as exc:  # a failed request, shown; not a greenlet ended unseen
            t = crashed(time.monotonic_ns(), exc)
        self.pool.give_back(sender)
        record_at_slot(self._recorder, t, due_ns)
        self._events.add(t)
