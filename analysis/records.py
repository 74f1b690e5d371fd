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
    # Streamed requests (--streaming) only: each request's response arrival times, an
    # object column of int64 arrays (the last at end_ns); None: no request streamed.
    response_times: np.ndarray | None = None
    # A sequence model's requests only: whether each carried its sequence's END flag
    # (perf_analyzer's sequence count); None: the requests were not of a sequence model.
    sequence_end: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.scheduled_ns is None:
            object.__setattr__(self, "scheduled_ns", self.start_ns)

    @property
    def streamed(self) -> bool:
        return self.response_times is not None

    def responses(self) -> np.ndarray:
        """The response arrival times of every request, the unary ones given none."""
        if self.response_times is not None:
            return self.response_times
        return no_responses(len(self))

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
        streamed, ends = _stream_column(parts), _end_column(parts)
        if not any(p.paced for p in parts):  # no scheduled column to carry: it is start_ns
            columns = [np.concatenate([getattr(p, c) for p in parts]) for c in COLUMNS[:5]]
            return cls(*columns, response_times=streamed, sequence_end=ends)
        columns = [np.concatenate([getattr(p, c) for p in parts]) for c in COLUMNS]
        return cls(*columns, response_times=streamed, sequence_end=ends)

    def mask(self, keep: np.ndarray) -> Records:
        columns = COLUMNS if self.paced else COLUMNS[:5]
        streamed = self.response_times[keep] if self.response_times is not None else None
        ends = self.sequence_end[keep] if self.sequence_end is not None else None
        return Records(
            *(getattr(self, c)[keep] for c in columns), response_times=streamed, sequence_end=ends
        )

    def ended_within(self, start_ns: int, end_ns: int) -> Records:
        """perf_analyzer's rule: a request belongs to the window in which its response
        arrived, both edges included."""
        return self.mask((self.end_ns >= start_ns) & (self.end_ns <= end_ns))

    def ended_after(self, end_ns: int) -> Records:
        return self.mask(self.end_ns > end_ns)

    def ended_by(self, end_ns: int) -> Records:
        """The rest of ended_after: responses that arrived at or before end_ns."""
        return self.mask(self.end_ns <= end_ns)


def no_responses(count: int) -> np.ndarray:
    """An object column of `count` empty arrays: requests with no response times of their own."""
    column = np.empty(count, dtype=object)
    for i in range(count):
        column[i] = _NO_TIMES
    return column


_NO_TIMES = np.zeros(0, dtype=np.int64)


def _stream_column(parts: Sequence[Records]) -> np.ndarray | None:
    """The parts' response times joined; None when no part streamed."""
    if not any(p.streamed for p in parts):
        return None
    return np.concatenate([p.responses() for p in parts])


def _end_column(parts: Sequence[Records]) -> np.ndarray | None:
    """The parts' END flags joined (a part without any: none ended a sequence); None when
    no part was of a sequence model."""
    if all(p.sequence_end is None for p in parts):
        return None
    return np.concatenate(
        [p.sequence_end if p.sequence_end is not None else np.zeros(len(p), bool) for p in parts]
    )
