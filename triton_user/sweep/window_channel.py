"""Windows across a Locust master and its workers, on Locust's own message channel.

The master decides every window's edges on its own clock and tells the workers to cut
("triton_cut"); each worker answers ("triton_window") with what it recorded since its
previous cut: a latency histogram, counts and sums, and how busy it was. Machines' clocks
never meet: a worker's window is the time between two cut messages as it received them,
so it lags the master's by one message delay (well under a millisecond on a LAN, against
windows of seconds). A discard, sent once a level's users all run, drops the ramp; it
carries the level's concurrency, which a worker names its requests after (Locust's
statistics get one row per level: triton_user/sweep/process_state.py).

A worker that does not answer in time is missing: the window comes back `incomplete`, and
the sweep measures the level again rather than under-count it.

In request-rate mode the master deals each level's schedule out at its start ("triton_rate"):
worker k of the n connected sends slots k, k+n, ... (analysis/pacer.py, StridedPacer), so the
workers' rates add up to the level's and their requests interleave. Each worker's schedule
starts when the message reaches it, so they interleave to within the spread of one message's
delay; each says so ("triton_rate_taken"), and the level's windows start (its discard) once
all have. A worker that joins or leaves mid-level holds a share that no longer fits: its
windows count as joined or lost, and the level is dealt again and measured again.

Both sides must read histograms the same way, so a worker says which wire version it speaks
("triton_hello") as soon as Locust has connected it; the master admits it ("triton_welcome")
or refuses it with one line naming both versions ("triton_refused", then Locust's "quit"), and
a reply in another version that still arrives is never merged. Locust's own "client_ready"
carries Locust's version only, and its handler has no hook that could turn a worker away."""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any

import gevent
import gevent.event
import zmq.green as zmq
from locust.env import Environment
from locust.runners import STATE_RUNNING, STATE_SPAWNING
from zmq.utils.monitor import recv_monitor_message

from analysis import distribution
from analysis.distribution import (
    ExactLatencies,
    LatencyHistogram,
    WireVersionError,
    check_wire_version,
)
from analysis.pacer import RateShare
from analysis.window import WindowSample

log = logging.getLogger(__name__)

CUT, WINDOW = "triton_cut", "triton_window"
HELLO, WELCOME, REFUSED = "triton_hello", "triton_welcome", "triton_refused"
RATE, RATE_TAKEN = "triton_rate", "triton_rate_taken"
# A worker answers a cut at once; this only bounds how long a lost one is waited for.
REPLY_TIMEOUT_S = 10.0
# A worker says hello the moment it is connected: one silent this long predates the
# handshake (its histograms are of another format), and a master silent this long too.
HELLO_TIMEOUT_S = 10.0
# A worker running users whose connection to the master stays down this long (a few of
# Locust's 1 s heartbeats) stops its load and quits: the master was killed or is gone.
MASTER_LOST_S = 3.0


def _histogram(dist: ExactLatencies | LatencyHistogram) -> LatencyHistogram:
    return dist if isinstance(dist, LatencyHistogram) else LatencyHistogram.of(dist.sorted_ns)


def sample_to_wire(sample: WindowSample) -> dict[str, Any]:
    latencies = _histogram(sample.latencies)
    wire = {
        "latencies": latencies.to_wire(),
        "error_count": sample.error_count,
        "send_total_ns": sample.send_total_ns,
        "recv_total_ns": sample.recv_total_ns,
        "client_busy": sample.client_busy,
        "client_lag_ms": sample.client_lag_ms,
        "requests": latencies.count + sample.error_count,
    }
    if sample.scheduled is not None and sample.lateness is not None:  # request-rate mode
        wire["scheduled"] = _histogram(sample.scheduled).to_wire()
        wire["lateness"] = _histogram(sample.lateness).to_wire()
        wire["sent_count"] = sample.sent_count
    if sample.first_responses is not None and sample.inter_responses is not None:  # --streaming
        wire["response_count"] = sample.response_count
        wire["first_responses"] = _histogram(sample.first_responses).to_wire()
        wire["inter_responses"] = _histogram(sample.inter_responses).to_wire()
    if sample.sequence_count is not None:  # a sequence model
        wire["sequence_count"] = sample.sequence_count
    return wire


def sample_from_wire(data: dict[str, Any]) -> WindowSample:
    rate_mode = "scheduled" in data
    return WindowSample(
        LatencyHistogram.from_wire(data["latencies"]),
        int(data["error_count"]),
        int(data["send_total_ns"]),
        int(data["recv_total_ns"]),
        data.get("client_busy"),
        data.get("client_lag_ms"),
        scheduled=LatencyHistogram.from_wire(data["scheduled"]) if rate_mode else None,
        lateness=LatencyHistogram.from_wire(data["lateness"]) if rate_mode else None,
        sent_count=int(data.get("sent_count", 0)),
        sequence_count=int(data["sequence_count"]) if "sequence_count" in data else None,
        **_stream_from_wire(data),
    )


