"""The sweep driver with synthetic load: short real windows, a source that makes up
requests at a chosen rate and latency, and a load control that starts users at once."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import gevent
import pytest

from analysis.server_stats import ServerStats
from analysis.settings import SweepSettings
from analysis.stabiliser import Verdict
from analysis.window import WindowSample
from triton_user.sweep.driver import MAX_REMEASURE, SweepDriver
from triton_user.sweep.events import SweepEvents
from triton_user.sweep.recorder import Recorder

WINDOW_MS = 20


class SyntheticSource:
    """A real Recorder fed, at each cut, with requests that ended evenly spaced since the
    previous cut; `latency_us(concurrency, n)` gives the n-th window's latency."""

    def __init__(self, load: InstantLoad, per_ms: int, latency_us: Callable[[int, int], float]):
        self.load, self.per_ms, self.latency_us = load, per_ms, latency_us
        self.recorder = Recorder()
        self.last = time.monotonic_ns()
        self.cuts = 0

    def _make_up_requests(self) -> None:
        now = time.monotonic_ns()
        n = max(0, (now - self.last) * self.per_ms // 1_000_000)
        latency_ns = int(self.latency_us(self.load.users, self.cuts) * 1000)
        for i in range(n):
            end = self.last + (i + 1) * (now - self.last) // n
            self.recorder.record(end - latency_ns, end, 1000, 2000, True)
        self.last = now

    def pending(self) -> int:
        return (time.monotonic_ns() - self.last) * self.per_ms // 1_000_000

    def discard(self) -> None:
        self._make_up_requests()
        self.recorder.discard()

    def end_window(self) -> None:
        pass

    def cut(self, start_ns: int, end_ns: int) -> WindowSample:
        self._make_up_requests()
        self.cuts += 1
        return self.recorder.cut(start_ns, end_ns)


class InstantLoad:
    def __init__(self) -> None:
        self.users = 0
        self.history: list[int] = []

    def set_users(self, count: int) -> None:
        self.users = count
        self.history.append(count)

    def running_users(self) -> int:
        return self.users


def settings(**overrides) -> SweepSettings:
    base = dict(
        model="m", concurrency_start=1, concurrency_end=3, measurement_interval_ms=WINDOW_MS
    )
    return SweepSettings(**{**base, **overrides})


def driver(latency_us: Callable[[int, int], float], **overrides) -> SweepDriver:
    load = InstantLoad()
    return SweepDriver(settings(**overrides), SyntheticSource(load, 20, latency_us), load)


def test_steady_load_is_stable_after_three_windows_at_every_level():
    d = driver(lambda c, n: 100.0 * c)
    result = d.run()
    assert [lvl.concurrency for lvl in result.levels] == [1, 2, 3]
    assert all(lvl.verdict is Verdict.STABLE for lvl in result.levels)
    assert all(len(lvl.windows) == 3 for lvl in result.levels)
    assert result.stop_reason == "completed"
    merged = result.levels[1].merged
    assert merged.request_count == sum(w.request_count for w in result.levels[1].windows)
    assert merged.avg_latency_ns == 200_000


def test_each_window_says_how_busy_the_load_generator_was():
    level = driver(lambda c, n: 100.0, concurrency_end=1).run().levels[0]
    busy = [w.client_busy for w in level.windows]
    assert all(0 <= b < 2 for b in busy)  # a share of one core (a little over, with threads)
    assert level.merged.client_busy == max(busy)
    lags = [w.client_lag_ms for w in level.windows if w.client_lag_ms is not None]
    assert lags and all(lag >= 0 for lag in lags)  # the loop's timer woke in the windows
    assert level.merged.client_lag_ms == max(lags)


def test_windows_last_about_1_2_times_the_interval():
    result = driver(lambda c, n: 100.0).run()
    durations_ms = [w.duration_ns / 1e6 for lvl in result.levels for w in lvl.windows]
    assert all(WINDOW_MS * 1.2 <= d < WINDOW_MS * 1.2 + 30 for d in durations_ms)


def test_a_level_that_never_settles_is_flagged_unstable_and_the_sweep_goes_on():
    # Latency doubles every other window at concurrency 2 only.
    d = driver(lambda c, n: 100.0 * (2 if c == 2 and n % 2 else 1), max_trials=5)
    result = d.run()
    verdicts = [lvl.verdict for lvl in result.levels]
    assert verdicts == [Verdict.STABLE, Verdict.UNSTABLE, Verdict.STABLE]
    unstable = result.levels[1]
    assert len(unstable.windows) == 5
    assert unstable.spread.latency == pytest.approx(2.0, rel=0.01)
    assert unstable.reported  # flagged, still in the CSV


def test_latency_threshold_stops_the_sweep_without_reporting_the_level():
    d = driver(lambda c, n: 1000.0 * c, latency_threshold_ms=1.5, concurrency_end=4)
    result = d.run()
    assert [lvl.verdict for lvl in result.levels] == [Verdict.STABLE, Verdict.OVER_THRESHOLD]
    assert result.stop_reason == "latency_threshold"
    assert [lvl.concurrency for lvl in result.reported_levels] == [1]


class CountedPolls(SyntheticSource):
    """Ten more requests pending at each time the driver asks, whatever the clock says; keeps
    how many times it was asked in each window."""

    def __init__(self, load: InstantLoad) -> None:
        super().__init__(load, 20, lambda c, n: 100.0)
        self.asked = 0
        self.asked_per_window: list[int] = []

    def pending(self) -> int:
        self.asked += 1
        return 10 * self.asked

    def cut(self, start_ns: int, end_ns: int) -> WindowSample:
        self.asked_per_window.append(self.asked)
        self.asked = 0
        return super().cut(start_ns, end_ns)


def test_count_windows_wait_for_the_request_count():
    load = InstantLoad()
    source = CountedPolls(load)
    count = settings(
        measurement_mode="count_windows", measurement_request_count=30, concurrency_end=1
    )
    # perf_analyzer sleeps a second, then counts; the poll interval shortened here.
    d = SweepDriver(count, source, load, count_poll_s=0.01)
    windows = d.run().levels[0].windows
    assert len(windows) == 3
    # Sleep, count, again: the count (10, 20, 30) is there at the third look.
    assert source.asked_per_window == [3, 3, 3]
    assert all(w.duration_ns >= 25_000_000 for w in windows)  # three sleeps of 10 ms
    assert SweepDriver(count, source, load).count_poll_s == 1.0  # perf_analyzer's second


def test_server_statistics_are_the_delta_over_each_window():
    calls = iter(range(1000))

    def poll() -> ServerStats:
        k = next(calls)
        return ServerStats(success_count=10 * k, success_ns=10_000 * k)

    load = InstantLoad()
    d = SweepDriver(
        settings(concurrency_end=1),
        SyntheticSource(load, 20, lambda c, n: 100.0),
        load,
        poll_stats=poll,
    )
    level = d.run().levels[0]
    assert [w.server.success_count for w in level.windows] == [10, 10, 10]
    assert level.merged.server.success_count == 30


def test_losing_the_server_ends_the_sweep_and_keeps_what_was_measured():
    polls = {"n": 0}

    def poll() -> ServerStats:
        polls["n"] += 1
        if polls["n"] > 5:
            raise ConnectionError("connection refused")
        return ServerStats()

    load = InstantLoad()
    d = SweepDriver(
        settings(), SyntheticSource(load, 20, lambda c, n: 100.0), load, poll_stats=poll
    )
    result = d.run()
    assert result.stop_reason.startswith("error: server statistics unavailable")
    assert [lvl.concurrency for lvl in result.levels] == [1, 2]
    assert result.levels[1].verdict is Verdict.INTERRUPTED  # cut short in its first window,
    (window,) = result.levels[1].windows  # kept without server figures: its requests count
    assert window.server is None and window.request_count > 0


def test_stopping_mid_level_keeps_its_windows_as_interrupted():
    d = driver(lambda c, n: 100.0 * (1 + n % 2), max_trials=100)
    gevent.spawn_later(0.2, d.stop)
    result = d.run()
    assert result.stop_reason == "interrupted"
    assert result.levels[-1].verdict is Verdict.INTERRUPTED
    assert result.levels[-1].windows
    assert not result.levels[-1].reported


class Heard:
    """A listener that notes what it hears."""

    def __init__(self, heard: list[str]) -> None:
        self.heard = heard

    def sweep_started(self, settings) -> None:
        self.heard.append("sweep")

    def level_started(self, concurrency: int) -> None:
        self.heard.append(f"start {concurrency}")

    def window_measured(self, concurrency, index, window, verdict) -> None:
        self.heard.append(f"window {concurrency}.{index} {verdict.value}")

    def level_finished(self, level, result) -> None:
        self.heard.append(f"end {level.concurrency} of {len(result.levels)}")

    def sweep_ended(self, result) -> None:
        self.heard.append(f"ended {result.stop_reason}")


def two_levels_heard_by(*listeners: object) -> SweepDriver:
    load = InstantLoad()
    return SweepDriver(
        settings(concurrency_end=2),
        SyntheticSource(load, 20, lambda c, n: 100.0),
        load,
        events=SweepEvents(listeners),
    )


def test_the_listeners_hear_the_sweep_each_level_start_window_and_end():
    heard: list[str] = []
    two_levels_heard_by(Heard(heard)).run()
    assert heard == [
        "sweep",
        "start 1",
        "window 1.1 measure_more",
        "window 1.2 measure_more",
        "window 1.3 stable",
        "end 1 of 1",
        "start 2",
        "window 2.1 measure_more",
        "window 2.2 measure_more",
        "window 2.3 stable",
        "end 2 of 2",
        "ended completed",
    ]


class Broken:
    def level_finished(self, level, result) -> None:
        raise RuntimeError("a bug in one output")


def test_a_failing_listener_is_dropped_and_the_sweep_goes_on():
    heard: list[str] = []
    result = two_levels_heard_by(Broken(), Heard(heard)).run()
    assert [lvl.concurrency for lvl in result.levels] == [1, 2]
    assert heard[-1] == "ended completed"


class ChangingWorkers(SyntheticSource):
    """A master's source whose workers change at the given cuts (1-based): `change` is
    what that cut's sample says ({"missing_workers": 1} or {"joined_workers": 1})."""

    def __init__(self, load: InstantLoad, at_cuts: set[int], change: dict[str, int]):
        super().__init__(load, 20, lambda c, n: 100.0)
        self.at_cuts, self.change = at_cuts, change

    def cut(self, start_ns: int, end_ns: int) -> WindowSample:
        sample = super().cut(start_ns, end_ns)
        return replace(sample, **self.change) if self.cuts in self.at_cuts else sample


@pytest.mark.parametrize("change", [{"missing_workers": 1}, {"joined_workers": 1}])
def test_a_worker_lost_or_joined_mid_level_starts_the_level_over(change):
    load = InstantLoad()
    d = SweepDriver(settings(concurrency_end=1), ChangingWorkers(load, {2}, change), load)
    [level] = d.run().levels
    assert level.remeasured == 1
    assert load.history == [1, 1]  # the users were set again for the new start
    assert level.verdict is Verdict.STABLE
    assert len(level.windows) == 3  # none from before the change
    assert (level.merged.missing_workers, level.merged.joined_workers) == (0, 0)


def test_workers_that_keep_changing_are_flagged_once_the_retries_are_spent():
    load = InstantLoad()
    source = ChangingWorkers(load, set(range(1, 100)), {"joined_workers": 1})
    [level] = SweepDriver(settings(concurrency_end=1), source, load).run().levels
    assert level.remeasured == MAX_REMEASURE
    assert level.merged.joined_workers == 3  # each reported window says so
