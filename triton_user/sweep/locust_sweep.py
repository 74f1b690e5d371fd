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

from analysis.exit_codes import EXIT_OK, exit_code
from analysis.pacer import pacer_for, read_intervals
from analysis.results import SweepResult
from analysis.settings import Outputs, SweepSettings
from triton_user.outputs import standard_outputs
from triton_user.requests.control import TritonControl
from triton_user.sweep.driver import SampleSource, SweepDriver
from triton_user.sweep.events import SweepEvents
from triton_user.sweep.preflight import PreflightError, preflight
from triton_user.sweep.process_state import attach
from triton_user.sweep.stats_poll import RestartAwarePoll
from triton_user.sweep.window_channel import MasterSamples

__all__ = ["LocustSweep", "PreflightError"]

DISTRIBUTED_RATE = (
    "--request-rate-range with Locust workers (--processes, --master): not yet; the split "
    "of a rate across workers is to come. Run it in one process"
)


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
        listeners, self.files = standard_outputs(outputs, out or sys.stdout)
        self.events = SweepEvents(listeners)
        self.target_users = self._first_users()
        self.finished = gevent.event.Event()
        self.result: SweepResult | None = None
        self._control: TritonControl | None = None
        self._driver: SweepDriver | None = None
        self.server_version = ""
        self.model_config: dict[str, Any] = {}

    def subscribe(self, listener: object) -> None:
        """One more output for this sweep's events (before start)."""
        self.events.subscribe(listener)

    # -- before any load -------------------------------------------------------------
    def preflight(self) -> None:
        """Check the result files can be written and the server and model answer; build
        the request every user sends. Raises PreflightError."""
        try:
            self.files.check()
        except OSError as exc:
            raise PreflightError(str(exc)) from exc
        ready = preflight(self.settings)
        self._control, self.server_version = ready.control, ready.server_version
        self.model_config = ready.model_config
        attach(self.environment, ready.plan)
        if self.settings.rate_mode and isinstance(self.environment.runner, MasterRunner):
            raise PreflightError(DISTRIBUTED_RATE)

    # -- the sweep -------------------------------------------------------------------
    def start(self) -> None:
        control = self._control
        assert control is not None, "preflight() first"
        if self.settings.rate_mode and isinstance(self.environment.runner, MasterRunner):
            # Checked by preflight already; a start without it must not send unpaced load.
            raise PreflightError(DISTRIBUTED_RATE)
        if isinstance(self.environment.runner, MasterRunner):
            samples = MasterSamples(self.environment)
            source: SampleSource = samples
            namer: object = samples  # tells the workers each level with its discard
        else:
            state = self.environment.triton  # type: ignore[attr-defined]
            source, namer = state.recorder, state
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
        )
        self._driver.result.server_version = self.server_version
        self._driver.result.model_config = self.model_config
        # Stop pressed in the web UI (or the runner stopping): end the sweep, keep its levels.
        # On test_stopping, before Locust stops the users: a window measured while they stop
        # (a master waits for its workers) would count nothing and be kept as a level's.
        self.environment.events.test_stopping.add_listener(lambda **_: self.stop())
        self.environment.events.test_stop.add_listener(lambda **_: self.stop())
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
        if runner is not None and runner.state in (STATE_SPAWNING, STATE_RUNNING):
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
        """Request-rate mode: this process's users send at `rate` from now (None: pause)."""
        gate = self.environment.triton.gate  # type: ignore[attr-defined]
        if rate is None:
            gate.pause()
            return
        rate_settings = self.settings.rate
        intervals = (
            read_intervals(rate_settings.intervals_file) if rate_settings.intervals_file else []
        )
        gate.start(pacer_for(rate, rate_settings.distribution, intervals))

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
        if self._control is not None:
            self._control.close()
            self._control = None