def _stream_from_wire(data: dict[str, Any]) -> dict[str, Any]:
    """--streaming's figures of a worker's window: none when its requests did not stream."""
    if "first_responses" not in data:
        return {}
    return {
        "response_count": int(data["response_count"]),
        "first_responses": LatencyHistogram.from_wire(data["first_responses"]),
        "inter_responses": LatencyHistogram.from_wire(data["inter_responses"]),
    }


class WorkerCuts:
    """Worker side: say which wire version it speaks, then answer each cut with what this
    process recorded since the last one."""

    def __init__(
        self,
        environment: Environment,
        hello_timeout_s: float = HELLO_TIMEOUT_S,
        master_lost_s: float = MASTER_LOST_S,
    ) -> None:
        self.environment = environment
        self._since = time.monotonic_ns()
        self.welcomed = gevent.event.Event()
        runner = environment.runner
        assert runner is not None
        runner.register_message(CUT, self._on_cut)
        runner.register_message(WELCOME, lambda **_: self.welcomed.set())
        runner.register_message(REFUSED, self._on_refused)
        runner.register_message(RATE, self._on_rate)
        # A new test (a new sweep from the web UI) starts with no share until it is dealt.
        environment.events.test_start.add_listener(lambda **_: self._follow_rate(None))
        # Locust's worker runner is connected by now (it waited for the master's ack).
        runner.send_message(HELLO, {"wire_version": distribution.WIRE_VERSION})
        runner.greenlet.spawn(self._await_welcome, hello_timeout_s)
        runner.greenlet.spawn(self._watch_master, master_lost_s)

    def _await_welcome(self, timeout_s: float) -> None:
        if not self.welcomed.wait(timeout_s):
            self._quit(
                f"no answer from the master within {timeout_s:.0f} s to this worker's "
                f"histogram wire version {distribution.WIRE_VERSION}: the master's is none (a "
                "release before the handshake); quitting"
            )

    def _watch_master(self, lost_after_s: float) -> None:
        """Locust 2.18's worker never notices a dead master: its heartbeats go into ZeroMQ's
        queue, its master sends none, and it reconnects forever, its users still sending
        load. Watch the connection itself (ZeroMQ's socket monitor: the master's death
        closes its TCP connections); a master back within lost_after_s (one restarted on
        the same port) is forgiven."""
        runner: Any = self.environment.runner
        client, monitor, lost_since = None, None, None
        while True:
            if runner.client is not client:  # Locust's reset_connection makes a new one
                client, lost_since = runner.client, None
                monitor = client.socket.get_monitor_socket(
                    zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED
                )
            assert monitor is not None
            if monitor.poll(500):
                event = recv_monitor_message(monitor)["event"]
                if event == zmq.EVENT_DISCONNECTED and lost_since is None:
                    lost_since = time.monotonic()
                elif event == zmq.EVENT_CONNECTED:
                    lost_since = None
            if lost_since is None or time.monotonic() - lost_since < lost_after_s:
                continue
            if runner.state in (STATE_SPAWNING, STATE_RUNNING):
                self._quit(
                    f"lost the connection to the master {runner.master_host}:"
                    f"{runner.master_port} {lost_after_s:.0f} s ago while sending load: "
                    "stopping it and quitting"
                )
                return

    def _on_refused(self, msg: Any, **_: Any) -> None:
        self._quit(msg.data["line"])

    def _quit(self, line: str) -> None:
        log.error(line)
        self.environment.process_exit_code = 1
        self.environment.runner.quit()  # type: ignore[union-attr]

    def _on_rate(self, msg: Any, **_: Any) -> None:
        data = msg.data or {}
        try:
            share = RateShare.from_wire(data) if data.get("rate") is not None else None
        except (KeyError, TypeError, ValueError) as exc:
            # Not from a master of this release: nothing to pace by, so nothing is sent (the
            # master sees the level short of this worker's share).
            log.error("a request-rate share this worker cannot follow (%s): pausing", exc)
            share = None
        self._follow_rate(share)
        if share is not None:
            self.environment.runner.send_message(  # type: ignore[union-attr]
                RATE_TAKEN, {"deal": data.get("deal")}
            )

    def _follow_rate(self, share: RateShare | None) -> None:
        """This worker's share from now on; kept for the users that start after it. Its
        requests are named after the level's rate already (the discard names it too, just
        after): none sent meanwhile lands in another level's row of Locust's statistics."""
        since = time.monotonic_ns()
        self.environment.triton_rate = (share, since)  # type: ignore[attr-defined]
        if share is not None:
            self.environment.triton_level = share.rate  # type: ignore[attr-defined]
        state = getattr(self.environment, "triton", None)
        if state is not None:
            if share is not None:
                state.set_level(share.rate)
            state.follow_rate(share, since)

    def _on_cut(self, msg: Any, **_: Any) -> None:
        data = msg.data
        now = time.monotonic_ns()
        state = getattr(self.environment, "triton", None)
        reply: dict[str, Any] = {"id": data["id"], "wire_version": distribution.WIRE_VERSION}
        if data["discard"] and data.get("level") is not None:
            self.environment.triton_level = data["level"]  # type: ignore[attr-defined]
            if state is not None:
                state.set_level(data["level"])
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
        self._replies: dict[str, WindowSample | None] = {}  # None: nothing to merge
        self._rejected: set[str] = set()  # asked, answered in another wire version
        self._all_in = gevent.event.Event()
        self._pending_base = 0
        self._level: int | None = None
        self._dealt: set[str] | None = None  # request-rate mode: the workers holding a share
        self._deal = 0
        self._taken: set[str] = set()
        self._all_taken = gevent.event.Event()
        runner = environment.runner
        assert runner is not None
        runner.register_message(WINDOW, self._on_window)
        runner.register_message(RATE_TAKEN, self._on_rate_taken)

    def level_started(self, concurrency: int) -> None:
        """The sweep's event: the level its next discard names to the workers."""
        self._level = concurrency

    def connected(self) -> set[str]:
        """The workers a cut or a share goes to now."""
        return self._workers()

    def deal_rate(self, share: RateShare | None) -> int:
        """Request-rate mode: deal the level's schedule out to the workers connected now,
        each its turns, and wait until each has taken its own (None: they all pause).
        Returns how many workers it was dealt to."""
        runner: Any = self.environment.runner
        self._deal += 1
        if share is None:
            self._dealt = None
            runner.send_message(RATE, {"rate": None, "deal": self._deal})
            return 0
        workers = sorted(self._workers())  # one order, the same for every worker's index
        self._dealt, self._taken = set(workers), set()
        self._all_taken.clear()
        for index, worker in enumerate(workers):
            message = {**share.dealt(index, len(workers)).to_wire(), "deal": self._deal}
            runner.send_message(RATE, message, client_id=worker)
        # A worker busy with Locust's spawn message takes it up to 0.2 s late: the windows
        # must not start before its schedule does. One that does not take it counts as lost
        # at the window's cut, which measures the level again.
        if workers and not self._all_taken.wait(self.reply_timeout_s):
            log.warning(
                "workers %s did not take their share of the rate",
                ", ".join(sorted(self._dealt - self._taken)),
            )
        return len(workers)

    def _on_rate_taken(self, msg: Any, **_: Any) -> None:
        if self._dealt is None or (msg.data or {}).get("deal") != self._deal:
            return  # an answer to an earlier deal
        self._taken.add(msg.node_id)
        if self._dealt <= self._taken:
            self._all_taken.set()

    # The driver's SampleSource ---------------------------------------------------------
    def discard(self) -> None:
        """Tell the workers and go on without waiting for their answers: the driver reads
        its clock and polls the server right after, and the workers' windows must start as
        close to that poll as the server's does (waiting here started them a round trip
        early, counting requests the server's first window did not)."""
        self._send_cut(discard=True)
        self._pending_base = self._total_requests()
        self._before = self._expected  # a level's windows count joins and losses from here

    def end_window(self) -> None:
        self._send_cut(discard=False)

    def cut(self, start_ns: int, end_ns: int) -> WindowSample:
        replies, missing = self._collect()
        self._pending_base = self._total_requests()
        samples = [r for r in replies if r is not None]
        merged = WindowSample.merge(samples) if samples else WindowSample(LatencyHistogram.empty())
        if missing:
            log.warning("workers %s did not answer the window's cut", ", ".join(sorted(missing)))
        # Locust hands a worker that connects mid-level users at once, moving them mid-window;
        # one it dropped or marked missing since the last cut was not even asked, and its
        # requests are lost to the window all the same.
        joined = self._expected - self._before
        lost = self._before - self._expected
        if self._dealt is not None:
            # Request-rate mode: a worker without a share sends nothing from its users, and
            # the share of one gone (or never taken up) is sent by nobody, for as long as
            # the split stands.
            joined |= self._expected - self._dealt
            lost |= self._dealt - (self._expected & self._taken)
        if lost:
            log.warning("workers %s left during the window", ", ".join(sorted(lost)))
        self._before = self._expected
        return replace(merged, missing_workers=len(missing | lost), joined_workers=len(joined))

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
        self._rejected = set()
        self._all_in.clear()
        if self._expected:
            message: dict[str, Any] = {"id": self._next_id, "discard": discard}
            if discard:
                message["level"] = self._level
            self.environment.runner.send_message(CUT, message)  # type: ignore[union-attr]

    def _collect(self) -> tuple[list[WindowSample | None], set[str]]:
        """The answers to the last cut, and the workers that gave none in time."""
        if self._expected:
            self._all_in.wait(self.reply_timeout_s)
        return list(self._replies.values()), self._expected - set(self._replies)

    def _on_window(self, msg: Any, **_: Any) -> None:
        data = msg.data
        if data.get("id") != self._next_id or msg.node_id not in self._expected:
            return  # an answer to an earlier cut, arriving late, or from a worker not asked
        try:
            check_wire_version(data.get("wire_version"), f"the reply of worker {msg.node_id}")
            sample = sample_from_wire(data["sample"]) if "sample" in data else None
        except WireVersionError as exc:
            # Never merged: the worker is missing from this window, which is measured again.
            log.error("%s: not merged", exc)
            self._rejected.add(msg.node_id)
            gate = getattr(self.environment, "triton_gate", None)
            if gate is not None:
                gate.refuse(msg.node_id, data.get("wire_version"))
        else:
            self._replies[msg.node_id] = sample
        if self._expected <= set(self._replies) | self._rejected:
            self._all_in.set()

    def _total_requests(self) -> int:
        stats = self.environment.stats
        return stats.total.num_requests + stats.total.num_failures


