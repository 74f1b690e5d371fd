"""Live progress on a terminal: one status line at its foot, redrawn in place (rich's Live),
saying the level, its window k of -r, the latest throughput and stabilising latency, the
spread so far against -s, and the time spent. Only when stdout is a terminal: piped output
stays perf_analyzer's lines alone."""

from __future__ import annotations

import io
import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from rich.console import Console
from rich.live import Live
from rich.text import Text

from analysis import console
from analysis.results import LevelResult, SweepResult
from analysis.settings import SweepSettings
from analysis.stabiliser import Verdict
from analysis.window import Window, figures_only


class LevelWindows:
    """The windows of the level under way, as the driver numbers them: a level measured
    again (a worker lost or joined) starts over at window 1."""

    def __init__(self) -> None:
        self.concurrency: float | None = None
        self.windows: list[Window] = []

    def start(self, concurrency: float | None) -> None:
        """A new level (None: between levels)."""
        self.concurrency, self.windows = concurrency, []

    def add(self, index: int, window: Window) -> None:
        del self.windows[index - 1 :]
        # The spread so far reads figures only: an hour-long level must not hold the
        # latencies of every request it measured (found by bench/soak.py).
        self.windows.append(figures_only(window))


def is_terminal(out: TextIO) -> bool:
    """Can a status line be redrawn in place on `out`? (Not when piped, nor TERM=dumb.)"""
    probe = Console(file=out)
    return probe.is_terminal and not probe.is_dumb_terminal


def wants_status_line(out: TextIO) -> bool:
    """`out` is a terminal that no one else writes to behind our back. Under `locust -f`,
    Locust's logging (its stats tables, "Ramping to N users") holds the terminal's streams
    from before any redirect and would tear the line: there Locust's own output stays."""
    if not is_terminal(out):
        return False
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        for handler in getattr(logger, "handlers", []):
            stream = getattr(handler, "stream", None)
            if isinstance(handler, logging.StreamHandler) and stream is not None:
                if getattr(stream, "isatty", lambda: False)():
                    return False
    return True


class ProgressOutput:
    """The status line. Everything else printed to the terminal meanwhile must go through
    `stream` (or sys.stdout/sys.stderr, redirected while the line shows), so that rich
    prints it above the line rather than over it."""

    def __init__(self, out: TextIO, clock: Callable[[], float] = time.monotonic) -> None:
        self.console = Console(file=out, highlight=False)
        self.stream: TextIO = AboveStatus(self.console)
        self.clock = clock
        self.level = LevelWindows()
        self.settings: SweepSettings | None = None
        self.started = 0.0
        self._live = Live(
            get_renderable=self._render,
            console=self.console,
            transient=True,  # gone once the sweep ends: the terminal keeps perf_analyzer's text
            refresh_per_second=2,  # the clock ticks between windows, which take seconds
            redirect_stdout=True,
            # stderr goes to the same screen only when it is a terminal too.
            redirect_stderr=sys.stderr.isatty(),
        )

    def sweep_started(self, settings: SweepSettings) -> None:
        self.settings, self.started = settings, self.clock()
        with self._closing_on_error():
            self._live.start()

    def level_started(self, concurrency: int) -> None:
        self.level.start(concurrency)
        self._refresh()

    def window_measured(
        self, concurrency: int, index: int, window: Window, verdict: Verdict
    ) -> None:
        self.level.add(index, window)
        self._refresh()

    def level_finished(self, level: LevelResult, result: SweepResult) -> None:
        self.level.start(None)  # between levels: no line
        self._refresh()

    def sweep_ended(self, result: SweepResult) -> None:
        self.close()

    def close(self) -> None:
        """Clear the line and give the terminal (and sys.stdout/stderr) back."""
        if self._live.is_started:
            self._live.stop()

    def _refresh(self) -> None:
        with self._closing_on_error():
            self._live.refresh()

    @contextmanager
    def _closing_on_error(self) -> Iterator[None]:
        # A listener that fails hears no more events (events.py): it must not leave the
        # terminal redirected, or a stale line under the closing output.
        try:
            yield
        except BaseException:
            self.close()
            raise

    def _render(self) -> Text:
        if self.settings is None or self.level.concurrency is None:
            return Text("")
        line = console.status_line(
            self.level.concurrency,
            self.level.windows,
            self.settings,
            self.clock() - self.started,
            width=self.console.width,
        )
        # One line whatever the width: cut, never wrapped, or rich could not redraw it.
        return Text(line, style="bold", no_wrap=True, overflow="ellipsis")


class AboveStatus(io.TextIOBase):
    """A text stream onto the terminal that prints whole lines above the status line, as
    they are, without rich's wrapping, markup or highlighting."""

    def __init__(self, terminal: Console) -> None:
        self._terminal = terminal
        self._partial = ""

    def write(self, text: str) -> int:
        *lines, self._partial = (self._partial + text).split("\n")
        if lines:
            self._terminal.out("\n".join(lines), highlight=False)
        return len(text)

    def flush(self) -> None:
        if self._partial:
            self._terminal.out(self._partial, highlight=False, end="")
            self._partial = ""
        self._terminal.file.flush()

    def isatty(self) -> bool:
        return True

    def writable(self) -> bool:
        return True
