"""The console as perf_analyzer prints it: the settings, each level's block, the summary;
with -v a line per window."""

from __future__ import annotations

import sys
from typing import TextIO

from analysis import console
from analysis.results import LevelResult, SweepResult
from analysis.settings import SweepSettings
from analysis.stabiliser import Verdict
from analysis.window import Window


class ConsoleOutput:
    def __init__(self, out: TextIO, verbose: bool = False) -> None:
        self.out = out
        self.verbose = verbose
        self.settings: SweepSettings | None = None

    def sweep_started(self, settings: SweepSettings) -> None:
        self.settings = settings
        self._print(console.settings_block(settings))

    def level_started(self, concurrency: int) -> None:
        self._print(console.level_header(concurrency))

    def window_measured(
        self, concurrency: int, index: int, window: Window, verdict: Verdict
    ) -> None:
        if self.verbose and self.settings is not None:
            self._print(console.window_line(index, window, self.settings))

    def level_finished(self, level: LevelResult, result: SweepResult) -> None:
        self._print(console.level_block(level, result.settings, verbose=self.verbose))

    def sweep_ended(self, result: SweepResult) -> None:
        if result.reported_levels:
            self._print(console.summary_block(result))
        if result.stop_reason.startswith("error"):
            print(f"triton-locust: sweep stopped: {result.stop_reason}", file=sys.stderr)

    def _print(self, text: str) -> None:
        if text:
            print(text, file=self.out, flush=True)
