"""The timing record of one request, as every wire client returns it."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    """Monotonic nanoseconds of one request, and its error (None when it succeeded): a
    failed request is a result to count, not an exception on the request path."""

    start_ns: int
    end_ns: int
    send_ns: int
    recv_ns: int
    response_bytes: int
    error: str | None = None
    # The arrival of each response of a streamed request (--streaming), the last at end_ns;
    # empty for a unary request, whose one response ends it.
    responses_ns: tuple[int, ...] = ()
    # A sequence model's request: whether it carried its sequence's END flag (what
    # perf_analyzer's sequence count counts); None for a model without sequences.
    sequence_end: bool | None = None


def timeout_message(timeout_s: float) -> str:
    """The error of a request its deadline ended (--request-timeout-ms)."""
    return f"timeout: no response within {timeout_s:g} s"


class ErrorLog:
    """The first error this process's requests met since the sweep started, for the
    console's closing line (a worker's stay on the worker). Written only on a failure."""

    first: str | None = None

    @classmethod
    def note(cls, error: str) -> None:
        if cls.first is None:
            cls.first = error

    @classmethod
    def clear(cls) -> None:
        cls.first = None


def crashed(start_ns: int, exc: BaseException) -> Timing:
    """A request that raised where it must not (a defect of ours): a failed request to
    count and show, so that its user goes on rather than its thread ending unseen."""
    error = f"client error: {type(exc).__name__}: {exc}"
    ErrorLog.note(error)
    return Timing(start_ns, time.monotonic_ns(), 0, 0, 0, error)
