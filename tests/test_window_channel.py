"""Windows across a master and its workers, without Locust's sockets: a worker's window
survives the message channel with every figure, and the master counts the workers that
did not answer or joined mid-window."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import msgpack
import pytest

from analysis import distribution
from analysis.records import Records
from analysis.window import WindowSample, from_sample
from triton_user.sweep.window_channel import (
    CUT,
    WINDOW,
    MasterSamples,
    sample_from_wire,
    sample_to_wire,
)

MS = 1_000_000


def worker_sample(count: int, latency_us: int = 500, errors: int = 0) -> WindowSample:
    """A worker's window: `count` requests (the last `errors` failed), latencies spread
    from latency_us up, in the histogram a worker ships."""
    rows = []
    for i in range(count):
        end = (i + 1) * MS
        rows.append((end - (latency_us + 7 * i) * 1000, end, 20_000 + i, 9_000, i < count - errors))
    return WindowSample.from_records(Records.from_rows(rows), histogram=True)


@pytest.mark.parametrize("histogram", [True, False], ids=["worker-histogram", "exact"])
def test_a_window_survives_the_channel_with_every_figure(histogram):
    rows = [
        ((i + 1) * MS - (300 + 11 * i) * 1000, (i + 1) * MS, 1000 + i, 500, i % 9 != 0)
        for i in range(1000)
    ]
    sample = WindowSample.from_records(Records.from_rows(rows), histogram=histogram)
    sample = replace(sample, client_busy=0.37, client_lag_ms=0.8)
    # Locust's channel carries msgpack: plain lists and numbers only.
    carried = sample_from_wire(msgpack.unpackb(msgpack.packb(sample_to_wire(sample))))
    # An exact window travels as the histogram a worker would have made of it.
    sent = sample if histogram else _as_histogram(sample)
    before = from_sample(sent, 0, 1000 * MS, 1, 95).to_dict()
    after = from_sample(carried, 0, 1000 * MS, 1, 95).to_dict()
    assert after == before
    assert after["request_count"] == 888 and after["error_count"] == 112
    assert (after["client_busy"], after["client_lag_ms"]) == (0.37, 0.8)


def _as_histogram(sample: WindowSample) -> WindowSample:
    hist = distribution.LatencyHistogram.of(sample.latencies.sorted_ns)  # type: ignore[union-attr]
    return replace(sample, latencies=hist)


# The master's side, over a stand-in for the part of Locust's MasterRunner it uses --------
class Clients(dict):
    """Locust's WorkerNodes: id -> node, and the nodes whose heartbeats stopped."""

    @property
    def missing(self) -> list[Any]:
        return [node for node in self.values() if node.missing]


class FakeMaster:
    """Registers handlers and captures what is sent; each connected worker that is not
    `silent` answers a cut at once with its next sample."""

    def __init__(self, *worker_ids: str) -> None:
        self.handlers: dict[str, Any] = {}
        self.sent: list[tuple[str, Any, str | None]] = []
        self.clients = Clients()
        self.silent: set[str] = set()
        self.samples: dict[str, WindowSample] = {}
        for worker in worker_ids:
            self.connect(worker)

    def connect(self, worker: str, sample: WindowSample | None = None) -> None:
        self.clients[worker] = SimpleNamespace(id=worker, missing=False)
        self.samples[worker] = sample or worker_sample(10)

    def register_message(self, name: str, handler: Any, concurrent: bool = False) -> None:
        self.handlers[name] = handler

    def send_message(self, name: str, data: Any = None, client_id: str | None = None) -> None:
        self.sent.append((name, data, client_id))
        if name != CUT:
            return
        for worker in list(self.clients):
            if worker in self.silent or self.clients[worker].missing:
                continue
            reply = {"id": data["id"], "wire_version": distribution.WIRE_VERSION}
            if not data["discard"]:
                reply["sample"] = sample_to_wire(self.samples[worker])
            self.handlers[WINDOW](msg=SimpleNamespace(data=reply, node_id=worker))


def master(*worker_ids: str) -> tuple[MasterSamples, FakeMaster]:
    runner = FakeMaster(*worker_ids)
    stats = SimpleNamespace(total=SimpleNamespace(num_requests=0, num_failures=0))
    environment = SimpleNamespace(runner=runner, stats=stats)
    return MasterSamples(environment, reply_timeout_s=0.05), runner  # type: ignore[arg-type]


def test_every_worker_s_window_is_merged_into_one():
    samples, runner = master("w1", "w2")
    runner.samples["w2"] = worker_sample(30, errors=3)
    samples.discard()
    samples.end_window()
    window = samples.cut(0, 100 * MS)
    assert window.latencies.count + window.error_count == 40
    assert window.error_count == 3
    assert (window.missing_workers, window.joined_workers) == (0, 0)
    cuts = [data for name, data, _ in runner.sent if name == CUT]
    assert [c["discard"] for c in cuts] == [True, False]
    assert len({c["id"] for c in cuts}) == 2  # each cut its own id


def test_a_worker_that_does_not_answer_is_counted_missing():
    samples, runner = master("w1", "w2")
    samples.discard()
    runner.silent.add("w2")
    samples.end_window()
    window = samples.cut(0, 100 * MS)
    assert window.missing_workers == 1
    assert window.latencies.count == 10  # w1's alone


def test_a_late_answer_to_an_earlier_cut_is_not_merged():
    samples, runner = master("w1")
    samples.discard()
    samples.end_window()
    first = samples.cut(0, 100 * MS)
    late = {"id": 1, "wire_version": distribution.WIRE_VERSION}
    late["sample"] = sample_to_wire(worker_sample(99))
    runner.handlers[WINDOW](msg=SimpleNamespace(data=late, node_id="w1"))
    samples.end_window()
    assert samples.cut(100 * MS, 200 * MS).latencies.count == first.latencies.count == 10


def test_a_worker_that_joins_mid_level_is_counted_in_the_next_window_only():
    samples, runner = master("w1")
    samples.discard()
    runner.connect("w2")  # Locust hands it users at once, mid-window
    samples.end_window()
    window = samples.cut(0, 100 * MS)
    assert (window.missing_workers, window.joined_workers) == (0, 1)
    assert window.latencies.count == 20
    samples.end_window()
    assert samples.cut(100 * MS, 200 * MS).joined_workers == 0


def test_a_worker_locust_already_counts_missing_is_not_waited_for():
    samples, runner = master("w1", "w2")
    runner.clients["w2"].missing = True
    samples.discard()
    samples.end_window()
    window = samples.cut(0, 100 * MS)
    assert window.latencies.count == 10 and window.missing_workers == 0


def test_a_worker_gone_before_the_cut_is_flagged_too():
    samples, runner = master("w1", "w2")
    samples.discard()
    runner.clients["w2"].missing = True  # its heartbeats stopped mid-window
    samples.end_window()
    assert samples.cut(0, 100 * MS).missing_workers == 1


def test_pending_counts_from_locust_s_statistics_since_the_last_cut():
    samples, runner = master("w1")
    total = samples.environment.stats.total
    total.num_requests, total.num_failures = 50, 5
    samples.discard()
    total.num_requests, total.num_failures = 80, 6
    assert samples.pending() == 31
    samples.end_window()
    samples.cut(0, 100 * MS)
    assert samples.pending() == 0
