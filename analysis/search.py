"""The order in which a sweep measures its levels: perf_analyzer's linear search, or its
--binary-search (inference_profiler.h, the Profile template with SearchMode::BINARY). Pure:
the caller measures each level it is given and says whether it met -l."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

from analysis.settings import SweepSettings

# A concurrency (whole, its midpoints floored as perf_analyzer's size_t does) or a request
# rate (a float, halved exactly as its double is).
Level = TypeVar("Level", int, float)


def binary_levels(
    start: Level, end: Level, step: Level, met: Callable[[Level], bool]
) -> Iterator[Level]:
    """perf_analyzer's binary search over START..END: the levels in the order it measures
    them. `met(level)` is asked when the next level is wanted, after the level just yielded
    was measured: True when it met the threshold (stable, and under -l).

    START first: missing -l there, no level of the range meets it. END next: meeting it
    there, every level does. Otherwise the midpoint of the last level that met and the last
    that missed, while they are more than STEP apart (STEP is the precision). START equal to
    END is measured twice, as perf_analyzer measures it."""
    yield start
    if not met(start):
        return
    yield end
    if met(end):
        return
    lo, hi = start, end  # lo met -l, hi did not
    while hi - lo > step:
        mid = _midpoint(lo, hi)
        if mid in (lo, hi):
            # Floats with no value between them: perf_analyzer would measure lo for ever.
            return
        yield mid
        if met(mid):
            lo = mid
        else:
            hi = mid


def _midpoint(lo: Level, hi: Level) -> Level:
    if isinstance(lo, int) and isinstance(hi, int):
        return (lo + hi) // 2
    return (lo + hi) / 2


def sweep_levels(settings: SweepSettings, met: Callable[[float], bool]) -> Iterator[float]:
    """The levels of a sweep in the order they are measured: concurrencies, or in
    request-rate mode rates. Linear: START, +STEP, ... (the caller stops at -l). Binary
    (--binary-search): as binary_levels, `met` telling it how each level went."""
    if settings.search != "binary":
        return settings.rate.rates() if settings.rate_mode else settings.concurrencies()
    if settings.rate_mode:
        rate = settings.rate
        return binary_levels(rate.start or 1.0, rate.end, rate.step, met)
    return binary_levels(
        settings.concurrency_start, settings.concurrency_end, settings.concurrency_step, met
    )


def planned_levels(settings: SweepSettings) -> list[float] | None:
    """Every level the sweep will measure, when that is known before it starts; None for
    an open END (it goes on until -l) and for a binary search (its verdicts choose)."""
    if settings.search == "binary":
        return None
    if settings.rate_mode:
        rate = settings.rate
        return None if rate.end == 0 and not rate.intervals_file else list(rate.rates())
    return None if settings.concurrency_end == 0 else list(settings.concurrencies())
