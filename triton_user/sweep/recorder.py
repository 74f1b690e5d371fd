"""Where users put each request's timing, and the sweep takes it back window by window
(perf_analyzer's SwapRequestRecords).

Users append a row's integers to a flat int64 array (array.array: 8 bytes each, no Python
object kept per request). Twice a second the rows older than a second leave it: into numpy
columns for one process's exact percentiles or, on a Locust worker, straight into the
window's histogram, so that a worker's memory stays flat however long its windows last.
Taking the array is a view, not a conversion: the process's lock (the GIL) is held for
microseconds, where turning 2,500 tuples into columns held it for ~0.6 ms, and a
request-rate user waking for its slot meanwhile left that much late."""

from __future__ import annotations

import array
import time
from dataclasses import replace

import gevent
import numpy as np
from gevent import monkey

from analysis.profile_export import RequestLog
from analysis.records import Records
from analysis.window import WindowSample
from triton_user.sweep.busy_meter import BusyMark, LoopLag, busy_share, mark

# A real lock: gevent's patched one cannot be taken from an OS thread.
_allocate_lock = monkey.get_original("_thread", "allocate_lock")

FOLD_EVERY_S = 0.5
# Only rows this old are folded. A cut is made within milliseconds of its end (the driver
# polls the server between the two), so a folded row belongs to the window under way, or,
# having ended before it, to none.
FOLD_AGE_NS = 1_000_000_000
# A row's `ok` also carries a sequence model's flags, so that its rows grow no wider: bit 0
# no error, bit 1 a request of a sequence, bit 2 it carried the sequence's END flag.
OK, IN_SEQUENCE, SEQUENCE_END = 1, 2, 4
# A row's integers: start, end, send, receive, ok; a paced row's slot after them.
ROW_WIDTH, PACED_ROW_WIDTH = 5, 6


