"""TritonUser: a Locust user that keeps exactly one Triton inference request in flight.

A fixed number of these users is perf_analyzer's concurrency: closed loop, no wait time,
the next request leaves as soon as the previous response is read. Each user waits on the
network either in an OS thread of its own (`--client-io threads`, the default: blocking
I/O as perf_analyzer's threads do, cheapest per request) or cooperatively on gevent
(`--client-io gevent`: thousands of users in one process)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import gevent
import gevent.lock
from locust import User, constant, task
from locust.env import Environment

from triton_user.options import from_locust_options
from triton_user.requests.plan import RequestPlan
from triton_user.sweep.recorder import Recorder
from triton_user.sweep.request_loop import EventBuffer, ThreadedLoop
from triton_user.wire.timing import Timing

log = logging.getLogger(__name__)
_state_lock = gevent.lock.BoundedSemaphore()
# A threaded user's greenlet only waits for Locust to stop it.
IDLE_S = 1.0


class RequestFailed(Exception):
    """What Locust's statistics and UI show for a failed request."""


@dataclass
class ProcessState:
    """Shared by all users of one process: the encoded request, the recorder, and the
    buffer that hands threaded users' timings to Locust's request event."""

    plan: RequestPlan
    recorder: Recorder
    events: EventBuffer = field(init=False)
    environment: Environment | None = None

    def __post_init__(self) -> None:
        self.events = EventBuffer(self.fire)

    def fire(self, t: Timing) -> None:
        """Locust's request event for one request: its statistics and UI show it."""
        assert self.environment is not None
        self.environment.events.request.fire(
            request_type=self.plan.request_type,
            name=self.plan.settings.model,
            response_time=(t.end_ns - t.start_ns) / 1e6,
            response_length=t.response_bytes,
            exception=None if t.error is None else RequestFailed(t.error),
            context=None,
        )


def attach(environment: Environment, plan: RequestPlan) -> ProcessState:
    # A Locust worker records histograms: they are what it ships to the master.
    histograms = getattr(environment, "triton_histograms", False)
    state = ProcessState(plan, Recorder(histogram=histograms), environment=environment)
    environment.triton = state  # type: ignore[attr-defined]
    return state


def process_state(environment: Environment) -> ProcessState:
    """The process's state, discovering the model on first use (a Locust worker learns the
    settings only from its options, so the first user to start builds the plan)."""
    state = getattr(environment, "triton", None)
    if state is not None:
        return state
    with _state_lock:
        state = getattr(environment, "triton", None)
        if state is None:
            settings, _ = from_locust_options(environment.parsed_options)
            state = attach(environment, RequestPlan.discover(settings))
    return state


class TritonUser(User):
    wait_time = constant(0)

    def on_start(self) -> None:
        state = process_state(self.environment)
        self._state = state
        self._loop: ThreadedLoop | None = None
        if state.plan.settings.client_io == "threads":
            client = state.plan.new_client()
            self._loop = ThreadedLoop(
                lambda: client.infer(state.plan.payload),
                client.close,
                state.recorder,
                state.events,
            )
            self._loop.start()
            return
        self._client = state.plan.new_client()
        self._payload = state.plan.payload
        self._record = state.recorder.record
        self._fire = state.fire

    def on_stop(self) -> None:
        if self._loop is not None:
            self._loop.stop()
        elif getattr(self, "_client", None) is not None:
            self._client.close()

    @task
    def infer(self) -> None:
        if self._loop is not None:
            gevent.sleep(IDLE_S)  # the request loop runs in its thread
            return
        t = self._client.infer(self._payload)
        self._record(t.start_ns, t.end_ns, t.send_ns, t.recv_ns, t.error is None)
        self._fire(t)
