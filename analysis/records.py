"""Request records: what the load generator measured, one row per completed request.

Columnar numpy arrays so that a window's selection and statistics cost no Python loop.
Times are monotonic nanoseconds of the recording process."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

COLUMNS: tuple[str, ...] = ("start_ns", "end_ns", "send_ns", "recv_ns", "ok")


@dataclass(frozen=True)
class Records:
    """start_ns/end_ns: when the request was started and its response fully received.
    send_ns: time spent building and writing the request; recv_ns: time spent reading and
    decoding the response (the rest of end-start is response wait). ok: no error."""

    start_ns: np.ndarray
    end_ns: np.ndarray
    send_ns: np.ndarray
    recv_ns: np.ndarray
    ok: np.ndarray

    def __len__(self) -> int:
        return len(self.end_ns)

    @classmethod
    def empty(cls) -> Records:
        z = np.zeros(0, dtype=np.int64)
        return cls(z, z, z, z, np.zeros(0, dtype=bool))

    @classmethod
    def from_rows(cls, rows: Sequence[tuple[int, int, int, int, bool]]) -> Records:
        """Rows of (start_ns, end_ns, send_ns, recv_ns, ok): handy for tests."""
        if not rows:
            return cls.empty()
        cols = list(zip(*rows, strict=True))
        return cls(
            *(np.asarray(c, dtype=np.int64) for c in cols[:4]), np.asarray(cols[4], dtype=bool)
        )

    @classmethod
    def concat(cls, parts: Sequence[Records]) -> Records:
        if not parts:
            return cls.empty()
        return cls(*(np.concatenate([getattr(p, c) for p in parts]) for c in COLUMNS))

    def mask(self, keep: np.ndarray) -> Records:
        return Records(*(getattr(self, c)[keep] for c in COLUMNS))

    def ended_within(self, start_ns: int, end_ns: int) -> Records:
        """perf_analyzer's rule: a request belongs to the window in which its response
        arrived, both edges included."""
        return self.mask((self.end_ns >= start_ns) & (self.end_ns <= end_ns))

    def ended_after(self, end_ns: int) -> Records:
        return self.mask(self.end_ns > end_ns)

    def ended_by(self, end_ns: int) -> Records:
        """The rest of ended_after: responses that arrived at or before end_ns."""
        return self.mask(self.end_ns <= end_ns)
