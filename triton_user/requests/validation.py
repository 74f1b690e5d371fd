"""A response checked against --input-data's validation_data, as perf_analyzer checks it:
its outputs decoded and compared byte for byte; a mismatch is a failed request."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Protocol

from analysis.input_data import check_outputs
from triton_user.wire.timing import ErrorLog, Timing


class Answering(Protocol):
    def last_outputs(self) -> dict[str, bytes]: ...


def validated(
    t: Timing, client: Answering, expected: Mapping[str, bytes] | None, where: str
) -> Timing:
    """`t`, failed in perf_analyzer's words when the client's last response does not carry
    `expected` (None: nothing to check); `where` names the data step in the error."""
    if expected is None or t.error is not None:
        return t
    try:
        error = check_outputs(client.last_outputs(), expected, where)
    except ValueError as exc:
        error = f"malformed inference response to {where}: {exc}"
    if error is None:
        return t
    ErrorLog.note(error)
    return replace(t, error=error)
