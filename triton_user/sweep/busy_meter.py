"""How busy the load generator itself is, two ways:

- the CPU its process used over a stretch of wall time, as a share of one core: near 1.0
  the process, not the server, sets the pace;
- how late a timer greenlet wakes on gevent's loop: the wait any ready piece of our code
  has before it runs (a gevent user about to read its response; with users in OS
  threads, the GIL they all wait for). It adds to every latency we measure, whatever the
  CPU share says.

Either is perf_analyzer's "not able to keep up" warning."""

from __future__ import annotations

import time
from dataclasses import dataclass

import gevent

# How often the timer greenlet wakes: 100 wakeups a second, a fraction of a percent of a core.
TICK_S = 0.01
_TICK_NS = int(TICK_S * 1e9)


@dataclass(frozen=True)
class BusyMark:
    wall_ns: int
    cpu_ns: int


def mark() -> BusyMark:
    return BusyMark(time.monotonic_ns(), time.process_time_ns())


def busy_share(start: BusyMark, end: BusyMark) -> float | None:
    """CPU seconds per wall second between two marks; None over no time."""
    wall = end.wall_ns - start.wall_ns
    return (end.cpu_ns - start.cpu_ns) / wall if wall > 0 else None


class LoopLag:
    """The mean lateness of a timer greenlet's wakeups, taken window by window."""

    def __init__(self) -> None:
        self._late_ns = 0
        self._ticks = 0
        self._greenlet: gevent.Greenlet | None = None

    def start(self) -> None:
        if self._greenlet is None or self._greenlet.dead:
            self._greenlet = gevent.spawn(self._tick_forever)

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=False)
            self._greenlet = None

    def take_ms(self) -> float | None:
        """Mean lateness in ms since the last take; None when the timer never woke."""
        late, ticks = self._late_ns, self._ticks
        self._late_ns = self._ticks = 0
        return late / ticks / 1e6 if ticks else None

    def _tick_forever(self) -> None:
        while True:
            before = time.monotonic_ns()
            gevent.sleep(TICK_S)
            self._late_ns += max(time.monotonic_ns() - before - _TICK_NS, 0)
            self._ticks += 1
