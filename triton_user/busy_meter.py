"""How busy the load generator itself is: the CPU its process used over a stretch of wall
time, as a share of one core. The users share one gevent loop, so near 1.0 the loop, not
the server, sets the pace (perf_analyzer's "not able to keep up" warning)."""

from __future__ import annotations

import time
from dataclasses import dataclass


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
