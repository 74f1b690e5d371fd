"""Request-rate mode across Locust workers: the master deals each level's one schedule out
in turns (worker k of n sends slots k, k+n, ...), the windows start once every worker has
its share, a worker that joins or leaves gets the level dealt and measured again, and the
rate figures (late requests, lateness, latency from the slot, requests sent) merge across
workers. Then against the real server: two workers' rates add up to the level's."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import gevent
import msgpack
import numpy as np
import pytest
from locust.event import EventHook

from analysis.distribution import LatencyHistogram
from analysis.pacer import ConstantPacer, PoissonPacer, RateShare
from analysis.records import Records
from analysis.settings import RateSettings, SweepSettings
from analysis.window import WindowSample, from_sample
from tests.helpers import REPO, expected_exit, load_levels, profile, wait_for_window
from tests.test_distributed import assert_counts_close_to_server, child_pids
from tests.test_window_channel import FakeMaster
from triton_locust.server import free_ports
from triton_user.sweep.locust_sweep import PreflightError, check_rate_workers, users_in_place
from triton_user.sweep.process_state import attach
from triton_user.sweep.window_channel import (
    RATE,
    RATE_TAKEN,
    MasterSamples,
    WorkerCuts,
    sample_from_wire,
    sample_to_wire,
)

MS = 1_000_000


# The master's side, over a stand-in for Locust's MasterRunner ---------------------------------
class DealingMaster(FakeMaster):
    """FakeMaster whose workers also take their share of the rate when it is dealt (after
    `delay_s`), unless `silent`."""

    def __init__(self, *worker_ids: str) -> None:
        super().__init__(*worker_ids)
        self.delay_s = 0.0

    def send_message(self, name: str, data: Any = None, client_id: str | None = None) -> None:
        super().send_message(name, data, client_id)
        if name == RATE and client_id is not None and client_id not in self.silent:
            taken = SimpleNamespace(data={"deal": data["deal"]}, node_id=client_id)
            gevent.spawn_later(self.delay_s, self.handlers[RATE_TAKEN], msg=taken)

    def shares(self) -> dict[str, RateShare]:
        """The share each worker was dealt last, as it reads it off the wire."""
        dealt = [(c, d) for name, d, c in self.sent if name == RATE and c is not None]
        return {c: RateShare.from_wire(msgpack.unpackb(msgpack.packb(d))) for c, d in dealt}


def dealing_master(*worker_ids: str, timeout_s: float = 2.0) -> tuple[MasterSamples, Any]:
    runner = DealingMaster(*worker_ids)
    stats = SimpleNamespace(total=SimpleNamespace(num_requests=0, num_failures=0))
    environment = SimpleNamespace(runner=runner, stats=stats)
    return MasterSamples(environment, reply_timeout_s=timeout_s), runner  # type: ignore[arg-type]


def test_each_worker_is_dealt_its_turns_of_the_one_schedule():
    samples, runner = dealing_master("w3", "w1", "w2")
    assert samples.deal_rate(RateShare(300.0, "poisson", seed=5)) == 3
    shares = runner.shares()
    assert [(c, s.index, s.count) for c, s in sorted(shares.items())] == [
        ("w1", 0, 3),
        ("w2", 1, 3),
        ("w3", 2, 3),
    ]
    whole = PoissonPacer(300.0, seed=5)
    union = sorted(s.pacer().due_ns(j) for s in shares.values() for j in range(500))
    assert union == [whole.due_ns(i) for i in range(1500)]  # the single process's schedule


def test_the_windows_start_only_once_every_worker_has_taken_its_share():
    samples, runner = dealing_master("w1", "w2")
    runner.delay_s = 0.3  # a worker busy with Locust's spawn message
    started = gevent.get_hub().loop.now()
    samples.deal_rate(RateShare(100.0))
    assert gevent.get_hub().loop.now() - started >= 0.29


def test_a_worker_that_never_takes_its_share_is_waited_for_no_longer_and_counts_missing(caplog):
    samples, runner = dealing_master("w1", "w2", timeout_s=0.1)
    runner.silent.add("w2")
    with caplog.at_level(logging.WARNING):
        assert samples.deal_rate(RateShare(100.0)) == 2
    assert caplog.messages == ["workers w2 did not take their share of the rate"]
    samples.discard()
    samples.end_window()
    assert samples.cut(0, 100 * MS).missing_workers == 1  # its share went unsent


def test_a_worker_that_joins_after_the_deal_counts_as_joined_until_dealt_again():
    samples, runner = dealing_master("w1")
    samples.deal_rate(RateShare(100.0))
    samples.discard()
    runner.connect("w2")  # Locust hands it users, but it has no share: they send nothing
    for _ in range(2):  # every window while the split stands, not only the first
        samples.end_window()
        assert samples.cut(0, 100 * MS).joined_workers == 1
    samples.deal_rate(RateShare(100.0))  # the driver starts the level again
    samples.discard()
    samples.end_window()
    window = samples.cut(100 * MS, 200 * MS)
    assert (window.joined_workers, window.missing_workers) == (0, 0)
    assert {c: (s.index, s.count) for c, s in runner.shares().items()} == {
        "w1": (0, 2),
        "w2": (1, 2),
    }


def test_a_worker_gone_between_the_deal_and_the_discard_is_counted_lost():
    samples, runner = dealing_master("w1", "w2")
    samples.deal_rate(RateShare(100.0))
    del runner.clients["w2"]  # its share of the slots goes unsent
    samples.discard()
    samples.end_window()
    assert samples.cut(0, 100 * MS).missing_workers == 1


def test_the_end_of_the_sweep_pauses_every_worker():
    samples, runner = dealing_master("w1", "w2")
    samples.deal_rate(RateShare(100.0))
    samples.deal_rate(None)
    assert runner.sent[-1] == (RATE, {"rate": None, "deal": 2}, None)  # to all at once
    samples.discard()
    runner.connect("w3")
    samples.end_window()
    assert samples.cut(0, 100 * MS).joined_workers == 1  # concurrency mode's rule again


# The rate figures through the channel --------------------------------------------------------
def paced_rows(count: int, late_every: int, first_ms: int) -> list[tuple]:
    """A worker's paced requests: one a ms from first_ms, each `late_every`-th sent 3 ms
    after its slot, latencies growing."""
    rows = []
    for i in range(count):
        slot = (first_ms + i) * MS
        start = slot + (3 * MS if i % late_every == 0 else 200_000)
        rows.append((start, start + (400 + 3 * i) * 1000, 5_000, 7_000, True, slot))
    return rows


def test_late_counts_lateness_and_latency_from_the_slot_merge_across_workers():
    a_rows, b_rows = paced_rows(400, 7, 0), paced_rows(300, 5, 1000)
    carried = []
    for rows in (a_rows, b_rows):
        sample = WindowSample.from_records(Records.from_rows(rows), histogram=True, paced=True)
        sample = replace(sample, sent_count=len(rows))
        carried.append(sample_from_wire(msgpack.unpackb(msgpack.packb(sample_to_wire(sample)))))
    merged = from_sample(WindowSample.merge(carried), 0, 2000 * MS, 1, 99)
    # One process that had recorded both workers' requests, in the histograms workers ship.
    single = WindowSample.from_records(
        Records.from_rows(a_rows + b_rows), histogram=True, paced=True
    )
    expected = from_sample(replace(single, sent_count=700), 0, 2000 * MS, 1, 99)
    assert merged.to_dict() == expected.to_dict()
    assert merged.late_count == len(range(0, 400, 7)) + len(range(0, 300, 5))
    assert merged.sent_count == 700 and merged.send_rate == pytest.approx(350.0)
    assert merged.late_p50_ns == LatencyHistogram.of(np.array([3 * MS])).percentile_ns(50)
    assert merged.scheduled_percentiles_ns[99] > merged.percentiles_ns[99]


def test_a_concurrency_window_carries_no_rate_figures():
    sample = WindowSample.from_records(Records.from_rows(paced_rows(10, 3, 0)), histogram=True)
    carried = sample_from_wire(sample_to_wire(sample))
    assert carried.scheduled is None and carried.lateness is None and carried.sent_count == 0


# The worker's side ---------------------------------------------------------------------------
class FakeWorker:
    """What WorkerCuts uses of Locust's WorkerRunner: its handlers, what it sends."""

    def __init__(self) -> None:
        self.handlers: dict[str, Any] = {}
        self.sent: list[tuple[str, Any]] = []
        self.greenlet = SimpleNamespace(spawn=lambda *_: None)  # no master to watch here

    def register_message(self, name: str, handler: Any) -> None:
        self.handlers[name] = handler

    def send_message(self, name: str, data: Any = None) -> None:
        self.sent.append((name, data))

    def hear(self, name: str, data: Any) -> None:
        self.handlers[name](environment=None, msg=SimpleNamespace(data=data))


