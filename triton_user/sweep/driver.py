"""The sweep's clock: for each concurrency level, set the user count, measure back-to-back
windows as perf_analyzer does, ask the stabiliser, and move on.

It only decides when; the load (users), the samples (a recorder, or a master's merge of
its workers') and the server's statistics come in through the small interfaces below, so
one driver serves a single process, a Locust master, and tests with a fake clock."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

import gevent
import gevent.event

from analysis.results import LevelResult, SweepResult
from analysis.search import sweep_levels
from analysis.server_stats import ServerStats
from analysis.settings import SweepSettings
from analysis.stabiliser import Verdict, assess, final_verdict, last_windows, spread
from analysis.window import Window, WindowSample, figures_only, from_sample, merge
from triton_user.requests.metrics import MetricsScraper
from triton_user.sweep.events import SweepEvents

log = logging.getLogger(__name__)

# perf_analyzer sleeps 1.2x the measurement interval and divides by the real length.
WINDOW_STRETCH = 1.2
# count_windows: perf_analyzer checks the request count once a second.
COUNT_POLL_S = 1.0
USERS_POLL_S = 0.05
# A level whose window lost or gained a worker is measured again from scratch, this many
# times; after that its windows are kept, flagged.
MAX_REMEASURE = 2


class SampleSource(Protocol):
    """Where the requests come from: this process's recorder, or a Locust master's merge
    of what its workers recorded."""

    def discard(self) -> None:
        """Everything finished until now belongs to no window."""

    def end_window(self) -> None:
        """A window ends now: workers are told at once, before the server is polled, so
        that both sides count up to the same moment."""

    def cut(self, start_ns: int, end_ns: int) -> WindowSample:
        """The window [start_ns, end_ns] that just ended."""
        ...

    def pending(self) -> int:
        """Requests finished since the last cut."""
        ...


class UserPool(Protocol):
    """The users that send the load (Locust's runner, here or across workers)."""

    def set_users(self, count: int) -> None: ...

    def running_users(self) -> int: ...

    def set_rate(self, rate: float | None) -> None:
        """Request-rate mode: the users send at this rate from now (None: they pause)."""


class SweepError(Exception):
    """The sweep cannot go on (server gone, users not starting); results so far stand."""


@dataclass
class SweepDriver:
    settings: SweepSettings
    source: SampleSource
    load: UserPool
    poll_stats: Callable[[], ServerStats] | None = None
    events: SweepEvents = field(default_factory=SweepEvents)
    clock: Callable[[], int] = time.monotonic_ns
    users_timeout_s: float = 60.0
    # How often the request count (count_windows) and the running users are checked.
    count_poll_s: float = COUNT_POLL_S
    users_poll_s: float = USERS_POLL_S
    # --collect-metrics: Triton's Prometheus endpoint, scraped while each level runs.
    metrics: MetricsScraper | None = None

    def __post_init__(self) -> None:
        self._stop = gevent.event.Event()
        self.result = SweepResult(self.settings, started_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        # The JSON is rewritten after every level: until the last one, it must not claim
        # "completed", or a run killed with SIGKILL reads as a finished one.
        self.result.stop_reason = "running"
        self._cut_short: LevelResult | None = None  # the level a SweepError ended
        self._remeasured = 0

    def stop(self) -> None:
        """Ask the sweep to end now; the level under way is kept as interrupted."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self) -> SweepResult:
        """Measure every level; never raises for what happens mid-sweep, the reason is in
        `result.stop_reason` and every level measured so far is in `result.levels`."""
        self.events.sweep_started(self.settings)
        try:
            # Binary search asks how the level just measured went: stable and under -l.
            levels = sweep_levels(self.settings, met=lambda _: self.result.levels[-1].stable)
            for value in levels:
                level = self._measure_level(value)
                self.result.levels.append(level)
                self.events.level_finished(level, self.result)
                # Binary search measures over -l on purpose: it, not -l, ends the sweep.
                if level.verdict is Verdict.OVER_THRESHOLD and self.settings.search != "binary":
                    self.result.stop_reason = "latency_threshold"
                    break
                if level.verdict is Verdict.INTERRUPTED:
                    self.result.stop_reason = "interrupted"
                    break
            else:
                self.result.stop_reason = "completed"
        except SweepError as exc:
            self.result.stop_reason = f"error: {exc}"
            if self._cut_short is not None:  # the server died mid-level: keep its windows
                self.result.levels.append(self._cut_short)
                self.events.level_finished(self._cut_short, self.result)
        except Exception as exc:  # a bug of ours must not lose what was measured
            log.exception("sweep failed")
            self.result.stop_reason = f"error: {exc}"
        finally:
            if self.settings.rate_mode:
                self.load.set_rate(None)
        self.events.sweep_ended(self.result)
        return self.result

    def _measure_level(self, concurrency: float) -> LevelResult:
        """One level: a concurrency, or in request-rate mode a rate."""
        self.events.level_started(concurrency)
        windows: list[Window] = []
        self._remeasured = 0
        try:
            return self._measure_windows(concurrency, windows)
        except SweepError:
            # Kept as interrupted with the windows it had, as a stopped level is.
            self._cut_short = self._level(
                concurrency, windows, Verdict.INTERRUPTED, self._remeasured
            )
            raise
        finally:  # however the level ends, a dead server included: no scraper left behind
            if self.metrics is not None:
                self.metrics.stop()

    def _measure_windows(self, concurrency: float, windows: list[Window]) -> LevelResult:
        self._start_level(concurrency)
        rule = self.settings.rule
        verdict = Verdict.MEASURE_MORE
        self.source.discard()  # what finished during the ramp belongs to no window
        # Every edge, the first too: the clock, then the server's statistics, so that the
        # server's counts lead the client's window by the same poll at both of its edges.
        start = self.clock()
        stats = self._stats()
        if self.metrics is not None:  # perf_analyzer scrapes from a level's first window
            self.metrics.start()
        while verdict is Verdict.MEASURE_MORE:
            if self._wait_window():
                verdict = Verdict.INTERRUPTED
                break
            end = self.clock()
            self.source.end_window()
            try:
                new_stats = self._stats()
            except SweepError:
                # The server went away: its window is kept without server figures, so that
                # the requests that failed in it are counted, in the JSON and the exit code.
                windows.append(
                    from_sample(
                        self.source.cut(start, end),
                        start,
                        end,
                        self.settings.batch_size,
                        rule.percentile,
                    )
                )
                raise
            window = from_sample(
                self.source.cut(start, end),
                start,
                end,
                self.settings.batch_size,
                rule.percentile,
                server=None if stats is None or new_stats is None else new_stats - stats,
            )
            if self.metrics is not None:
                window = replace(window, server_metrics=self.metrics.take(start, end))
            moved = window.missing_workers or window.joined_workers
            if moved and self._remeasured < MAX_REMEASURE:
                # Never under-count silently, nor keep a window in which Locust moved users
                # onto a new worker: start the level over with the workers there are now.
                self._remeasured += 1
                windows.clear()
                self._start_level(concurrency)
                self.source.discard()
                start = self.clock()
                stats = self._stats()
                continue
            windows.append(window)
            if len(windows) > rule.window_count:  # it can no longer be merged: figures only
                windows[-rule.window_count - 1] = figures_only(windows[-rule.window_count - 1])
            verdict = assess(windows, rule)
            self.events.window_measured(concurrency, len(windows), window, verdict)
            start, stats = end, new_stats
        return self._level(concurrency, windows, verdict, self._remeasured)

    def _level(
        self, concurrency: float, windows: list[Window], verdict: Verdict, remeasured: int = 0
    ) -> LevelResult:
        rule = self.settings.rule
        tail = [w for w in last_windows(windows, rule) if w.request_count > 0]
        merged = merge(tail, rule.percentile) if tail else None
        if merged is not None:
            verdict = final_verdict(merged, verdict, rule)
        rate = None
        if self.settings.rate_mode:  # the level is a rate; its users are --max-threads
            rate, concurrency = concurrency, self.settings.rate.max_threads
        return LevelResult(
            int(concurrency),
            verdict,
            windows,
            merged,
            spread(windows, rule),
            remeasured,
            request_rate=rate,
        )

    def _start_level(self, level: float) -> None:
        if not self.settings.rate_mode:
            self._start_users(int(level))
            return
        self._start_users(self.settings.rate.max_threads)
        self.load.set_rate(level)

    def _start_users(self, concurrency: int) -> None:
        self.load.set_users(concurrency)
        deadline = self.clock() + int(self.users_timeout_s * 1e9)
        while self.load.running_users() != concurrency:
            if self.stopping:
                return
            if self.clock() > deadline:
                raise SweepError(
                    f"only {self.load.running_users()} of {concurrency} users started "
                    f"within {self.users_timeout_s:.0f} s"
                )
            gevent.sleep(self.users_poll_s)

    def _wait_window(self) -> bool:
        """Wait out one window; True when the sweep was stopped meanwhile."""
        if self.settings.measurement_mode == "count_windows":
            while True:  # perf_analyzer sleeps first, then counts
                if self._stop.wait(self.count_poll_s):
                    return True
                if self.source.pending() >= self.settings.measurement_request_count:
                    return False
        return self._stop.wait(self.settings.measurement_interval_ms * WINDOW_STRETCH / 1000)

    def _stats(self) -> ServerStats | None:
        if self.poll_stats is None:
            return None
        try:
            return self.poll_stats()
        except Exception as exc:  # the server went away mid-sweep: end it, keep the results
            raise SweepError(f"server statistics unavailable: {exc}") from exc
