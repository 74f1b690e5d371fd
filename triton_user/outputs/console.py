"""The console as perf_analyzer prints it: the settings, each level's block, the summary;
with -v perf_analyzer's line per window, then ours: window k of -r and the spread so far."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TextIO

from analysis import console
from analysis.model_config import is_decoupled
from analysis.results import LevelResult, SweepResult
from analysis.settings import SweepSettings
from analysis.stabiliser import Verdict
from analysis.window import Window
from triton_user.outputs.progress import LevelWindows


class ConsoleOutput:
    def __init__(self, out: TextIO, verbose: bool = False, results_json: str | None = None) -> None:
        self.out = out
        self.verbose = verbose
        self.results_json = results_json  # named where an interrupted level is kept
        self.settings: SweepSettings | None = None
        self.level = LevelWindows()
        self.decoupled = False

    def model_read(self, model_config: Mapping[str, Any]) -> None:
        self.decoupled = is_decoupled(model_config)

    def sweep_started(self, settings: SweepSettings) -> None:
        self.settings = settings
        self._print(console.settings_block(settings, decoupled=self.decoupled))

    def level_started(self, concurrency: float) -> None:
        self.level.start(concurrency)
        self._print(console.level_header(concurrency, self.settings))

    def window_measured(
        self, concurrency: int, index: int, window: Window, verdict: Verdict
    ) -> None:
        self.level.add(index, window)
        if self.verbose and self.settings is not None:
            self._print(console.window_line(index, window, self.settings))
            self._print(console.stability_so_far(self.level.windows, self.settings))

    def level_finished(self, level: LevelResult, result: SweepResult) -> None:
        if level.verdict is Verdict.INTERRUPTED:
            self._print(console.interrupted_line(level, self.results_json))
        else:
            block = console.level_block(
                level, result.settings, verbose=self.verbose, decoupled=self.decoupled
            )
            self._print(block)

    def sweep_ended(self, result: SweepResult) -> None:
        if result.reported_levels:
            self._print(console.summary_block(result))
        # Why it stopped early, if it did, is the closing output's (closing.py) to say.

    def _print(self, text: str) -> None:
        if text:
            print(text, file=self.out, flush=True)