def rate_plan() -> Any:
    settings = SweepSettings(model="identity_fp32", rate=RateSettings(start=100.0))
    return SimpleNamespace(settings=settings, request_type="HTTP")


def worker_environment() -> Any:
    return SimpleNamespace(runner=FakeWorker(), events=SimpleNamespace(test_start=EventHook()))


def test_a_worker_follows_its_share_and_says_it_took_it():
    environment = worker_environment()
    WorkerCuts(environment)
    state = attach(environment, rate_plan())
    share = RateShare(400.0).dealt(1, 2)
    environment.runner.hear(RATE, {**share.to_wire(), "deal": 7})
    assert environment.runner.sent[-1] == (RATE_TAKEN, {"deal": 7})
    assert state.request_name == "identity_fp32 rate=400"  # Locust's row: the level's rate
    _, due = state.gate.take()
    _, since = environment.triton_rate
    assert due == since + ConstantPacer(400.0).due_ns(1)  # its first turn: the second slot
    environment.runner.hear(RATE, {"rate": None, "deal": 8})
    assert state.gate.take() is None
    assert environment.runner.sent[-1] == (RATE_TAKEN, {"deal": 7})  # a pause needs no answer


def test_a_share_that_comes_before_the_users_is_followed_from_when_it_came():
    environment = worker_environment()
    WorkerCuts(environment)
    environment.runner.hear(RATE, {**RateShare(10.0).to_wire(), "deal": 1})
    _, since = environment.triton_rate
    state = attach(environment, rate_plan())  # the first user, after the plan's discovery
    assert state.gate.take() == (1, since + 100 * MS)