class VersionGate:
    """Master side: admits a worker once it says it speaks this master's histogram wire
    version; refuses one that speaks another, or says nothing within HELLO_TIMEOUT_S (a
    release before the handshake), with one line naming both versions, and tells it to
    quit. One per master: `VersionGate.of(environment)`."""

    def __init__(self, environment: Environment, hello_timeout_s: float = HELLO_TIMEOUT_S) -> None:
        runner = environment.runner
        assert runner is not None
        self.runner: Any = runner
        self.hello_timeout_s = hello_timeout_s
        self.admitted: set[str] = set()
        self.refused: dict[str, str] = {}  # worker id: the line it was refused with
        self._first_seen: dict[str, float] = {}
        runner.register_message(HELLO, self._on_hello)
        runner.greenlet.spawn(self._watch)

    @classmethod
    def of(cls, environment: Environment) -> VersionGate:
        """The master's gate, made on first ask (`profile` and Locust's init event both ask)."""
        gate = getattr(environment, "triton_gate", None)
        if gate is None:
            gate = cls(environment)
            environment.triton_gate = gate  # type: ignore[attr-defined]
        return gate

    def admitted_count(self) -> int:
        """Connected workers that speak this master's version."""
        return len(self.admitted.intersection(self.runner.clients))

    def refuse(self, client_id: str, version: Any) -> None:
        """Log the one line, tell the worker, and forget it."""
        if client_id not in self.refused:
            theirs = "none" if version is None else version
            line = (
                f"refused worker {client_id}: its histogram wire version is {theirs}, "
                f"this master's is {distribution.WIRE_VERSION}"
            )
            log.error(line)
            self.refused[client_id] = line
            self.admitted.discard(client_id)
            self.runner.send_message(REFUSED, {"line": line}, client_id=client_id)
        # Locust's own quit as well: a worker from before the handshake ignores ours.
        self.runner.send_message("quit", None, client_id=client_id)
        self._drop(client_id)

    def _on_hello(self, msg: Any, **_: Any) -> None:
        version = (msg.data or {}).get("wire_version")
        if version != distribution.WIRE_VERSION:
            self.refuse(msg.node_id, version)
            return
        self.admitted.add(msg.node_id)
        self.runner.send_message(
            WELCOME, {"wire_version": distribution.WIRE_VERSION}, client_id=msg.node_id
        )

    def _watch(self) -> None:
        """Refuse the workers that stay silent (and any refused one that comes back)."""
        while True:
            now = time.monotonic()
            for client_id in list(self.runner.clients):
                if client_id in self.admitted:
                    continue
                first = self._first_seen.setdefault(client_id, now)
                if client_id in self.refused or now - first > self.hello_timeout_s:
                    self.refuse(client_id, None)
            gevent.sleep(min(0.5, self.hello_timeout_s / 4))

    def _drop(self, client_id: str) -> None:
        """What Locust's master does when a worker quits, short of ending a headless test
        that has no worker left: this master goes on waiting for workers of its version."""
        runner = self.runner
        node = runner.clients.get(client_id)
        if node is None:
            return
        del runner.clients[client_id]
        dispatcher = runner._users_dispatcher
        if dispatcher is not None:
            dispatcher.remove_worker(node)
            if not dispatcher.dispatch_in_progress and runner.state == STATE_RUNNING:
                runner.start(runner.target_user_count, runner.spawn_rate)
