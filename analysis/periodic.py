"""perf_analyzer's periodic concurrency mode (--periodic-concurrency-range START:END:STEP,
--request-period N), the pure part: its flags, checked in perf_analyzer's order and words
(command_line_parser.cc), and the schedule that decides when requests are sent
(periodic_concurrency_manager.cc, periodic_concurrency_worker.cc), driven by events.

The mode, as perf_analyzer 2.51 runs it: START requests go out at once, each on a stream of
its own, and each is the only request its sender ever makes. Once every request sent so far
has had N responses, STEP more go out; no more once END have been sent. The run ends when
END requests have had their final response. A request whose final response comes before
its N-th is perf_analyzer's error. No windows, no stabilisation: every request with every
response's arrival goes to the profile export, which is the result.

One difference, on purpose: perf_analyzer decides whether to add STEP more by counting
STEP times the steps completed against END, leaving START out, so that with START > STEP
it sends STEP * (ceil(START/STEP) - 1) requests beyond END (3:5:1 sends 7), which it
neither waits for nor exports (measured against perf_analyzer 2.51: 7 inferences on the
server, 5 requests in its export). Its help says END is the total; we send END in all."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# perf_analyzer's --request-period default (command_line_parser.h).
DEFAULT_REQUEST_PERIOD = 10

FLAG, PERIOD_FLAG = "--periodic-concurrency-range", "--request-period"

# perf_analyzer's words when a request ends before the period (periodic_concurrency_worker.cc).
EARLY_FINAL = (
    "Request received final response before request period was reached. Request period "
    "must be at most the total number of responses received by any request."
)

# What the run keeps from flags that promise what this mode does not do: perf_analyzer
# ignores them here (it writes no CSV, measures no windows, searches nothing).
_NOT_IN_THIS_MODE = (
    ("csv", "-f/--filename", "perf_analyzer writes no CSV in this mode"),
    ("json", "--json", "the profile export is the result"),
    ("report", "--report", "the profile export is the result"),
    ("verbose_csv", "--verbose-csv", "perf_analyzer writes no CSV in this mode"),
    ("latency_budget_ms", "--latency-budget", "there are no levels to recommend from"),
    ("latency_threshold_ms", "-l/--latency-threshold", "nothing is measured against it"),
    ("binary_search", "--binary-search", "there is no range to search"),
    ("collect_metrics", "--collect-metrics", "perf_analyzer scrapes nothing in this mode"),
    ("max_threads", "--max-threads", "each request has a sender of its own"),
)


@dataclass(frozen=True)
class PeriodicRange:
    """--periodic-concurrency-range START:END:STEP and --request-period, checked."""

    start: int
    end: int
    step: int = 1
    request_period: int = DEFAULT_REQUEST_PERIOD

    def batches(self) -> list[int]:
        """How many requests go out at each step: START, then STEP until END are sent."""
        return [self.start] + [self.step] * ((self.end - self.start) // self.step)

    def levels(self) -> list[int]:
        """The requests sent after each step: START, START+STEP, ..., END."""
        return list(range(self.start, self.end + 1, self.step))


def parse_periodic_range(text: str) -> tuple[int, int, int]:
    """START:END[:STEP] (STEP defaults to 1), with perf_analyzer's checks and words. START 0
    is refused too: perf_analyzer would send nothing and wait forever."""
    values = str(text).strip().split(":")
    if len(values) < 2:
        raise ValueError(f"Failed to parse {FLAG}. Both <start> and <end> values must be provided.")
    if len(values) > 3:
        raise ValueError(f"Failed to parse {FLAG}. The value does not match <start:end:step>.")
    try:
        numbers = [int(v) for v in values]
    except ValueError:
        numbers = []
    if not numbers or any(n < 0 for n in numbers):
        raise ValueError(f"{FLAG} {text!r}: expected START:END[:STEP] of whole numbers")
    start, end, step = (numbers + [1])[:3]
    if step == 0:
        raise ValueError(f"Failed to parse {FLAG}. The <step> value must be > 0.")
    if start > end:
        raise ValueError(f"Failed to parse {FLAG}. The <start> must be <= <end>.")
    if (end - start) % step != 0:
        raise ValueError(
            f"Failed to parse {FLAG}. The <step> value must be a factor of the range size "
            "(<end> - <start>)."
        )
    if start == 0:
        raise ValueError(
            f"{FLAG} {text!r}: <start> must be > 0 (perf_analyzer would send no request and "
            "wait forever)"
        )
    return start, end, step


def periodic_from_values(get: Callable[[str], Any]) -> PeriodicRange | None:
    """The mode's flags from parsed values (`get(dest)`), with the rules perf_analyzer puts
    on them, in its order: the range, the period, one load mode, --streaming, and
    --profile-export-file; then the flags that would do nothing here. None when the mode is
    not asked for. Raises ValueError, one line naming the flag."""
    text, period = get("periodic_concurrency_range"), get("request_period")
    given = text not in (None, "")
    if given:
        start, end, step = parse_periodic_range(text)
    if period not in (None, ""):
        period = int(period)
        if period <= 0:
            raise ValueError(f"Failed to parse {PERIOD_FLAG}. The value must be > 0")
        if not given:
            raise ValueError(
                f"{PERIOD_FLAG}: only with {FLAG} (perf_analyzer ignores it otherwise)"
            )
    if not given:
        return None
    for dest, flag in (
        ("concurrency_range", "--concurrency-range"),
        ("request_rate_range", "--request-rate-range"),
        ("request_intervals", "--request-intervals"),
    ):
        if get(dest) not in (None, ""):
            raise ValueError(
                f"{FLAG} and {flag}: Cannot specify more then one inference load mode "
                "(perf_analyzer's words)"
            )
    if not get("streaming"):
        raise ValueError(
            f"{FLAG}: The --periodic-concurrency-range option requires bi-directional gRPC "
            "streaming (give --streaming)."
        )
    if not get("profile_export"):
        raise ValueError(
            f"{FLAG}: Must provide --profile-export-file when using the "
            "--periodic-concurrency-range option."
        )
    for dest, flag, why in _NOT_IN_THIS_MODE:
        if get(dest) not in (None, "", False, 0):
            raise ValueError(f"{flag} with {FLAG}: not in this mode ({why})")
    return PeriodicRange(
        start, end, step, DEFAULT_REQUEST_PERIOD if period in (None, "") else period
    )


class EarlyFinalResponse(Exception):
    """A request ended before its request period: perf_analyzer's error."""

    def __init__(self, request: int, responses: int) -> None:
        self.request, self.responses = request, responses
        noun = "response" if responses == 1 else "responses"
        super().__init__(f"request {request + 1} ended after {responses} {noun}: {EARLY_FINAL}")


