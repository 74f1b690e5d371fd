"""The sweep's outputs, each a listener of its events (triton_user/sweep/events.py): the
console as perf_analyzer prints it, the result files, the closing recommendation."""

from __future__ import annotations

from typing import TextIO

from analysis.settings import Outputs
from triton_user.outputs.console import ConsoleOutput
from triton_user.outputs.recommendation import RecommendationOutput
from triton_user.outputs.result_files import ResultFiles

__all__ = ["ConsoleOutput", "RecommendationOutput", "ResultFiles", "standard_outputs"]


def standard_outputs(outputs: Outputs, out: TextIO) -> tuple[list[object], ResultFiles]:
    """Console, recommendation and files, in the order they speak at the end of a sweep;
    the files listener too, alone, for what it failed to write."""
    files = ResultFiles(outputs)
    listeners = [
        ConsoleOutput(out, verbose=outputs.verbose),
        RecommendationOutput(out, outputs.latency_budget_ms),
        files,
    ]
    return listeners, files
