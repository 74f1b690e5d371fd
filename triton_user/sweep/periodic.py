"""perf_analyzer's periodic concurrency mode, the sending (--periodic-concurrency-range,
--request-period; the schedule is analysis/periodic.py): each request on a stream of its
own (--streaming), sent once, its every response told to the schedule as it arrives, which
says when the next STEP go out. No Locust users and no windows: the requests are greenlets
on this process's loop (whatever --client-io), perf_analyzer's one thread per request.

The result is the profile export (one experiment, concurrency 1, one window over all time,
as perf_analyzer writes it): every request that had its final response, with each
response's arrival, in the order they were sent. It is written whole at the end, however
the run ends (done, Ctrl-C or SIGTERM, perf_analyzer's early-final error, a failed request),
with what finished until then."""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from typing import TextIO

import gevent
import gevent.event
import numpy as np

from analysis.console import settings_block
from analysis.exit_codes import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_REQUESTS_FAILED,
)
from analysis.model_config import is_decoupled
from analysis.periodic import (
    EarlyFinalResponse,
    PeriodicSchedule,
    batch_of_each,
    in_flight_after_each_start,
)
from analysis.profile_export import (
    CONCURRENCY,
    PERIODIC_WINDOW,
    ProfileExport,
    write_profile_export,
)
from analysis.settings import Outputs, SweepSettings
from triton_user.outputs.result_files import ResultFiles, reason
from triton_user.requests.plan import RequestPlan
from triton_user.requests.validation import validated
from triton_user.sweep.preflight import PreflightError, preflight, release
from triton_user.wire.http2 import Http2Error

# What perf_analyzer's export holds in this mode: one experiment, InferenceLoadMode{1, 0.0}
# (concurrency 1), and the one window PERIODIC_WINDOW (inference_profiler.h).
EXPERIMENT_VALUE = 1
# The Locust side (locust -f, its web UI) has users that loop; this mode has none.
LOCUST_REFUSAL = (
    "--periodic-concurrency-range: only `triton-locust profile` runs it (each request is "
    "sent once, on a stream of its own, not by Locust users)"
)
SEQUENCE_REFUSAL = "--periodic-concurrency-range with a sequence model: not supported yet"


