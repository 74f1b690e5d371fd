"""One sweep inside Locust: check the server and model, drive the levels, and write what
was measured (console as perf_analyzer prints it, CSV, JSON, report).

Files are rewritten after every level, so a sweep that dies keeps what it measured."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import TextIO

import gevent
import gevent.event
from locust.env import Environment
from locust.runners import STATE_RUNNING, STATE_SPAWNING, MasterRunner

from analysis import console
from analysis.atomic_write import check_writable
from analysis.csv_writer import write_csv
from analysis.json_writer import write_json
from analysis.report.html import write_report
from analysis.report.recommend import recommend
from analysis.report.summary import from_result
from analysis.report.text import recommendation_lines
from analysis.results import LevelResult, SweepResult
from analysis.settings import Outputs, SweepSettings
from analysis.stabiliser import Verdict
from analysis.window import Window
from triton_user.requests.control import ControlError, TritonControl
from triton_user.requests.inputs import InputError
from triton_user.requests.plan import RequestPlan
from triton_user.sweep.driver import SampleSource, SweepDriver, SweepListener
from triton_user.sweep.window_channel import MasterSamples
from triton_user.user import attach

log = logging.getLogger(__name__)

# Like perf_analyzer, non-zero when a level could not be measured stably (1), and when the
# sweep or its files failed (3); the CLI's 2 is bad input, found before any load.
EXIT_OK, EXIT_UNSTABLE, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 3, 130


class PreflightError(Exception):
    """The sweep cannot start: one line for the user."""


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
        self.out = out or sys.stdout
        self.target_users = settings.concurrency_start
        self.finished = gevent.event.Event()
        self.result: SweepResult | None = None
        self._control: TritonControl | None = None
        self._driver: SweepDriver | None = None
        self.server_version = ""
        self.unwritten: list[str] = []  # result files the end of the sweep failed to write

    # -- before any load -------------------------------------------------------------
    def preflight(self) -> None:
        """Check the result files can be written, reach the server, read the model, build
        the request, check the statistics extension answers. Raises PreflightError."""
        for path in self.outputs.paths():
            try:
                check_writable(path)
            except OSError as exc:
                raise PreflightError(f"cannot write {path}: {_reason(exc)}") from exc
        try:
            control = TritonControl(
                self.settings.url, self.settings.protocol, self.settings.headers
            )
            self._control = control
            self.server_version = control.server_version()
            signature = control.signature(self.settings.model, self.settings.model_version)
            plan = RequestPlan.build(self.settings, signature)
            control.stats(self.settings.model, self.settings.model_version)
        except (ControlError, InputError) as exc:
            self.close()
            raise PreflightError(str(exc)) from exc
        attach(self.environment, plan)

    # -- the sweep -------------------------------------------------------------------
    def start(self) -> None:
        control = self._control
        assert control is not None, "preflight() first"
        runner = self.environment.runner
        source: SampleSource = (
            MasterSamples(self.environment)
            if isinstance(runner, MasterRunner)
            else self.environment.triton.recorder  # type: ignore[attr-defined]
        )
        self._driver = SweepDriver(
            settings=self.settings,
            source=source,
            load=self,
            poll_stats=lambda: control.stats(self.settings.model, self.settings.model_version),
            listener=SweepListener(
                level_started=self._level_started,
                window_measured=self._window_measured,
                level_finished=self._level_finished,
            ),
        )
        self._driver.result.server_version = self.server_version
        # Stop pressed in the web UI (or the runner stopping): end the sweep, keep its levels.
        self.environment.events.test_stop.add_listener(lambda **_: self.stop())
        self._print(console.settings_block(self.settings))
        gevent.spawn(self._run)

    def stop(self) -> None:
        if self._driver is not None:
            self._driver.stop()

    @property
    def done(self) -> bool:
        return self.finished.is_set()

    @property
    def exit_code(self) -> int:
        """The process's exit status once the sweep has finished."""
        result = self.result
        assert result is not None, "the sweep has not finished"
        if result.stop_reason == "interrupted":
            return EXIT_INTERRUPTED
        if result.stop_reason.startswith("error") or self.unwritten:
            return EXIT_ERROR
        if any(level.verdict is Verdict.UNSTABLE for level in result.levels):
            return EXIT_UNSTABLE
        return EXIT_OK

    # LoadControl, for the driver: the shape hands target_users to Locust.
    def set_users(self, count: int) -> None:
        self.target_users = count
        runner = self.environment.runner
        # Locust's shape worker reads the shape once a second: up to a second lost per
        # level. Once it has started the test, start each new level here at once; with
        # its last tick set first, the worker finds the level already started.
        started = runner is not None and runner.shape_last_tick is not None
        if started and runner.state in (STATE_SPAWNING, STATE_RUNNING):
            runner.shape_last_tick = self.shape_tick
            runner.start(*self.shape_tick)

    @property
    def shape_tick(self) -> tuple[int, float]:
        """The user count and spawn rate for Locust: all users of a level start at once."""
        return self.target_users, float(max(self.target_users, 1))

    def running_users(self) -> int:
        runner = self.environment.runner
        return runner.user_count if runner is not None else 0

    def _run(self) -> None:
        assert self._driver is not None
        try:
            self.result = self._driver.run()
        except Exception as exc:  # a bug of ours must not lose what was measured
            log.exception("sweep failed")
            self.result = self._driver.result
            self.result.stop_reason = f"error: {exc}"
        finally:
            self._finish()

    def _finish(self) -> None:
        result = self.result
        assert result is not None
        try:
            if result.reported_levels:
                self._print(console.summary_block(result))
                rec = recommend(from_result(result), self.outputs.latency_budget_ms)
                self._print("\n" + "\n".join(recommendation_lines(rec)))
            if result.stop_reason.startswith("error"):
                print(f"triton-locust: sweep stopped: {result.stop_reason}", file=sys.stderr)
            self.unwritten = self._write(result, final=True)
            if self.exit_code != EXIT_OK:  # `locust -f` exits with it too
                self.environment.process_exit_code = self.exit_code
        finally:
            self.close()
            self.finished.set()

    def close(self) -> None:
        if self._control is not None:
            self._control.close()
            self._control = None

    # -- what the driver tells ---------------------------------------------------------
    def _level_started(self, concurrency: int) -> None:
        self._print(console.level_header(concurrency))

    def _window_measured(
        self, concurrency: int, index: int, window: Window, verdict: Verdict
    ) -> None:
        if self.outputs.verbose:
            latency = window.stabilizing_latency_ns(self.settings.percentile)
            label = self.settings.latency_label
            shown = f"{latency / 1000:.0f} usec" if latency != float("inf") else "none"
            self._print(
                f"  Pass [{index}] throughput: {window.throughput:.6g} infer/sec. "
                f"{label} latency: {shown}"
            )

    def _level_finished(self, level: LevelResult) -> None:
        self._print(console.level_block(level, self.settings, verbose=self.outputs.verbose))
        if self._driver is not None:
            self._write(self._driver.result, final=False)

    def _write(self, result: SweepResult, final: bool) -> list[str]:
        """Rewrite the result files; a file that cannot be written is said, not fatal to the
        others. Returns the paths that failed."""
        targets: list[tuple[str | None, Callable[[], None]]] = [
            (
                self.outputs.csv,
                lambda: write_csv(result, self.outputs.csv, self.outputs.verbose_csv),
            ),
            (self.outputs.json, lambda: write_json(result, self.outputs.json)),
        ]
        if final:
            targets.append((self.outputs.report, lambda: self._write_report(result)))
        failed = []
        for path, write in targets:
            if not path:
                continue
            try:
                write()
            except Exception as exc:  # one file failing must not cost the others
                print(f"triton-locust: cannot write {path}: {_reason(exc)}", file=sys.stderr)
                failed.append(path)
        return failed

    def _write_report(self, result: SweepResult) -> None:
        if result.reported_levels:
            write_report(
                result, self.outputs.report, latency_budget_ms=self.outputs.latency_budget_ms
            )

    def _print(self, text: str) -> None:
        if text:
            print(text, file=self.out, flush=True)


def _reason(exc: Exception) -> str:
    return str(getattr(exc, "strerror", None) or exc)