class Recorder:
    def __init__(self, histogram: bool = False) -> None:
        self._rows = array.array("q")
        # Request-rate mode's rows carry their slot too; an array of their own keeps the
        # concurrency rows (and their cost) as they are.
        self._paced_rows = array.array("q")
        # --streaming's rows carry each response's arrival (and, paced, their slot last).
        self._stream_rows: list[tuple] = []
        self.paced = False
        self._sent = 0
        # Users in OS threads record too: the swap must not lose an append racing it.
        self._lock = _allocate_lock()
        self._histogram = histogram  # a Locust worker ships histograms, not samples
        self._recent = Records.empty()  # taken off the list, not folded yet
        self._window_start_ns = time.monotonic_ns()
        # What was folded of the window under way: columns, or (worker) its summary.
        self._folded: list[Records] = []
        self._folded_sample: WindowSample | None = None
        self._folded_count = 0
        self._since: BusyMark = mark()
        self._lag = LoopLag()
        self._folder: gevent.Greenlet | None = None
        self._export: RequestLog | None = None  # --profile-export-file: every request's times

    def keep_requests(self, log: RequestLog) -> None:
        """Hand each window's successful requests (start and end) to `log` as it is cut:
        what perf_analyzer's profile export holds. One process only: a Locust worker ships
        histograms, not requests."""
        if self._histogram:
            raise ValueError("a Locust worker's recorder keeps histograms, not requests")
        self._export = log

    def record(
        self,
        start_ns: int,
        end_ns: int,
        send_ns: int,
        recv_ns: int,
        ok: bool,
        responses_ns: tuple[int, ...] = (),
        sequence_end: bool | None = None,
    ) -> None:
        """`responses_ns`: a streamed request's response arrivals (Timing.responses_ns);
        `sequence_end`: whether a sequence model's request carried END (Timing.sequence_end,
        None for other models)."""
        if sequence_end is not None:
            ok = ok | IN_SEQUENCE | (SEQUENCE_END if sequence_end else 0)
        with self._lock:
            if responses_ns:
                self._stream_rows.append((start_ns, end_ns, send_ns, recv_ns, ok, responses_ns))
            else:
                self._rows.extend((start_ns, end_ns, send_ns, recv_ns, ok))

    def record_paced(
        self,
        start_ns: int,
        end_ns: int,
        send_ns: int,
        recv_ns: int,
        ok: bool,
        scheduled_ns: int,
        responses_ns: tuple[int, ...] = (),
        sequence_end: bool | None = None,
    ) -> None:
        """A request of request-rate mode with its slot; the rest as in `record`."""
        if sequence_end is not None:
            ok = ok | IN_SEQUENCE | (SEQUENCE_END if sequence_end else 0)
        with self._lock:
            if responses_ns:
                row = (start_ns, end_ns, send_ns, recv_ns, ok, responses_ns, scheduled_ns)
                self._stream_rows.append(row)
            else:
                self._paced_rows.extend((start_ns, end_ns, send_ns, recv_ns, ok, scheduled_ns))

    def count_sent(self) -> None:
        """A paced request leaves now (perf_analyzer's num_sent_requests)."""
        with self._lock:
            self._sent += 1

    def pending(self) -> int:
        """Requests recorded since the last cut (count_windows waits on this)."""
        taken = len(self._rows) // ROW_WIDTH + len(self._paced_rows) // PACED_ROW_WIDTH
        taken += len(self._stream_rows)
        return taken + len(self._recent) + self._folded_count

    def discard(self) -> None:
        """What finished until now belongs to no window (a ramp, a level change)."""
        self._take()
        self._recent = Records.empty()
        self._take_sent()
        self._new_window(time.monotonic_ns())
        self._since = mark()
        self._lag.start()  # from the first level on
        self._lag.take_ms()
        if self._folder is None or self._folder.dead:
            self._folder = gevent.spawn(self._fold_forever)

    def end_window(self) -> None:
        """Nothing to do: this process's records carry their own end times."""

    def cut(self, start_ns: int, end_ns: int) -> WindowSample:
        """The requests whose responses arrived in [start_ns, end_ns], and how busy this
        process was meanwhile (CPU share, loop lag); later responses wait for the next
        window."""
        recent = Records.concat([self._recent, self._take()])
        self._recent = recent.ended_after(end_ns)
        if self._histogram:
            this = WindowSample.from_records(
                recent.ended_within(start_ns, end_ns), True, self.paced
            )
            parts = [self._folded_sample] if self._folded_sample is not None else []
            sample = WindowSample.merge([*parts, this])
        else:
            within = Records.concat([*self._folded, recent]).ended_within(start_ns, end_ns)
            sample = WindowSample.from_records(within, paced=self.paced)
            if self._export is not None:
                good = within.ok
                self._export.add(
                    start_ns,
                    end_ns,
                    within.start_ns[good],
                    within.end_ns[good],
                    within.response_times[good] if within.response_times is not None else None,
                )
        self._new_window(end_ns)
        now = mark()
        sample = replace(
            sample,
            client_busy=busy_share(self._since, now),
            client_lag_ms=self._lag.take_ms(),
            sent_count=self._take_sent(),
        )
        self._since = now
        return sample

    def fold(self, now_ns: int | None = None) -> None:
        """Move the rows older than FOLD_AGE off the Python list, into this window's
        columns or summary; those that ended before the window are dropped."""
        bound = (time.monotonic_ns() if now_ns is None else now_ns) - FOLD_AGE_NS
        recent = Records.concat([self._recent, self._take()])
        self._recent = recent.ended_after(bound)
        old = recent.ended_by(bound).ended_after(self._window_start_ns - 1)
        if not len(old):
            return
        self._folded_count += len(old)
        if not self._histogram:
            self._folded.append(old)
            return
        part = WindowSample.from_records(old, histogram=True, paced=self.paced)
        done = [self._folded_sample] if self._folded_sample is not None else []
        self._folded_sample = WindowSample.merge([*done, part])

    def _new_window(self, start_ns: int) -> None:
        self._window_start_ns = start_ns
        self._folded, self._folded_sample, self._folded_count = [], None, 0

    def _fold_forever(self) -> None:
        while True:
            gevent.sleep(FOLD_EVERY_S)
            self.fold()

    def _take_sent(self) -> int:
        with self._lock:
            sent, self._sent = self._sent, 0
        return sent

    def _take(self) -> Records:
        with self._lock:
            rows, self._rows = self._rows, array.array("q")
            paced, self._paced_rows = self._paced_rows, array.array("q")
            streamed, self._stream_rows = self._stream_rows, []
        parts = [_streamed(streamed)] if streamed else []
        for taken, width in ((rows, ROW_WIDTH), (paced, PACED_ROW_WIDTH)):
            if taken:
                # A view of the array, which no one appends to any more.
                table = np.frombuffer(taken, dtype=np.int64).reshape(-1, width)
                scheduled = table[:, 5] if width == PACED_ROW_WIDTH else None
                ok, ends = _flags(table[:, 4])
                parts.append(
                    Records(
                        table[:, 0],
                        table[:, 1],
                        table[:, 2],
                        table[:, 3],
                        ok,
                        scheduled,
                        sequence_end=ends,
                    )
                )
        if not parts:
            return Records.empty()
        return parts[0] if len(parts) == 1 else Records.concat(parts)


def _streamed(rows: list[tuple]) -> Records:
    """Streamed requests' rows as columns, their response times an object column; paced
    rows (request-rate mode: all of a process's or none) carry their slot last."""
    table = np.array([row[:5] for row in rows], dtype=np.int64)
    times = np.empty(len(rows), dtype=object)
    for i, row in enumerate(rows):
        times[i] = np.asarray(row[5], dtype=np.int64)
    scheduled = np.array([row[6] for row in rows], dtype=np.int64) if len(rows[0]) > 6 else None
    ok, ends = _flags(table[:, 4])
    return Records(
        table[:, 0],
        table[:, 1],
        table[:, 2],
        table[:, 3],
        ok,
        scheduled,
        response_times=times,
        sequence_end=ends,
    )


def _flags(column: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """A rows' `ok` column split: no error, and (None unless the requests were of a
    sequence model) which carried END."""
    ok = (column & OK).astype(bool)
    if not (column & IN_SEQUENCE).any():
        return ok, None
    return ok, (column & SEQUENCE_END).astype(bool)
