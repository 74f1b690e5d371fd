"""Request records: what the load generator measured, one row per completed request.

Columnar numpy arrays so that a window's selection and statistics cost no Python loop.
Times are monotonic nanoseconds of the recording process."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

COLUMNS: tuple[str, ...] = ("start_ns", "end_ns", "send_ns", "recv_ns", "ok", "scheduled_ns")


@dataclass(frozen=True)
class Records:
    """start_ns/end_ns: when the request was started and its response fully received.
    send_ns: time spent building and writing the request; recv_ns: time spent reading and
    decoding the response (the rest of end-start is response wait). ok: no error.
    scheduled_ns: when the request was due (request-rate mode: its slot, at or before
    start_ns); left out, it is start_ns (concurrency mode: a request is due when sent)."""

    start_ns: np.ndarray
    end_ns: np.ndarray
    send_ns: np.ndarray
    recv_ns: np.ndarray
    ok: np.ndarray
    scheduled_ns: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.scheduled_ns is None:
            object.__setattr__(self, "scheduled_ns", self.start_ns)

    @property
    def paced(self) -> bool:
        """Whether the requests had slots of their own (request-rate mode)."""
        return self.scheduled_ns is not self.start_ns

    @property
    def lateness_ns(self) -> np.ndarray:
        """How long after its slot each request left (0 in concurrency mode)."""
        return self.start_ns - self.scheduled_ns  # type: ignore[operator]

    def __len__(self) -> int:
        return len(self.end_ns)

    @classmethod
    def empty(cls) -> Records:
        z = np.zeros(0, dtype=np.int64)
        return cls(z, z, z, z, np.zeros(0, dtype=bool))

    @classmethod
    def from_rows(cls, rows: Sequence[tuple]) -> Records:
        """Rows of (start_ns, end_ns, send_ns, recv_ns, ok[, scheduled_ns]): handy for tests."""
        if not rows:
            return cls.empty()
        cols = list(zip(*rows, strict=True))
        scheduled = np.asarray(cols[5], dtype=np.int64) if len(cols) > 5 else None
        return cls(
            *(np.asarray(c, dtype=np.int64) for c in cols[:4]),
            np.asarray(cols[4], dtype=bool),
            scheduled,
        )

    @classmethod
    def concat(cls, parts: Sequence[Records]) -> Records:
        if not parts:
            return cls.empty()
        if not any(p.paced for p in parts):  # no scheduled column to carry: it is start_ns
            return cls(*(np.concatenate([getattr(p, c) for p in parts]) for c in COLUMNS[:5]))
        return cls(*(np.concatenate([getattr(p, c) for p in parts]) for c in COLUMNS))

    def mask(self, keep: np.ndarray) -> Records:
        columns = COLUMNS if self.paced else COLUMNS[:5]
        return Records(*(getattr(self, c)[keep] for c in columns))

    def ended_within(self, start_ns: int, end_ns: int) -> Records:
        """perf_analyzer's rule: a request belongs to the window in which its response
        arrived, both edges included."""
        return self.mask((self.end_ns >= start_ns) & (self.end_ns <= end_ns))

    def ended_after(self, end_ns: int) -> Records:
        return self.mask(self.end_ns > end_ns)

    def ended_by(self, end_ns: int) -> Records:
        """The rest of ended_after: responses that arrived at or before end_ns."""
        return self.mask(self.end_ns <= end_ns)
