"""perf_analyzer's profile export (--profile-export-file): every measured request's
timestamps and each experiment's window boundaries, in the JSON perf_analyzer 2.51 writes
(profile_data_exporter.cc, profile_data_collector.cc); and the same file read back, its
windows summarised as perf_analyzer summarises them.

What perf_analyzer puts in, and so do we: per experiment (a concurrency, or a request
rate) the successful requests of every window it measured, the windows before the stable
three included, each request once, in the window its response arrived in; the boundaries
of those windows, a window that starts where the last ended sharing its boundary; all in
nanoseconds since the epoch (its system_clock). Two differences, said where they arise:
our times are the monotonic clock moved onto the epoch by one offset taken at the start
(a clock step mid-run does not bend them), and we keep no tensor data per request, so
`request_inputs` is empty and each response's `response_outputs` entry is an empty object."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from analysis.atomic_write import write_chunks
from analysis.records import Records
from analysis.window import Window, summarize

# perf_analyzer's "version": the release whose layout the file follows.
FORMAT_VERSION = "2.51.0"
SERVICE_KIND = "triton"
CONCURRENCY, REQUEST_RATE = "concurrency", "request_rate"
MODES = (CONCURRENCY, REQUEST_RATE)
# The one window of perf_analyzer's periodic concurrency mode: [0, UINT64_MAX].
PERIODIC_WINDOW = [0, 2**64 - 1]
# Requests rendered per piece of text: the file is written piece by piece, never one string.
_CHUNK = 65_536
_REQUEST = '{"timestamp":%d,"request_inputs":{},"response_timestamps":[%d],"response_outputs":[{}]}'
_EMPTY = np.zeros(0, dtype=np.int64)


class RequestLog:
    """Each window's successful requests as the recorder cuts them, start and end (the
    response's arrival) in the recording process's monotonic ns: two int64 columns, 16 bytes
    a request, held until the export takes its level. Windows are known by their edges."""

    def __init__(self) -> None:
        self._windows: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, np.ndarray | None]] = {}

    def add(
        self,
        start_ns: int,
        end_ns: int,
        starts: np.ndarray,
        ends: np.ndarray,
        responses: np.ndarray | None = None,
    ) -> None:
        """`responses`: streamed requests' response arrivals (an object column of arrays)."""
        self._windows[(start_ns, end_ns)] = (
            np.asarray(starts, dtype=np.int64),
            np.asarray(ends, dtype=np.int64),
            responses,
        )

    def take(self, start_ns: int, end_ns: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """The window's columns, given up. Raises LookupError for a window never cut here."""
        try:
            return self._windows.pop((start_ns, end_ns))
        except KeyError:
            raise LookupError(
                f"no requests recorded for the window [{start_ns}, {end_ns}]"
            ) from None

    def clear(self) -> None:
        """Forget what no level took (windows of a level measured again from scratch)."""
        self._windows.clear()

    def __len__(self) -> int:
        return len(self._windows)


@dataclass
class Experiment:
    """One experiment: its requests' start and end times and its window boundaries, all in
    ns since the epoch."""

    mode: str
    value: int | float
    window_boundaries: list[int] = field(default_factory=list)
    starts_ns: np.ndarray = field(default_factory=lambda: _EMPTY)
    ends_ns: np.ndarray = field(default_factory=lambda: _EMPTY)
    # Streamed requests (--streaming): each request's response times, an object column of
    # arrays (the last is its end); None: every request had its one response at its end.
    responses_ns: np.ndarray | None = None

    def add_window(self, start_ns: int, end_ns: int) -> None:
        """perf_analyzer's AddWindow: a window that starts where the last one ended shares
        its boundary."""
        if not self.window_boundaries or self.window_boundaries[-1] != start_ns:
            self.window_boundaries.append(int(start_ns))
        self.window_boundaries.append(int(end_ns))

    def add_requests(
        self, starts_ns: np.ndarray, ends_ns: np.ndarray, responses_ns: np.ndarray | None = None
    ) -> None:
        had = len(self.starts_ns)
        self.starts_ns = np.concatenate([self.starts_ns, np.asarray(starts_ns, dtype=np.int64)])
        self.ends_ns = np.concatenate([self.ends_ns, np.asarray(ends_ns, dtype=np.int64)])
        if responses_ns is not None or self.responses_ns is not None:
            before = self.responses_ns
            if before is None:
                before = _ends(self.ends_ns[:had])
            added = responses_ns if responses_ns is not None else _ends(np.asarray(ends_ns))
            self.responses_ns = np.concatenate([before, added])

    @property
    def request_count(self) -> int:
        return len(self.starts_ns)

    def windows(self, batch_size: int = 1, percentile: int | None = None) -> list[Window]:
        """Each window between consecutive boundaries, summarised as perf_analyzer
        summarises one (analysis/window.py over analysis/pa_arithmetic.py). A request ending
        on a shared boundary belongs to the earlier window, where perf_analyzer took it."""
        bounds = np.asarray(self.window_boundaries, dtype=np.int64)
        if len(bounds) < 2:
            return []
        slot = np.maximum(np.searchsorted(bounds, self.ends_ns, side="left"), 1) - 1
        zeros = np.zeros(len(self.starts_ns), dtype=np.int64)
        records = Records(
            self.starts_ns,
            self.ends_ns,
            zeros,
            zeros,
            np.ones(len(self.starts_ns), dtype=bool),
            response_times=self.responses_ns,
        )
        return [
            summarize(records.mask(slot == i), int(lo), int(hi), batch_size, percentile)
            for i, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:], strict=True))
        ]


