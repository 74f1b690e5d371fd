"""The sweep's outputs, each a listener of its events (triton_user/sweep/events.py): the
console as perf_analyzer prints it, the result files, the closing recommendation, the
closing words (files written, exit code), perf_analyzer's profile export, and on a terminal a
live status line."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TextIO

from analysis.profile_export import RequestLog
from analysis.settings import Outputs
from triton_user.outputs.closing import ClosingOutput
from triton_user.outputs.console import ConsoleOutput
from triton_user.outputs.profile_export import DISTRIBUTED_EXPORT, ProfileExportOutput
from triton_user.outputs.progress import ProgressOutput, wants_status_line
from triton_user.outputs.recommendation import RecommendationOutput
from triton_user.outputs.result_files import ResultFiles

__all__ = [
    "ClosingOutput",
    "ConsoleOutput",
    "DISTRIBUTED_EXPORT",
    "ProfileExportOutput",
    "ProgressOutput",
    "RecommendationOutput",
    "ResultFiles",
    "request_log_of",
    "standard_outputs",
]


def standard_outputs(outputs: Outputs, out: TextIO) -> tuple[list[object], ResultFiles]:
    """Console, recommendation, files and closing words, in the order they speak at the end
    of a sweep; the files listener too, alone, for what it failed to write. On a terminal
    the status line comes first, and the others print through it (above the line)."""
    listeners: list[object] = []
    if wants_status_line(out):
        progress = ProgressOutput(out)
        listeners.append(progress)  # first: its line is gone before the closing words
        out = progress.stream
    files = ResultFiles(outputs)
    listeners += [
        ConsoleOutput(out, verbose=outputs.verbose, results_json=outputs.json),
        RecommendationOutput(out, outputs.latency_budget_ms),
        files,
    ]
    if outputs.profile_export:  # before the closing words, which name it
        listeners.append(ProfileExportOutput(outputs.profile_export, files))
    listeners.append(ClosingOutput(out, files))
    return listeners, files


def request_log_of(listeners: Iterable[object]) -> RequestLog | None:
    """Where the recorder must hand every window's requests, if an output wants them."""
    for listener in listeners:
        if isinstance(listener, ProfileExportOutput):
            return listener.request_log
    return None
