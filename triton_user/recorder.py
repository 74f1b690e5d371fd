"""Where users put each request's timing: a per-process list, swapped out whole by the
sweep at each window's end (perf_analyzer's SwapRequestRecords)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from analysis.records import Records
from triton_user.busy_meter import busy_share, mark


class Recorder:
    """Appending a tuple is the cheapest thing a user can do per request; the columnar
    conversion happens once per window, off the request path."""

    def __init__(self) -> None:
        self._rows: list[tuple[int, int, int, int, bool]] = []

    def record(self, start_ns: int, end_ns: int, send_ns: int, recv_ns: int, ok: bool) -> None:
        self._rows.append((start_ns, end_ns, send_ns, recv_ns, ok))

    def pending(self) -> int:
        """Requests recorded since the last take (count_windows waits on this)."""
        return len(self._rows)

    def busy(self) -> Callable[[], float | None]:
        """This process's CPU share from now until the returned callable is called."""
        start = mark()
        return lambda: busy_share(start, mark())

    def take(self) -> Records:
        rows, self._rows = self._rows, []
        if not rows:
            return Records.empty()
        table = np.array(rows, dtype=np.int64)
        return Records(table[:, 0], table[:, 1], table[:, 2], table[:, 3], table[:, 4].astype(bool))