@dataclass
class ProfileExport:
    """The whole file: the experiments in the order first measured."""

    experiments: list[Experiment] = field(default_factory=list)
    version: str = FORMAT_VERSION
    service_kind: str = SERVICE_KIND
    endpoint: str = ""

    def experiment(self, mode: str, value: int | float) -> Experiment:
        """perf_analyzer's FindExperiment: a value measured again adds to its experiment."""
        for e in self.experiments:
            if e.mode == mode and e.value == value:
                return e
        e = Experiment(mode, value)
        self.experiments.append(e)
        return e

    def add_level(
        self,
        mode: str,
        value: int | float,
        windows: Iterable[tuple[Any, ...]],
        offset_ns: int,
    ) -> Experiment:
        """A measured level's windows, (start, end, request starts, request ends[, response
        times]) in one clock, moved onto the epoch by `offset_ns`. Within a window the
        requests are in the order they started."""
        e = self.experiment(mode, value)
        starts, ends, responses = [], [], []
        any_streamed = False
        for start_ns, end_ns, s, t, *streamed in windows:
            e.add_window(start_ns + offset_ns, end_ns + offset_ns)
            order = np.argsort(s, kind="stable")
            starts.append(s[order] + offset_ns)
            ends.append(t[order] + offset_ns)
            times = streamed[0] if streamed else None
            if times is None:
                responses.append(None)
                continue
            any_streamed = True
            moved = np.empty(len(order), dtype=object)
            for i, k in enumerate(order):
                moved[i] = times[k] + offset_ns
            responses.append(moved)
        if starts:
            columns = [
                r if r is not None else _ends(t) for r, t in zip(responses, ends, strict=True)
            ]
            e.add_requests(
                np.concatenate(starts),
                np.concatenate(ends),
                np.concatenate(columns) if any_streamed else None,
            )
        return e

    def chunks(self) -> Iterator[str]:
        """The file's text, piece by piece, in perf_analyzer's order of keys."""
        yield '{"experiments":['
        for n, e in enumerate(self.experiments):
            head = json.dumps({"mode": e.mode, "value": e.value}, separators=(",", ":"))
            yield ("," if n else "") + '{"experiment":' + head + ',"requests":['
            for i in range(0, e.request_count, _CHUNK):
                starts = e.starts_ns[i : i + _CHUNK].tolist()
                if e.responses_ns is not None:
                    times = e.responses_ns[i : i + _CHUNK]
                    yield ("," if i else "") + ",".join(
                        _streamed_request(start, t) for start, t in zip(starts, times, strict=True)
                    )
                    continue
                ends = e.ends_ns[i : i + _CHUNK].tolist()
                yield ("," if i else "") + ",".join(
                    _REQUEST % pair for pair in zip(starts, ends, strict=True)
                )
            yield '],"window_boundaries":[' + ",".join(map(str, e.window_boundaries)) + "]}"
        tail = {"version": self.version, "service_kind": self.service_kind}
        yield "]," + json.dumps({**tail, "endpoint": self.endpoint}, separators=(",", ":"))[1:]


def _streamed_request(start: int, times: np.ndarray) -> str:
    """A request with its every response's time (perf_analyzer's response_timestamps)."""
    stamps = ",".join(map(str, times.tolist()))
    outputs = ",".join(["{}"] * len(times))
    return (
        f'{{"timestamp":{start},"request_inputs":{{}},"response_timestamps":[{stamps}],'
        f'"response_outputs":[{outputs}]}}'
    )


