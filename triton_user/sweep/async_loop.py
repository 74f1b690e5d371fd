"""--async: perf_analyzer's asynchronous contexts. N users keep N requests in flight from
T = min(N, --max-threads) OS threads. Each thread runs a gevent hub of its own (hubs are per
thread) and hosts its share of the users' loops as greenlets on cooperative sockets bound
to that hub; a user's request waits on its thread's event loop, not in a thread of its own.

Placement mirrors perf_analyzer's ConcurrencyManager::ReconfigThreads: a new thread while
there are fewer than --max-threads and every thread already holds a user, else the thread
with the fewest users; N users over T threads is N // T each, the first N % T one more.
Threads, as perf_analyzer's, live as long as the process and are reused by later levels;
they are ended at its exit, before the interpreter's shutdown."""

from __future__ import annotations

import atexit
import collections
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import gevent
from gevent import monkey
from locust.env import Environment

from triton_user.requests.plan import InferClient, RequestPlan
from triton_user.sweep.request_loop import name_this_thread
from triton_user.wire.sockets import HUB_IO

_start_thread = monkey.get_original("_thread", "start_new_thread")
_allocate_lock = monkey.get_original("_thread", "allocate_lock")
# What `top -H` and /proc/PID/task/*/comm show for the threads: at most 15 bytes.
THREAD_NAME = "tl-async-{}"
# How long the process's exit waits for each thread's loop to end.
CLOSE_S = 5.0


class HubThread:
    """One OS thread running a gevent hub of its own, for as long as the process lives.
    `spawn` is called from Locust's thread: the body is handed over through a deque and a
    libev async watcher, the one thing another thread may poke a loop with."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.users = 0  # placed here and not yet stopped (kept by HubThreads, Locust's thread)
        self._inbox: collections.deque[Callable[[], None]] = collections.deque()
        self._wake: object | None = None
        self._failed: BaseException | None = None
        self._running = _allocate_lock()  # held while the thread runs
        self._running.acquire()
        ready = _allocate_lock()
        ready.acquire()
        _start_thread(self._run, (ready,))
        ready.acquire()  # the watcher exists: spawn may poke it (a few ms, once per thread)
        if self._failed is not None:
            raise RuntimeError(f"--async thread {index} did not start") from self._failed

    def spawn(self, body: Callable[[], None]) -> None:
        """Run `body` as a greenlet on this thread's hub."""
        self._inbox.append(body)
        self._wake.send()  # type: ignore[attr-defined]

    def close(self, timeout_s: float = CLOSE_S) -> None:
        """End this thread's loop and the thread. Called at the process's exit: a hub
        thread still running while the interpreter shuts down crashes it (SIGSEGV)."""
        if self._wake is not None and self._running.locked():
            self.spawn(lambda: gevent.get_hub().loop.break_())
            self._running.acquire(True, timeout_s)

    def _run(self, ready: Any) -> None:
        try:
            try:
                name_this_thread(THREAD_NAME.format(self.index))
                hub = gevent.get_hub()  # this thread's own: created here, on first use
                self._wake = hub.loop.async_()
                self._wake.start(self._take_inbox)  # type: ignore[attr-defined]
            except BaseException as exc:  # said by the thread that waits for this one
                self._failed = exc
                return
            finally:
                ready.release()
            hub.join()  # the loop runs while the watcher is started: until close()
            hub.destroy(destroy_loop=True)
        finally:
            self._running.release()

    def _take_inbox(self) -> None:
        inbox = self._inbox
        while inbox:
            gevent.spawn(inbox.popleft())


class HubThreads:
    """The process's --async threads, at most `max_threads`, and the users on each."""

    def __init__(self, max_threads: int) -> None:
        self.max_threads = max_threads
        self.threads: list[HubThread] = []

    def place(self) -> HubThread:
        """The thread for one more user, counted there until `leave`."""
        idle = [t for t in self.threads if t.users == 0]
        if idle:
            thread = idle[0]
        elif len(self.threads) < self.max_threads:
            thread = HubThread(len(self.threads))
            self.threads.append(thread)
        else:
            thread = min(self.threads, key=lambda t: t.users)
        thread.users += 1
        return thread

    def leave(self, thread: HubThread) -> None:
        thread.users -= 1

    def close(self) -> None:
        for thread in self.threads:
            thread.close()


def hub_threads(environment: Environment, max_threads: int) -> HubThreads:
    """The process's HubThreads, made on first use (users start one at a time, on Locust's
    own thread: no lock needed)."""
    threads: HubThreads | None = getattr(environment, "triton_hub_threads", None)
    if threads is None:
        threads = HubThreads(max_threads)
        environment.triton_hub_threads = threads  # type: ignore[attr-defined]
        atexit.register(threads.close)
    return threads


def hub_client(plan: RequestPlan) -> InferClient:
    """A connection for a user on a HubThread: gevent's socket, made (lazily, on its first
    request) on the hub of the thread that sends on it."""
    return replace(plan, settings=replace(plan.settings, client_io=HUB_IO)).new_client()