def test_a_new_test_starts_without_the_last_sweep_s_share():
    environment = worker_environment()
    WorkerCuts(environment)
    state = attach(environment, rate_plan())
    environment.runner.hear(RATE, {**RateShare(10.0).to_wire(), "deal": 1})
    environment.events.test_start.fire(environment=environment)
    assert state.gate.take() is None and environment.triton_rate[0] is None


def test_a_share_the_worker_cannot_follow_pauses_it_with_one_line(caplog):
    environment = worker_environment()
    WorkerCuts(environment)
    state = attach(environment, rate_plan())
    with caplog.at_level(logging.ERROR):
        environment.runner.hear(RATE, {"rate": 10.0, "distribution": "uniform", "deal": 1})
    assert state.gate.take() is None
    assert len(caplog.messages) == 1 and "cannot follow" in caplog.messages[0]


# Users: every worker needs one ---------------------------------------------------------------
def test_more_workers_than_max_threads_is_refused_in_one_line():
    settings = SweepSettings(model="m", rate=RateSettings(start=10.0, max_threads=2))
    check_rate_workers(settings, 2)
    with pytest.raises(PreflightError) as refused:
        check_rate_workers(settings, 3)
    assert "--max-threads 2" in str(refused.value) and "\n" not in str(refused.value)
    check_rate_workers(replace(settings, rate=RateSettings()), 3)  # concurrency mode: any


def test_the_refusal_comes_before_any_request_from_the_command_line():
    run = profile(
        "-m", "identity_fp32", "-u", "localhost:1", "--request-rate-range", "10",
        "--processes", "3", "--max-threads", "2",
    )  # fmt: skip
    assert run.returncode == 2
    assert run.stderr.strip().count("\n") == 0 and "--max-threads 2" in run.stderr


def test_a_level_with_its_users_in_place_sends_no_spawn_message():
    def node(name: str, users: int) -> Any:
        return SimpleNamespace(id=name, user_count=users)

    class Clients(dict):
        missing: list[Any] = []

    runner = SimpleNamespace(target_user_count=4, user_count=4, clients=Clients())
    runner.clients.update(w1=node("w1", 2), w2=node("w2", 2))
    assert users_in_place(runner, 4)
    assert not users_in_place(runner, 5)
    runner.clients["w3"] = node("w3", 0)  # joined: Locust has not handed it users yet
    assert not users_in_place(runner, 4)
    assert users_in_place(SimpleNamespace(target_user_count=4, user_count=4), 4)  # one process


