"""TritonUser: a Locust user that keeps exactly one Triton inference request in flight.

A fixed number of these users is perf_analyzer's concurrency: closed loop, no wait time,
the next request leaves as soon as the previous response is read. Each user waits on the
network either in an OS thread of its own (`--client-io threads`, the default: blocking
I/O as perf_analyzer's synchronous threads do, cheapest per request), or cooperatively on
gevent (`--client-io gevent`: thousands of users in one process), or, with `--async`, as a
greenlet on the event loop of one of at most --max-threads OS threads (perf_analyzer's
asynchronous contexts)."""

from __future__ import annotations

import logging
from typing import Any

import gevent
import gevent.lock
from locust import User, constant, task
from locust.env import Environment

from triton_user.options import from_locust_options
from triton_user.requests.plan import InferClient, RequestPlan
from triton_user.sweep.async_loop import HubThread, HubThreads, hub_client, hub_threads
from triton_user.sweep.async_pacing import AsyncPacedLoop
from triton_user.sweep.pacing import PacedLoop, record_at_slot, wait_for
from triton_user.sweep.process_state import ProcessState, attach
from triton_user.sweep.request_loop import ThreadedLoop, wait_closed

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
        self._triton = state  # not `_state`: Locust's User keeps its own there
        self._loop: ThreadedLoop | PacedLoop | AsyncPacedLoop | None = None
        self._placed: tuple[HubThreads, HubThread] | None = None  # --async: its thread
        self._paced = state.plan.settings.rate_mode
        if self._paced and state.plan.settings.calls == "async":
            self._start_async_paced(state)
            return
        if state.plan.settings.client_io == "threads" and self._paced:
            client = state.plan.new_client()
            send = state.plan.sender(client)
            state.events.start()
            self._loop = PacedLoop(
                send,
                send.close,
                state.gate,
                state.recorder,
                state.events.add,
            )
            self._loop.start()
            return
        if state.plan.settings.client_io == "threads" and state.plan.settings.calls == "async":
            self._start_on_hub_thread(state)
            return
        if state.plan.settings.client_io == "threads":
            self._start_loop(state, state.plan.new_client())
            return
        self._client = state.plan.new_client()
        self._send = state.plan.sender(self._client)
        self._record = state.recorder.record
        self._fire = state.fire

    def _start_on_hub_thread(self, state: ProcessState) -> None:
        """--async: this user's loop as a greenlet on one of the process's hub threads."""
        threads = hub_threads(self.environment, state.plan.settings.rate.max_threads)
        thread = threads.place()
        self._placed = threads, thread
        self._start_loop(state, hub_client(state.plan), host=thread.spawn)

    def _start_async_paced(self, state: ProcessState) -> None:
        """--async at a rate: this user's dispatcher (async_pacing.py) on one of the
        process's hub threads, or on Locust's own hub with --client-io gevent."""
        plan = state.plan
        if plan.settings.client_io == "threads":
            threads = hub_threads(self.environment, plan.settings.rate.max_threads)
            thread = threads.place()
            self._placed = threads, thread
            new_client, host = (lambda: hub_client(plan)), thread.spawn
        else:
            new_client, host = plan.new_client, gevent.spawn
        self._loop = AsyncPacedLoop(
            lambda: plan.sender(new_client()), state.gate, state.recorder, state.events, host
        )
        self._loop.start()

    def _start_loop(self, state: ProcessState, client: InferClient, **where: Any) -> None:
        """This user's closed loop on `client`: in an OS thread of its own, or (`host`) as
        a greenlet of a hub thread."""
        send = state.plan.sender(client)
        self._loop = ThreadedLoop(send, send.close, state.recorder, state.events, **where)
        self._loop.start()

    def on_stop(self) -> None:
        if self._loop is not None:
            self._loop.stop()
            if isinstance(self._loop, ThreadedLoop | PacedLoop):
                wait_closed(self._loop, gevent.sleep)
            if self._placed is not None:
                threads, thread = self._placed
                threads.leave(thread)
                self._placed = None
        elif getattr(self, "_send", None) is not None:
            self._send.close()

    @task
    def infer(self) -> None:
        if self._loop is not None:
            gevent.sleep(IDLE_S)  # the request loop runs in its thread
            return
        if self._paced:
            self._infer_at_slot()
            return
        t = self._send()
        ok = t.error is None
        self._record(t.start_ns, t.end_ns, t.send_ns, t.recv_ns, ok, t.responses_ns, t.sequence_end)
        self._fire(t)

    def _infer_at_slot(self) -> None:
        """Request-rate mode on gevent: the next slot, then the request (pacing.py)."""
        state = self._triton
        slot = state.gate.take()
        if slot is None:
            gevent.sleep(0.01)
            return
        generation, due = slot
        if not wait_for(state.gate, generation, due, gevent.sleep):
            return
        state.recorder.count_sent()
        t = self._send()
        record_at_slot(state.recorder, t, due)
        self._fire(t)
