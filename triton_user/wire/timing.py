"""The timing record of one request, as every wire client returns it."""

from __future__ import annotations

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
