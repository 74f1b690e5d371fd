"""One sweep inside Locust: its lifetime (preflight, start, stop, exit status) and the user
count it asks of Locust's runner. What it measured reaches the console, the files and any
other output through the listeners subscribed to its events (triton_user/sweep/events.py)."""

from __future__ import annotations

import sys
from typing import Any, TextIO

import gevent
import gevent.event
from locust.env import Environment
from locust.runners import STATE_RUNNING, STATE_SPAWNING, MasterRunner

from analysis.console import data_read_line
from analysis.exit_codes import EXIT_OK, exit_code
from analysis.pacer import RateShare, read_intervals
from analysis.results import SweepResult
from analysis.settings import Outputs, SweepSettings
from triton_user.outputs import DISTRIBUTED_EXPORT, request_log_of, standard_outputs
from triton_user.requests.control import TritonControl
from triton_user.requests.metrics import MetricsError, MetricsScraper
from triton_user.requests.plan import RequestPlan
from triton_user.requests.shared_memory import DISTRIBUTED as SHARED_MEMORY_DISTRIBUTED
from triton_user.requests.shared_memory import SharedRegions
from triton_user.sweep.driver import SampleSource, SweepDriver, SweepError
from triton_user.sweep.events import SweepEvents
from triton_user.sweep.periodic import LOCUST_REFUSAL
from triton_user.sweep.preflight import PreflightError, preflight, release
from triton_user.sweep.process_state import SEQUENCE_PARTS, attach
from triton_user.sweep.stats_poll import RestartAwarePoll
from triton_user.sweep.window_channel import MasterSamples

__all__ = ["LocustSweep", "PreflightError", "check_rate_workers"]


def check_rate_workers(settings: SweepSettings, workers: int) -> None:
    """Request-rate mode across Locust workers: each sends its share of the rate from its
    own users, so each needs one (--max-threads is spread across the workers). Refused
    rather than raised: --max-threads is the concurrency the results report. Raises
    PreflightError."""
    threads = settings.rate.max_threads
    if settings.rate_mode and workers > threads:
        raise PreflightError(
            f"--max-threads {threads}: fewer users than the {workers} Locust workers, and each "
            f"worker sends its share of the rate from its own; give --max-threads {workers} or more"
        )


def users_in_place(runner: Any, count: int) -> bool:
    """Whether `count` users run already, every worker with some (request-rate mode's levels
    keep --max-threads users). Then a new start would move nothing, and its spawn message
    would stall each Locust worker, which rebuilds its option parser once per option on
    every one: 0.1-0.2 s with ours, delaying the level's start there."""
    if runner.target_user_count != count or runner.user_count != count:
        return False
    clients = getattr(runner, "clients", None)
    if clients is None:  # one process
        return True
    missing = {c.id for c in clients.missing}
    return all(c.user_count > 0 for c in clients.values() if c.id not in missing)


