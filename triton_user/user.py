"""TritonUser: a Locust user that keeps exactly one Triton inference request in flight.

A fixed number of these users is perf_analyzer's concurrency: closed loop, no wait time,
the next request leaves as soon as the previous response is read."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import gevent.lock
from locust import User, constant, task
from locust.env import Environment

from triton_user.recorder import Recorder
from triton_user.request_plan import RequestPlan

log = logging.getLogger(__name__)
_state_lock = gevent.lock.BoundedSemaphore()


class RequestFailed(Exception):
    """What Locust's statistics and UI show for a failed request."""


@dataclass
class ProcessState:
    """Shared by all users of one process: the encoded request and the recorder."""

    plan: RequestPlan
    recorder: Recorder


def attach(environment: Environment, plan: RequestPlan) -> ProcessState:
    # A Locust worker records histograms: they are what it ships to the master.
    state = ProcessState(plan, Recorder(histogram=getattr(environment, "triton_histograms", False)))
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
            from triton_locust.flags import from_locust_options

            settings, _ = from_locust_options(environment.parsed_options)
            state = attach(environment, RequestPlan.discover(settings))
    return state


class TritonUser(User):
    wait_time = constant(0)

    def on_start(self) -> None:
        state = process_state(self.environment)
        self._payload = state.plan.payload
        self._client = state.plan.new_client()
        self._record = state.recorder.record
        self._fire = self.environment.events.request.fire
        self._request_type = state.plan.request_type
        self._name = state.plan.settings.model

    def on_stop(self) -> None:
        client = getattr(self, "_client", None)
        if client is not None:
            client.close()

    @task
    def infer(self) -> None:
        t = self._client.infer(self._payload)
        ok = t.error is None
        self._record(t.start_ns, t.end_ns, t.send_ns, t.recv_ns, ok)
        self._fire(
            request_type=self._request_type,
            name=self._name,
            response_time=(t.end_ns - t.start_ns) / 1e6,
            response_length=t.response_bytes,
            exception=None if ok else RequestFailed(t.error),
            context=None,
        )
