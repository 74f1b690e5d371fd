"""When each request of a request-rate level is due, apart from what sends it (vegeta's
Pacer). Pure: a pacer maps the request's index to its due time, in ns after the level's
start; what sleeps until then and sends lives in triton_user/sweep/pacing.py.

The schedules are perf_analyzer's (request_rate_manager.cc, rate_schedule.h): the first
request is due one interval after the start, not at it; `--request-intervals` loops over
its file, each round shifted by the file's whole length.

Across Locust workers, one schedule is dealt out in turns (StridedPacer), as perf_analyzer
deals its schedule to its threads: worker k of n sends slots k, k+n, k+2n, ..."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from analysis.pa_arithmetic import NS_PER_S, NS_PER_US

DISTRIBUTIONS = ("constant", "poisson")
# Poisson gaps are drawn this many at a time: one draw per request would cost more than
# the request's bookkeeping.
_POISSON_CHUNK = 4096


class Pacer(Protocol):
    def due_ns(self, index: int) -> int:
        """When request `index` (0, 1, ...) is due, in ns after the level's start."""
        ...

    def wait_ns(self, elapsed_ns: int, sent: int) -> int:
        """vegeta's question: `sent` requests have left and `elapsed_ns` have passed; how
        long until the next is due (negative: it is late by that much)."""
        ...


class _Waits:
    def wait_ns(self, elapsed_ns: int, sent: int) -> int:
        return self.due_ns(sent) - elapsed_ns  # type: ignore[attr-defined]


class ConstantPacer(_Waits):
    """`rate` requests per second, evenly spaced."""

    def __init__(self, rate: float) -> None:
        if not rate > 0:
            raise ValueError(f"request rate {rate!r}: must be above 0")
        self.rate = rate
        self._interval_ns = NS_PER_S / rate

    def due_ns(self, index: int) -> int:
        # From the index, not by adding intervals: rounding never accumulates.
        return round((index + 1) * self._interval_ns)


class PoissonPacer(_Waits):
    """`rate` requests per second on average, exponential gaps between them (a Poisson
    process); the same seed gives the same schedule."""

    def __init__(self, rate: float, seed: int = 0) -> None:
        if not rate > 0:
            raise ValueError(f"request rate {rate!r}: must be above 0")
        self.rate = rate
        self._rng = np.random.default_rng(seed)
        self._due = np.zeros(0, dtype=np.int64)

    def due_ns(self, index: int) -> int:
        while index >= len(self._due):
            gaps = self._rng.exponential(NS_PER_S / self.rate, _POISSON_CHUNK)
            last = self._due[-1] if len(self._due) else 0
            self._due = np.concatenate([self._due, last + np.cumsum(gaps).astype(np.int64)])
        return int(self._due[index])


class IntervalsPacer(_Waits):
    """`--request-intervals`: the gaps (ns) between successive requests, looped."""

    def __init__(self, intervals_ns: Sequence[int]) -> None:
        if not intervals_ns or any(i < 0 for i in intervals_ns) or sum(intervals_ns) <= 0:
            raise ValueError("request intervals: need at least one, none negative, not all 0")
        self._due = np.cumsum(np.asarray(intervals_ns, dtype=np.int64))
        self._round_ns = int(self._due[-1])

    @property
    def rate(self) -> float:
        """The mean rate the intervals make, per second."""
        return len(self._due) * NS_PER_S / self._round_ns

    def due_ns(self, index: int) -> int:
        rounds, i = divmod(index, len(self._due))
        return int(self._due[i]) + rounds * self._round_ns


def pacer_for(
    rate: float, distribution: str, intervals_us: Sequence[int] = (), seed: int = 0
) -> Pacer:
    """The pacer of one level: the intervals file when given, else `rate` spread as
    `distribution` says."""
    if intervals_us:
        return IntervalsPacer([i * NS_PER_US for i in intervals_us])
    if distribution == "poisson":
        return PoissonPacer(rate, seed)
    if distribution == "constant":
        return ConstantPacer(rate)
    raise ValueError(f"--request-distribution {distribution!r}: expected constant or poisson")


class StridedPacer(_Waits):
    """Sender `index` of `count`'s turns of one schedule: slots index, index+count,
    index+2*count, ... (perf_analyzer's CreateWorkerSchedules deals its slots to its threads
    the same way). The senders' turns together are the schedule itself, slot for slot: a
    constant rate interleaves exactly, a Poisson one (each sender drawing from the same
    seed) stays one Poisson process, an intervals file keeps its order. Each sender draws
    the whole schedule to take its turns: for Poisson, `count` times the draws of its own
    share, a few ns each."""

    def __init__(self, pacer: Pacer, index: int, count: int) -> None:
        if not 0 <= index < count:
            raise ValueError(f"sender {index} of {count}: expected 0 <= index < count")
        self._pacer, self.index, self.count = pacer, index, count

    @property
    def rate(self) -> float:
        """This sender's share of the rate, per second."""
        return self._pacer.rate / self.count  # type: ignore[attr-defined]

    def due_ns(self, index: int) -> int:
        return self._pacer.due_ns(self.index + index * self.count)


@dataclass(frozen=True)
class RateShare:
    """One sender's part of a level's schedule: the whole schedule's recipe (what
    pacer_for takes; every sender the same) and which of its turns are this sender's."""

    rate: float
    distribution: str = "constant"
    intervals_us: tuple[int, ...] = ()
    seed: int = 0
    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.count:
            raise ValueError(f"sender {self.index} of {self.count}: expected 0 <= index < count")

    def pacer(self) -> Pacer:
        whole = pacer_for(self.rate, self.distribution, self.intervals_us, self.seed)
        return whole if self.count == 1 else StridedPacer(whole, self.index, self.count)

    def dealt(self, index: int, count: int) -> RateShare:
        """The same schedule, sender `index` of `count`'s turns."""
        return replace(self, index=index, count=count)

    def to_wire(self) -> dict[str, Any]:
        """Plain lists and numbers: what Locust's message channel (msgpack) carries."""
        return {
            "rate": self.rate,
            "distribution": self.distribution,
            "intervals_us": list(self.intervals_us),
            "seed": self.seed,
            "index": self.index,
            "count": self.count,
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> RateShare:
        share = cls(
            float(data["rate"]),
            str(data["distribution"]),
            tuple(int(i) for i in data.get("intervals_us") or ()),
            int(data.get("seed", 0)),
            int(data["index"]),
            int(data["count"]),
        )
        share.pacer()  # raises ValueError now for a share no pacer can follow
        return share


def read_intervals(path: str | Path) -> list[int]:
    """`--request-intervals FILE`: one interval in µs per line (blank lines ignored);
    raises ValueError, one line naming the flag, for anything else."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ValueError(f"--request-intervals {str(path)!r}: {exc.strerror or exc}") from exc
    values = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = int(line.strip())
        except ValueError:
            value = -1
        if value < 0:
            raise ValueError(
                f"--request-intervals {str(path)!r} line {number}: expected a whole number "
                f"of microseconds, got {line.strip()!r}"
            )
        values.append(value)
    if not values or sum(values) == 0:
        raise ValueError(f"--request-intervals {str(path)!r}: no interval above 0 in it")
    return values