class LocustSweep:
    def __init__(
        self,
        environment: Environment,
        settings: SweepSettings,
        outputs: Outputs,
        out: TextIO | None = None,
    ) -> None:
        self.environment = environment
        self.settings = settings
        self.outputs = outputs
        self._out = out or sys.stdout
        listeners, self.files = standard_outputs(outputs, self._out)
        self.events = SweepEvents(listeners)
        self.target_users = self._first_users()
        self.finished = gevent.event.Event()
        self.result: SweepResult | None = None
        self._control: TritonControl | None = None
        self._driver: SweepDriver | None = None
        self._samples: MasterSamples | None = None
        self._metrics: MetricsScraper | None = None  # --collect-metrics
        self._regions: SharedRegions | None = None  # --shared-memory system
        self.server_version = ""
        self.model_config: dict[str, Any] = {}

    def subscribe(self, listener: object) -> None:
        """One more output for this sweep's events (before start)."""
        self.events.subscribe(listener)

    # -- before any load -------------------------------------------------------------
    def preflight(self) -> None:
        """Check the result files can be written and the server and model answer; build
        the request every user sends. Raises PreflightError."""
        if self.settings.periodic is not None:  # `triton-locust profile` runs it, not users
            raise PreflightError(LOCUST_REFUSAL)
        try:
            self.files.check()
        except OSError as exc:
            raise PreflightError(str(exc)) from exc
        runner = self.environment.runner
        if isinstance(runner, MasterRunner) and self.settings.shared_memory != "none":
            raise PreflightError(SHARED_MEMORY_DISTRIBUTED)
        ready = preflight(self.settings)
        self.settings = ready.plan.settings  # as the model makes them (a sequence model's)
        self._control, self.server_version = ready.control, ready.server_version
        self._regions = ready.plan.regions
        self.model_config = ready.model_config
        try:
            self._after_preflight(ready.plan)
        except BaseException:  # nothing will run: the regions go now
            self.close()
            raise

    def _after_preflight(self, plan: RequestPlan) -> None:
        if plan.data_read is not None:  # perf_analyzer's line once it has read JSON data
            print(data_read_line(*plan.data_read), file=self._out, flush=True)
        attach(self.environment, plan)
        self._metrics = MetricsScraper.of(self.settings)
        if self._metrics is not None:
            try:  # perf_analyzer's run mostly fails on it mid-level; ours before any load
                self._metrics.check()
            except MetricsError as exc:
                raise PreflightError(str(exc)) from exc
        runner = self.environment.runner
        if isinstance(runner, MasterRunner):  # `locust --master`: its workers are connected
            check_rate_workers(self.settings, runner.worker_count)
            if self.outputs.profile_export:
                raise PreflightError(DISTRIBUTED_EXPORT)

    # -- the sweep -------------------------------------------------------------------
    def start(self) -> None:
        control = self._control
        assert control is not None, "preflight() first"
        if isinstance(self.environment.runner, MasterRunner):
            options = self.environment.parsed_options
            state = getattr(self.environment, "triton", None)
            if getattr(getattr(state, "plan", None), "sequences", None) and options is not None:
                # Sent with the first spawn: every worker connected has an index below
                # this, and takes that part of the sequence IDs.
                setattr(options, SEQUENCE_PARTS, self.environment.runner.worker_index_max)
            samples = MasterSamples(self.environment)
            self._samples = samples  # deals request-rate mode's schedule out to the workers
            source: SampleSource = samples
            namer: object = samples  # tells the workers each level with its discard
        else:
            state = self.environment.triton  # type: ignore[attr-defined]
            source, namer = state.recorder, state
            log = request_log_of(self.events.listeners)
            if log is not None:  # --profile-export-file: the recorder keeps every request
                state.recorder.keep_requests(log)
        # Locust's statistics get one row per level: the requests are named after it.
        self.events.subscribe(namer)
        self._driver = SweepDriver(
            settings=self.settings,
            source=source,
            load=self,
            poll_stats=RestartAwarePoll(
                lambda: control.stats(self.settings.model, self.settings.model_version)
            ),
            events=self.events,
            metrics=self._metrics,  # here, or on the master: workers never scrape
        )
        if self._metrics is not None:
            self.events.subscribe(self._metrics)  # scraping ends with the sweep, however
        self._driver.result.server_version = self.server_version
        self._driver.result.model_config = self.model_config
        self.events.model_read(self.model_config)
        # Stop pressed in the web UI (or the runner stopping): end the sweep, keep its levels.
        # On test_stopping, before Locust stops the users: a window measured while they stop
        # (a master waits for its workers) would count nothing and be kept as a level's.
        self.environment.events.test_stopping.add_listener(lambda **_: self.stop())
        self.environment.events.test_stop.add_listener(lambda **_: self.stop())
        # The shared-memory regions go once Locust has stopped the users (at the sweep's end,
        # Stop, Ctrl-C, SIGTERM): the server keeps a region a request uses.
        self.environment.events.test_stop.add_listener(lambda **_: self.release_regions())
        gevent.spawn(self._run)

    def stop(self) -> None:
        if self._driver is not None:
            self._driver.stop()

    @property
    def started(self) -> bool:
        return self._driver is not None

    @property
    def done(self) -> bool:
        return self.finished.is_set()

    @property
    def exit_code(self) -> int:
        """The process's exit status once the sweep has finished."""
        assert self.result is not None, "the sweep has not finished"
        return exit_code(self.result, files_failed=bool(self.files.failed))

    # The driver's UserPool ---------------------------------------------------------------
    def set_users(self, count: int) -> None:
        """Locust's shape starts the first level (see `first_tick`); each later level is
        started here at once, through the runner's public start(), rather than at the
        shape's next tick, up to a second later."""
        self.target_users = count
        runner = self.environment.runner
        if runner is None or runner.state not in (STATE_SPAWNING, STATE_RUNNING):
            return
        if not users_in_place(runner, count):
            runner.start(count, float(max(count, 1)))

    @property
    def first_tick(self) -> tuple[int, float]:
        """What the shape returns for the whole sweep: the first level, all its users at
        once. Locust's shape worker acts only when the tick changes, so a constant tick
        leaves every later level to set_users (Locust 2.18 has no call to move a running
        shape on, and writing its shape_last_tick would be reaching into its state)."""
        first = self._first_users()
        return first, float(max(first, 1))

    def set_rate(self, rate: float | None) -> None:
        """Request-rate mode: the users send at `rate` from now (None: pause); on a master,
        each worker its share of the rate (window_channel.MasterSamples.deal_rate)."""
        share = None if rate is None else self._rate_share(rate)
        if self._samples is None:
            self.environment.triton.follow_rate(share)  # type: ignore[attr-defined]
            return
        if share is not None:
            try:  # a worker joined mid-sweep, beyond --max-threads: it would get no user
                check_rate_workers(self.settings, len(self._samples.connected()))
            except PreflightError as exc:
                raise SweepError(str(exc)) from exc
        self._samples.deal_rate(share)

    def _rate_share(self, rate: float) -> RateShare:
        """The level's whole schedule; workers read the intervals from the master's file."""
        rate_settings = self.settings.rate
        intervals = (
            read_intervals(rate_settings.intervals_file) if rate_settings.intervals_file else []
        )
        return RateShare(rate, rate_settings.distribution, tuple(intervals))

    def _first_users(self) -> int:
        if self.settings.rate_mode:
            return self.settings.rate.max_threads
        return self.settings.concurrency_start

    def running_users(self) -> int:
        runner = self.environment.runner
        return runner.user_count if runner is not None else 0

    def _run(self) -> None:
        assert self._driver is not None
        try:
            self.result = self._driver.run()  # tells every listener, files included
            if self.exit_code != EXIT_OK:  # `locust -f` exits with it too
                self.environment.process_exit_code = self.exit_code
        finally:
            self.close()
            self.finished.set()

    def close(self) -> None:
        """Close the control connection; the regions too if no user was ever started."""
        if not self.started:
            self.release_regions()
        if self._control is not None:
            self._control.close()
            self._control = None

    def release_regions(self) -> None:
        """Unregister and remove the --shared-memory regions: a call cut short is finished
        by the next; once done, another does nothing."""
        release(self._regions)