# Against the real server ----------------------------------------------------------------------
def level_rates(level: dict) -> tuple[float, float]:
    """The rate a level's requests were answered and sent at, summed over the workers, over
    all its windows: on a loaded machine a stalled worker's late slots leave in a burst,
    which can land in the last windows (those merged) but not outside the level."""
    windows = level["windows"]
    seconds = sum(w["duration_ns"] for w in windows) / 1e9
    return (
        sum(w["request_count"] for w in windows) / seconds,
        sum(w["sent_count"] for w in windows) / seconds,
    )


def assert_rate_held(levels: list[dict]) -> None:
    """Each level's rate, summed over the workers, within 2% of the level's; and counted
    as the server counts it."""
    for level in levels:
        merged = level["merged"]
        answered, sent = level_rates(level)
        assert answered == pytest.approx(level["request_rate"], rel=0.02), level
        assert sent == pytest.approx(level["request_rate"], rel=0.02), level
        assert (merged["missing_workers"], merged["joined_workers"]) == (0, 0)
        assert merged["late_count"] <= merged["request_count"]
    assert_counts_close_to_server(levels)


@pytest.mark.server
def test_two_worker_processes_send_the_rate_between_them(triton_server, tmp_path):
    out_json, out_csv = tmp_path / "r.json", tmp_path / "r.csv"
    run = profile(
        "-m", "identity_fp32", "-u", triton_server.http_url, "--request-rate-range", "150:300:150",
        "-p", "1000", "-r", "6", "--processes", "2", "--max-threads", "6",
        "--json", str(out_json), "-f", str(out_csv),
    )  # fmt: skip
    assert run.returncode in (0, 1), run.stderr[-3000:]
    levels = load_levels(out_json)
    assert run.returncode == expected_exit(levels)
    assert [lvl["request_rate"] for lvl in levels] == [150.0, 300.0]
    assert [lvl["concurrency"] for lvl in levels] == [6, 6]  # --max-threads, over both workers
    assert_rate_held(levels)
    assert "Request Rate: 300 inference requests per seconds" in run.stdout


@pytest.mark.server
def test_the_plain_locust_way_master_deals_the_rate_to_its_workers(triton_server, tmp_path):
    out_json = tmp_path / "m.json"
    port = free_ports(1)[0]
    locust = [sys.executable, "-m", "locust", "-f", "locustfiles/triton_sweep.py"]
    worker = [*locust, "--worker", "--master-port", str(port), "--loglevel", "WARNING"]
    workers = [subprocess.Popen(worker, cwd=REPO) for _ in range(2)]
    try:
        master = subprocess.run(
            [
                *locust, "--headless", "--master", "--expect-workers", "2",
                "--master-bind-port", str(port), "--model", "identity_fp32",
                "--triton-url", triton_server.http_url, "--request-rate-range", "250",
                "--max-threads", "4", "--measurement-interval", "1000", "--max-trials", "6",
                "--results-json", str(out_json),
            ],
            capture_output=True, text=True, timeout=300, cwd=REPO,
        )  # fmt: skip
        for w in workers:
            w.wait(timeout=30)  # the master's quit ends its workers
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
    levels = load_levels(out_json)
    assert master.returncode == expected_exit(levels), master.stderr[-3000:]
    assert [lvl["request_rate"] for lvl in levels] == [250.0]
    assert_rate_held(levels)


@pytest.mark.server
def test_a_worker_lost_mid_level_leaves_the_whole_rate_to_the_other(triton_server, tmp_path):
    out_json = tmp_path / "lost.json"
    command = [sys.executable, "-m", "triton_locust.cli", "profile", "-m", "identity_fp32"]
    command += ["-u", triton_server.http_url, "--request-rate-range", "200", "-p", "1000"]
    command += ["-r", "8", "-v", "--json", str(out_json), "--processes", "2"]
    run = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO
    )
    try:
        wait_for_window(run, 2)  # mid-level: the third window is under way
        os.kill(child_pids(run.pid)[0], signal.SIGKILL)
        _, err = run.communicate(timeout=240)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode in (0, 1), err[-3000:]
    [level] = load_levels(out_json)
    assert level["remeasured"] >= 1
    # Dealt again to the one left: it sends the whole rate, its windows complete.
    assert level_rates(level)[0] == pytest.approx(200.0, rel=0.02), level
    assert (level["merged"]["missing_workers"], level["merged"]["joined_workers"]) == (0, 0)