def _ends(ends_ns: np.ndarray) -> np.ndarray:
    """An object column giving each request its one response, at its end."""
    column = np.empty(len(ends_ns), dtype=object)
    for i, end in enumerate(np.asarray(ends_ns, dtype=np.int64)):
        column[i] = np.array([end], dtype=np.int64)
    return column


def write_profile_export(export: ProfileExport, path: str | Path) -> None:
    """Written whole or not at all (a temporary file renamed over the target)."""
    write_chunks(path, export.chunks())


# -- reading ---------------------------------------------------------------------------------


def is_profile_export(data: Any) -> bool:
    """Whether parsed JSON looks like a profile export rather than our results."""
    return isinstance(data, dict) and "experiments" in data and "format" not in data


def from_dict(data: dict[str, Any], source: str = "profile export") -> ProfileExport:
    """A parsed export file back; raises ValueError naming what is wrong, in one line. A
    request's end is its last response (perf_analyzer's latency ends there); a request
    with no response has no latency and is left out."""
    if not isinstance(data.get("experiments"), list):
        raise _bad(source, "'experiments' is not a list")
    export = ProfileExport(
        version=str(data.get("version", "")),
        service_kind=str(data.get("service_kind", "")),
        endpoint=str(data.get("endpoint", "")),
    )
    for n, raw in enumerate(data["experiments"]):
        where = f"experiment {n + 1}"
        try:
            head = raw["experiment"]
            mode, value = head["mode"], head["value"]
            requests, bounds = raw["requests"], raw["window_boundaries"]
        except (KeyError, TypeError) as exc:
            raise _bad(source, f"{where} lacks {exc}") from exc
        if mode not in MODES:
            raise _bad(source, f"{where}: mode {mode!r} is not one of {', '.join(MODES)}")
        if not _number(value) or value <= 0:
            raise _bad(source, f"{where}: value {value!r} is not a positive number")
        if bounds == PERIODIC_WINDOW:
            raise ValueError(
                f"{source}: a periodic concurrency export (--periodic-concurrency-range: one "
                "window over all time, no levels): nothing to report per level"
            )
        if not isinstance(bounds, list) or not all(_whole(b) for b in bounds):
            raise _bad(source, f"{where}: window_boundaries are not whole nanoseconds")
        if any(later < earlier for earlier, later in zip(bounds, bounds[1:], strict=False)):
            raise _bad(source, f"{where}: window_boundaries go back in time")
        starts, ends, times = _request_columns(requests, source, where)
        e = export.experiment(mode, value)
        for b in bounds:
            if not e.window_boundaries or e.window_boundaries[-1] != b:
                e.window_boundaries.append(int(b))
        e.add_requests(starts, ends, times)
    return export


def read_profile_export(path: str | Path) -> ProfileExport:
    """Raises ValueError (OSError for a file that cannot be read) naming the problem."""
    text = Path(path).read_text(errors="replace")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from exc
    if not is_profile_export(data):
        raise _bad(str(path), "no 'experiments'")
    return from_dict(data, str(path))


def _request_columns(
    requests: Any, source: str, where: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Starts, ends and (when any request had several responses) every response's time."""
    if not isinstance(requests, list):
        raise _bad(source, f"{where}: 'requests' is not a list")
    starts, ends, times = [], [], []
    for i, r in enumerate(requests):
        try:
            start, responses = r["timestamp"], r["response_timestamps"]
        except (KeyError, TypeError) as exc:
            raise _bad(source, f"{where}, request {i + 1} lacks {exc}") from exc
        if not _whole(start) or not isinstance(responses, list):
            raise _bad(source, f"{where}, request {i + 1}: timestamps are not whole nanoseconds")
        if not responses:
            continue
        end = responses[-1]
        if not _whole(end) or end < start:
            raise _bad(source, f"{where}, request {i + 1}: its response precedes its start")
        starts.append(start)
        ends.append(end)
        times.append(responses)
    streamed = None
    if any(len(t) > 1 for t in times):
        if not all(_whole(x) for t in times for x in t):
            raise _bad(source, f"{where}: response_timestamps are not whole nanoseconds")
        streamed = np.empty(len(times), dtype=object)
        for i, t in enumerate(times):
            streamed[i] = np.asarray(t, dtype=np.int64)
    return np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64), streamed


def _whole(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and 0 <= x < 2**63


def _number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _bad(source: str, reason: str) -> ValueError:
    return ValueError(f"{source}: not a perf_analyzer profile export ({reason})")