@dataclass
class PeriodicSchedule:
    """Who sends what, and when, from the responses as they arrive. Requests are numbered
    0, 1, ... in the order they are sent; `begin` and `on_response` return the numbers to
    send now. The caller tells every response of every request (its count so far) in the
    order they arrive, and the end of each request after its last response."""

    range: PeriodicRange
    sent: int = 0
    completed: int = 0
    steps_completed: int = 0
    # Requests of the latest step still short of their period: at 0 the next step is due.
    short_of_period: set[int] = field(default_factory=set)
    finished: set[int] = field(default_factory=set)

    def begin(self) -> list[int]:
        """The first START requests."""
        if self.sent:
            raise RuntimeError("the schedule has begun already")
        return self._send(self.range.start)

    def on_response(self, request: int, count: int) -> list[int]:
        """Request `request` has had its `count`-th response. Returns the requests to send
        now: STEP of them when this completes the period of every request sent so far, and
        fewer than END were sent."""
        self._check(request)
        new: list[int] = []
        if count == self.range.request_period and request in self.short_of_period:
            self.short_of_period.discard(request)
            if not self.short_of_period:
                self.steps_completed += 1
                if self.sent < self.range.end:
                    new = self._send(self.range.step)
        return new

    def on_final(self, request: int, responses: int) -> None:
        """Request `request` has ended, after `responses` responses (told after its last
        one, as perf_analyzer checks the period before the end). Raises EarlyFinalResponse."""
        self._check(request)
        if responses < self.range.request_period:
            raise EarlyFinalResponse(request, responses)
        self.finished.add(request)
        self.completed += 1

    @property
    def done(self) -> bool:
        """END requests have had their final response: the run is over."""
        return self.completed >= self.range.end

    @property
    def in_flight(self) -> int:
        return self.sent - self.completed

    def _check(self, request: int) -> None:
        if not 0 <= request < self.sent or request in self.finished:
            raise ValueError(f"request {request + 1} was not sent, or has ended")

    def _send(self, count: int) -> list[int]:
        new = list(range(self.sent, self.sent + count))
        self.sent += count
        self.short_of_period = set(new)
        return new


# -- what a run did, read from its requests' times -------------------------------------------


def in_flight_after_each_start(starts_ns: Sequence[int], ends_ns: Sequence[int]) -> list[int]:
    """For each request in the order they started, how many were in flight just after it
    started (a request counts until its final response; one ending at the very moment
    another starts has ended)."""
    starts = np.sort(np.asarray(starts_ns, dtype=np.int64))
    ends = np.sort(np.asarray(ends_ns, dtype=np.int64))
    ended = np.searchsorted(ends, starts, side="right")
    return (np.arange(1, len(starts) + 1) - ended).tolist()


def batch_of_each(rng: PeriodicRange) -> list[int]:
    """The step (0 for the first START) each request belongs to, in the order sent."""
    return [k for k, size in enumerate(rng.batches()) for _ in range(size)]


def check_schedule(rng: PeriodicRange, requests: Sequence[Sequence[int]]) -> str | None:
    """Whether requests, each its start then every response's arrival (one clock), in the
    order they started, follow the schedule: END of them in steps of START, STEP, ...; each
    step sent only after every request of the steps before it had its period's response.
    None if so, else what is wrong, in one line."""
    if len(requests) != rng.end:
        return f"{len(requests)} requests, expected {rng.end}"
    batches = batch_of_each(rng)
    period = rng.request_period
    for i, times in enumerate(requests):
        if len(times) - 1 < period:
            return f"request {i + 1} had {len(times) - 1} responses, fewer than the period {period}"
    for i, times in enumerate(requests):
        earlier = [r for r, b in zip(requests, batches, strict=True) if b < batches[i]]
        due = max((r[period] for r in earlier), default=None)
        if due is not None and times[0] < due:
            return f"request {i + 1} started before every earlier request had {period} responses"
    return None
