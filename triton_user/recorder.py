"""Where users put each request's timing, and the sweep takes it back window by window
(perf_analyzer's SwapRequestRecords): a per-process list, swapped out whole at each cut."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from gevent import monkey

from analysis.records import Records
from analysis.window import WindowSample
from triton_user.busy_meter import BusyMark, LoopLag, busy_share, mark

# A real lock: gevent's patched one cannot be taken from an OS thread.
_allocate_lock = monkey.get_original("_thread", "allocate_lock")


class Recorder:
    """Appending a tuple is the cheapest thing a user can do per request; the columnar
    conversion happens once per window, off the request path."""

    def __init__(self, histogram: bool = False) -> None:
        self._rows: list[tuple[int, int, int, int, bool]] = []
        # Users in OS threads record too: the swap must not lose an append racing it.
        self._lock = _allocate_lock()
        self._carry = Records.empty()
        self._since: BusyMark = mark()
        self._lag = LoopLag()
        self._histogram = histogram  # a Locust worker ships histograms, not samples

    def record(self, start_ns: int, end_ns: int, send_ns: int, recv_ns: int, ok: bool) -> None:
        with self._lock:
            self._rows.append((start_ns, end_ns, send_ns, recv_ns, ok))

    def pending(self) -> int:
        """Requests recorded since the last cut (count_windows waits on this)."""
        return len(self._rows)

    def discard(self) -> None:
        """What finished until now belongs to no window (a ramp, a level change)."""
        self._take()
        self._carry = Records.empty()
        self._since = mark()
        self._lag.start()  # from the first level on
        self._lag.take_ms()

    def end_window(self) -> None:
        """Nothing to do: this process's records carry their own end times."""

    def cut(self, start_ns: int, end_ns: int) -> WindowSample:
        """The requests whose responses arrived in [start_ns, end_ns], and how busy this
        process was meanwhile (CPU share, loop lag); later responses wait for the next
        window."""
        records = Records.concat([self._carry, self._take()])
        self._carry = records.ended_after(end_ns)
        now = mark()
        sample = WindowSample.from_records(records.ended_within(start_ns, end_ns), self._histogram)
        sample = replace(
            sample, client_busy=busy_share(self._since, now), client_lag_ms=self._lag.take_ms()
        )
        self._since = now
        return sample

    def _take(self) -> Records:
        with self._lock:
            rows, self._rows = self._rows, []
        if not rows:
            return Records.empty()
        table = np.array(rows, dtype=np.int64)
        return Records(table[:, 0], table[:, 1], table[:, 2], table[:, 3], table[:, 4].astype(bool))
