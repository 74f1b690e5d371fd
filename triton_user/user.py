"""TritonUser: a Locust user that keeps exactly one Triton inference request in flight.

A fixed number of these users is perf_analyzer's concurrency: closed loop, no wait time,
the next request leaves as soon as the previous response is read. Each user waits on the
network either in an OS thread of its own (`--client-io threads`, the default: blocking
I/O as perf_analyzer's threads do, cheapest per request) or cooperatively on gevent
(`--client-io gevent`: thousands of users in one process)."""

from __future__ import annotations

import logging

import gevent
import gevent.lock
from locust import User, constant, task
from locust.env import Environment

from triton_user.options import from_locust_options
from triton_user.requests.plan import RequestPlan
from triton_user.sweep.pacing import PacedLoop, wait_for
from triton_user.sweep.process_state import ProcessState, attach
from triton_user.sweep.request_loop import ThreadedLoop

log = logging.getLogger(__name__)
_state_lock = gevent.lock.BoundedSemaphore()
# A threaded user's greenlet only waits for Locust to stop it.
IDLE_S = 1.0


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
        self._loop: ThreadedLoop | PacedLoop | None = None
        self._paced = state.plan.settings.rate_mode
        if state.plan.settings.client_io == "threads" and self._paced:
            client = state.plan.new_client()
            state.events.start()
            self._loop = PacedLoop(
                lambda: client.infer(state.plan.payload),
                client.close,
                state.gate,
                state.recorder,
                state.events.add,
            )
            self._loop.start()
            return
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
        if self._paced:
            self._infer_at_slot()
            return
        t = self._client.infer(self._payload)
        self._record(t.start_ns, t.end_ns, t.send_ns, t.recv_ns, t.error is None)
        self._fire(t)

    def _infer_at_slot(self) -> None:
        """Request-rate mode on gevent: the next slot, then the request (pacing.py)."""
        state = self._state
        slot = state.gate.take()
        if slot is None:
            gevent.sleep(0.01)
            return
        generation, due = slot
        if not wait_for(state.gate, generation, due, gevent.sleep):
            return
        state.recorder.count_sent()
        t = self._client.infer(self._payload)
        state.recorder.record_paced(
            t.start_ns, t.end_ns, t.send_ns, t.recv_ns, t.error is None, due
        )
        self._fire(t)
