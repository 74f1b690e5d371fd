"""Windows across a Locust master and its workers, on Locust's own message channel.

The master decides every window's edges on its own clock and tells the workers to cut
("triton_cut"); each worker answers ("triton_window") with what it recorded since its
previous cut: a latency histogram, counts and sums, and how busy it was. Machines' clocks
never meet: a worker's window is the time between two cut messages as it received them,
so it lags the master's by one message delay (well under a millisecond on a LAN, against
windows of seconds). A discard, sent once a level's users all run, drops the ramp.

A worker that does not answer in time is missing: the window comes back `incomplete`, and
the sweep measures the level again rather than under-count it."""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any

import gevent
import gevent.event
from locust.env import Environment

from analysis.distribution import LatencyHistogram
from analysis.window import WindowSample

log = logging.getLogger(__name__)

CUT, WINDOW = "triton_cut", "triton_window"
# A worker answers a cut at once; this only bounds how long a lost one is waited for.
REPLY_TIMEOUT_S = 10.0


def sample_to_wire(sample: WindowSample) -> dict[str, Any]:
    latencies = sample.latencies
    if not isinstance(latencies, LatencyHistogram):
        latencies = LatencyHistogram.of(latencies.sorted_ns)  # type: ignore[union-attr]
    return {
        "latencies": latencies.to_wire(),
        "error_count": sample.error_count,
        "send_total_ns": sample.send_total_ns,
        "recv_total_ns": sample.recv_total_ns,
        "client_busy": sample.client_busy,
        "client_lag_ms": sample.client_lag_ms,
        "requests": latencies.count + sample.error_count,
    }


def sample_from_wire(data: dict[str, Any]) -> WindowSample:
    return WindowSample(
        LatencyHistogram.from_wire(data["latencies"]),
        int(data["error_count"]),
        int(data["send_total_ns"]),
        int(data["recv_total_ns"]),
        data.get("client_busy"),
        data.get("client_lag_ms"),
    )


class WorkerCuts:
    """Worker side: answer each cut with what this process recorded since the last one."""

    def __init__(self, environment: Environment) -> None:
        self.environment = environment
        self._since = time.monotonic_ns()
        runner = environment.runner
        assert runner is not None
        runner.register_message(CUT, self._on_cut)

    def _on_cut(self, msg: Any, **_: Any) -> None:
        data = msg.data
        now = time.monotonic_ns()
        state = getattr(self.environment, "triton", None)
        reply: dict[str, Any] = {"id": data["id"]}
        if state is not None:
            if data["discard"]:
                state.recorder.discard()
            else:
                reply["sample"] = sample_to_wire(state.recorder.cut(self._since, now))
        self._since = now
        self.environment.runner.send_message(WINDOW, reply)  # type: ignore[union-attr]


class MasterSamples:
    """Master side: the driver's SampleSource, merging every worker's answer."""

    def __init__(self, environment: Environment, reply_timeout_s: float = REPLY_TIMEOUT_S) -> None:
        self.environment = environment
        self.reply_timeout_s = reply_timeout_s
        self._next_id = 0
        self._expected: set[str] = set()
        self._before: set[str] = set()  # the workers asked at the previous cut
        self._replies: dict[str, dict[str, Any]] = {}
        self._all_in = gevent.event.Event()
        self._pending_base = 0
        runner = environment.runner
        assert runner is not None
        runner.register_message(WINDOW, self._on_window)

    # The driver's SampleSource ---------------------------------------------------------
    def discard(self) -> None:
        self._send_cut(discard=True)
        self._collect()
        self._pending_base = self._total_requests()
        self._before = self._expected  # a level's windows count joins from here

    def end_window(self) -> None:
        self._send_cut(discard=False)

    def cut(self, start_ns: int, end_ns: int) -> WindowSample:
        replies, missing = self._collect()
        self._pending_base = self._total_requests()
        samples = [sample_from_wire(r["sample"]) for r in replies if "sample" in r]
        merged = WindowSample.merge(samples) if samples else WindowSample(LatencyHistogram.empty())
        if missing:
            log.warning("workers %s did not answer the window's cut", ", ".join(sorted(missing)))
        # Locust hands a worker that connects mid-level users at once, moving them mid-window.
        joined = self._expected - self._before
        self._before = self._expected
        return replace(merged, missing_workers=len(missing), joined_workers=len(joined))

    def pending(self) -> int:
        """Requests since the last cut, from Locust's own statistics (the workers report
        them every few seconds: good enough to end a count window)."""
        return self._total_requests() - self._pending_base

    # The channel -------------------------------------------------------------------------
    def _workers(self) -> set[str]:
        runner = self.environment.runner
        clients = getattr(runner, "clients", None)
        if clients is None:
            return set()
        missing = {c.id for c in clients.missing}
        return {c.id for c in clients.values()} - missing

    def _send_cut(self, discard: bool) -> None:
        self._next_id += 1
        self._expected = self._workers()
        self._replies = {}
        self._all_in.clear()
        if self._expected:
            self.environment.runner.send_message(  # type: ignore[union-attr]
                CUT, {"id": self._next_id, "discard": discard}
            )

    def _collect(self) -> tuple[list[dict[str, Any]], set[str]]:
        """The answers to the last cut, and the workers that gave none in time."""
        if self._expected:
            self._all_in.wait(self.reply_timeout_s)
        return list(self._replies.values()), self._expected - set(self._replies)

    def _on_window(self, msg: Any, **_: Any) -> None:
        data = msg.data
        if data.get("id") != self._next_id:
            return  # an answer to an earlier cut, arriving late
        self._replies[msg.node_id] = data
        if self._expected <= set(self._replies):
            self._all_in.set()

    def _total_requests(self) -> int:
        stats = self.environment.stats
        return stats.total.num_requests + stats.total.num_failures