class PeriodicRun:
    """One run of the mode: preflight, then run, which returns the exit code; stop ends it
    early (from a signal handler), keeping what finished."""

    def __init__(
        self,
        settings: SweepSettings,
        outputs: Outputs,
        out: TextIO | None = None,
        err: TextIO | None = None,
    ) -> None:
        assert settings.periodic is not None and outputs.profile_export
        # Greenlets on this loop: the users' blocking sockets would hold the loop up.
        self.settings = replace(settings, client_io="gevent")
        self.outputs = outputs
        self.schedule = PeriodicSchedule(settings.periodic)
        self._out, self._err = out or sys.stdout, err or sys.stderr
        self._plan: RequestPlan | None = None
        self._decoupled = False
        self._requests: dict[int, gevent.Greenlet] = {}
        # Each request that finished: its start and every response's arrival (monotonic ns).
        self.finished: dict[int, tuple[int, tuple[int, ...]]] = {}
        self._over = gevent.event.Event()
        self.code = EXIT_OK
        self.reason = ""  # why the run ended early, in one line

    # -- before any load ---------------------------------------------------------------------
    def preflight(self) -> None:
        """The export's path, the server, the model and its request. Raises PreflightError."""
        try:
            ResultFiles(self.outputs).check()
        except OSError as exc:
            raise PreflightError(str(exc)) from exc
        ready = preflight(self.settings)
        ready.control.close()  # no statistics polled in this mode
        if ready.plan.sequences is not None:
            release(ready.plan.regions)
            raise PreflightError(SEQUENCE_REFUSAL)
        self._plan = ready.plan
        self._decoupled = is_decoupled(ready.model_config)

    # -- the run -------------------------------------------------------------------------------
    def run(self) -> int:
        assert self._plan is not None, "preflight() first"
        block = settings_block(self.settings, decoupled=self._decoupled)
        print(block, file=self._out, flush=True)
        # perf_analyzer's times are system_clock's ns since the epoch; ours the monotonic
        # clock's, moved by this one offset (a clock step mid-run bends nothing).
        offset_ns = time.time_ns() - time.monotonic_ns()
        try:
            self._launch(self.schedule.begin())
            self._over.wait()
        finally:
            gevent.killall(list(self._requests.values()))
            release(self._plan.regions)
        wrote = self._write(offset_ns)
        self._summary(wrote)
        return self.code

    def stop(self) -> None:
        """Ctrl-C, SIGTERM: the run ends now, with what finished."""
        self._end(EXIT_INTERRUPTED, "interrupted")

    def _launch(self, numbers: list[int]) -> None:
        if self._over.is_set():
            return
        for n in numbers:
            self._requests[n] = gevent.spawn(self._request, n)

    def _request(self, number: int) -> None:
        try:
            self._send_one(number)
        except Exception as exc:  # a defect of ours must end the run, not leave it waiting
            self._end(EXIT_ERROR, f"request {number + 1}: {type(exc).__name__}: {exc}")

    def _send_one(self, number: int) -> None:
        plan = self._plan
        assert plan is not None
        k = number % len(plan.payloads)  # perf_analyzer's data step: the thread's id
        client = plan.new_client()
        try:
            try:  # perf_analyzer's stream is open before its request is timed
                client.open()
            except (OSError, ValueError, Http2Error):
                pass  # infer() connects again, and says why it cannot as the request's error
            timing = client.infer(
                plan.payloads[k],
                on_response=lambda n: self._launch(self.schedule.on_response(number, n)),
            )
            if plan.expected:  # validation_data: the final response's outputs, as its
                timing = validated(timing, client, plan.expected[k], plan.wheres[k])
            error = timing.error
        finally:
            client.close()
        if self._over.is_set():
            return
        if error is not None:
            self._end(EXIT_REQUESTS_FAILED, f"request {number + 1} failed: {error}")
            return
        try:
            self.schedule.on_final(number, len(timing.responses_ns))
        except EarlyFinalResponse as exc:
            self._end(EXIT_ERROR, str(exc))
            return
        self.finished[number] = (timing.start_ns, timing.responses_ns)
        if self.schedule.done:
            self._over.set()

    def _end(self, code: int, why: str) -> None:
        if not self._over.is_set():
            self.code, self.reason = code, why
            self._over.set()

    # -- the result ----------------------------------------------------------------------------
    def export(self, offset_ns: int) -> ProfileExport:
        """What finished, as perf_analyzer exports it: in the order sent, on the epoch."""
        export = ProfileExport()
        experiment = export.experiment(CONCURRENCY, EXPERIMENT_VALUE)
        experiment.window_boundaries = list(PERIODIC_WINDOW)
        numbers = sorted(self.finished)
        responses = np.empty(len(numbers), dtype=object)
        for i, n in enumerate(numbers):
            responses[i] = np.asarray(self.finished[n][1], dtype=np.int64) + offset_ns
        starts = np.asarray([self.finished[n][0] for n in numbers], dtype=np.int64) + offset_ns
        ends = np.asarray([r[-1] if len(r) else 0 for r in responses], dtype=np.int64)
        experiment.add_requests(starts, ends, responses)
        return export

    def _write(self, offset_ns: int) -> bool:
        path = self.outputs.profile_export
        assert path is not None
        try:
            write_profile_export(self.export(offset_ns), path)
        except Exception as exc:  # said, and exit code 3, as the other result files
            self._also(EXIT_ERROR, f"cannot write {path}: {reason(exc)}")
            return False
        return True

    def _also(self, code: int, why: str) -> None:
        if self.code in (EXIT_OK, EXIT_REQUESTS_FAILED):  # 130 stays: as exit_codes.py ranks
            self.code = code
        self.reason = f"{self.reason}; {why}" if self.reason else why

    def _summary(self, wrote: bool) -> None:
        """Our lines after perf_analyzer's (it prints nothing more in this mode): what was
        sent, and how many were in flight as each step went out; then the file."""
        rng = self.schedule.range
        done = sorted(self.finished)
        line = (
            f"Periodic concurrency {rng.start}:{rng.end}:{rng.step}, request period "
            f"{rng.request_period}: {len(done)} of {rng.end} requests finished "
            f"({self.schedule.sent} sent)"
        )
        if len(done) == self.schedule.sent and done:
            starts = [self.finished[n][0] for n in done]
            ends = [self.finished[n][1][-1] for n in done]
            in_flight = in_flight_after_each_start(starts, ends)
            batches = batch_of_each(rng)[: len(done)]
            at_steps = [
                in_flight[i]
                for i in range(len(done))
                if i + 1 == len(done) or batches[i + 1] != batches[i]
            ]
            line += "; in flight as each step went out: " + ", ".join(map(str, at_steps))
        print(line, file=self._out, flush=True)
        if wrote:
            path = self.outputs.profile_export
            print(
                f"\nResults:\n  {path}  perf_analyzer's profile export: every request's timestamps",
                file=self._out,
                flush=True,
            )
        if self.code != EXIT_OK:
            # Diagnostics go to stderr, as perf_analyzer's do: seen even with stdout piped.
            noun = "request" if len(done) == 1 else "requests"
            kept = f"the export holds the {len(done)} {noun} that finished" if wrote else ""
            print(
                f"triton-locust: exit code {self.code}{f' ({kept})' if kept else ''}: "
                f"{self.reason}",
                file=self._err,
                flush=True,
            )


__all__ = ["LOCUST_REFUSAL", "PeriodicRun", "PreflightError"]
