"""The sweep's outputs, each a listener of its events (triton_user/sweep/events.py): the
console as perf_analyzer prints it, the result files, the closing recommendation, the
closing words (files written, exit code), and on a terminal a live status line."""

from __future__ import annotations

from typing import TextIO

from analysis.settings import Outputs
from triton_user.outputs.closing import ClosingOutput
from triton_user.outputs.console import ConsoleOutput
from triton_user.outputs.progress import ProgressOutput, wants_status_line
from triton_user.outputs.recommendation import RecommendationOutput
from triton_user.outputs.result_files import ResultFiles

__all__ = [
    "ClosingOutput",
    "ConsoleOutput",
    "ProgressOutput",
    "RecommendationOutput",
    "ResultFiles",
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
        ClosingOutput(out, files),
    ]
    return listeners, files
