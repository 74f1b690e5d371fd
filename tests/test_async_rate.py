"""--async in request-rate mode (and --streaming, which implies it): every request leaves at
its slot however many are in flight, as perf_analyzer's asynchronous rate workers send.
The flags' rules, the dispatcher's pool and its clock; then against the real server, where
a few threads hold a rate that as many synchronous users cannot."""

from __future__ import annotations

import statistics
import time

import gevent
import numpy as np
import pytest

from analysis.pacer import ConstantPacer
from analysis.settings import SweepSettings
from tests.helpers import expected_exit, load_levels, profile
from tests.test_flag_table import profile_args
from tests.test_profile_e2e import assert_counts_match_server, url
from tests.test_rate_distributed import assert_rate_held
from triton_locust.pa_flags import from_pa_namespace
from triton_user.sweep.async_loop import HubThread
from triton_user.sweep.async_pacing import AsyncPacedLoop, HubSleep, SenderPool
from triton_user.sweep.pacing import RateGate
from triton_user.sweep.recorder import Recorder
from triton_user.sweep.request_loop import EventBuffer
from triton_user.wire.timing import Timing

MS = 1_000_000


def settings_of(*argv: str) -> SweepSettings:
    return from_pa_namespace(profile_args(["-m", "m", *argv]))[0]


# The flags --------------------------------------------------------------------------------
def test_async_and_streaming_are_taken_at_a_rate_with_perf_analyzers_threads():
    at_rate = settings_of("--async", "--request-rate-range", "100:200:100")
    assert (at_rate.calls, at_rate.rate.max_threads) == ("async", 4)  # its default there: 4
    two = settings_of("-a", "--request-rate-range", "100", "--max-threads", "2")
    assert two.rate.max_threads == 2
    streamed = settings_of("-i", "grpc", "--streaming", "--request-rate-range", "10")
    assert streamed.streaming and streamed.calls == "async" and streamed.rate.max_threads == 4
    assert SweepSettings.from_dict(streamed.to_dict()) == streamed


def test_an_intervals_file_takes_async_too(tmp_path):
    intervals = tmp_path / "intervals.txt"
    intervals.write_text("2000\n")
    settings = settings_of("--async", "--request-intervals", str(intervals))
    assert settings.calls == "async" and list(settings.rate.rates()) == [500.0]


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--async", "--sync", "--request-rate-range", "10"], "--async and --sync"),
        (["--streaming", "--request-rate-range", "10"], "only allowed with gRPC protocol"),
        (
            ["-i", "grpc", "--streaming", "--sync", "--request-rate-range", "10"],
            "can not use streaming with synchronous API",
        ),
    ],
)
def test_perf_analyzers_other_rules_stay(argv, words):
    with pytest.raises(ValueError, match=words):
        settings_of(*argv)


# The recorder: a streamed request keeps its slot ------------------------------------------
def test_a_paced_streamed_request_keeps_its_slot_and_its_responses():
    recorder = Recorder()
    recorder.paced = True
    recorder.record_paced(10 * MS, 30 * MS, 1, 1, True, 8 * MS, (12 * MS, 20 * MS, 30 * MS))
    recorder.record_paced(40 * MS, 41 * MS, 1, 1, False, 40 * MS)  # failed: no responses
    sample = recorder.cut(0, 100 * MS)
    assert (sample.latencies.count, sample.error_count, sample.response_count) == (1, 1, 3)
    assert sample.scheduled is not None and sample.scheduled.count == 1
    recorder.record_paced(10 * MS, 30 * MS, 1, 1, True, 8 * MS, (12 * MS, 30 * MS))
    records = recorder._take()
    assert records.paced and records.streamed
    assert records.lateness_ns.tolist() == [2 * MS]
    assert records.response_times[0].tolist() == [12 * MS, 30 * MS]


# The dispatcher ---------------------------------------------------------------------------
def test_the_hubs_sleep_wakes_on_time_not_to_the_millisecond():
    thread = HubThread(90)
    late: list[int] = []
    finished: list[bool] = []

    def body() -> None:
        sleep = HubSleep()
        for _ in range(40):
            due = time.monotonic_ns() + 2_300_000
            sleep((due - time.monotonic_ns()) / 1e9)
            late.append(time.monotonic_ns() - due)
        sleep.close()
        finished.append(True)

    thread.spawn(body)
    deadline = time.monotonic() + 10
    while not finished and time.monotonic() < deadline:
        time.sleep(0.01)
    thread.close()
    assert len(late) == 40 and min(late) >= 0
    # gevent's own timer wakes up to 1 ms late (a median near 0.7 ms for 2.3 ms sleeps).
    assert statistics.median(late) < 300_000, late


class SlowSenders:
    """Senders whose requests take `latency_s` on the hub; counts what was opened and closed."""

    def __init__(self, latency_s: float) -> None:
        self.latency_s = latency_s
        self.opened = self.closed = 0

    def new(self):
        self.opened += 1
        senders = self

        class Sender:
            def __call__(self) -> Timing:
                start = time.monotonic_ns()
                gevent.sleep(senders.latency_s)
                end = time.monotonic_ns()
                return Timing(start, end, 0, 0, 10)

            def close(self) -> None:
                senders.closed += 1

        return Sender()


def test_every_slot_leaves_on_time_however_many_are_in_flight():
    # 200/s, each request 40 ms: about 8 in flight, from one dispatcher on one thread.
    senders, gate, recorder = SlowSenders(0.040), RateGate(), Recorder()
    recorder.paced = True
    events = EventBuffer(lambda t: None)
    thread = HubThread(91)
    loop = AsyncPacedLoop(senders.new, gate, recorder, events, host=thread.spawn)
    loop.start()
    gate.start(ConstantPacer(200.0))
    time.sleep(1.0)
    gate.pause()
    time.sleep(0.2)  # the requests in flight end
    records = recorder._take()
    loop.stop()
    time.sleep(0.2)
    thread.close()
    assert 190 <= len(records) <= 202
    late = records.lateness_ns
    assert np.median(late) < 1 * MS and np.percentile(late, 90) < 3 * MS, late
    gaps = np.diff(np.sort(records.scheduled_ns))
    assert np.all(gaps == gaps[0])  # the slots themselves, one every 5 ms
    assert 7 <= senders.opened <= 20, senders.opened  # the pool grew to what overlapped
    assert senders.closed == senders.opened  # stopped: every client closed


def test_a_stopped_pool_closes_its_busy_senders_as_they_come_back():
    closed: list[int] = []

    class Sender:
        def __init__(self, n: int) -> None:
            self.n = n

        def close(self) -> None:
            closed.append(self.n)

    made = iter(range(10))
    pool = SenderPool(lambda: Sender(next(made)))
    first, second = pool.take(), pool.take()
    pool.give_back(first)
    assert pool.take() is first and pool.opened == 2
    pool.give_back(first)
    pool.close()
    assert closed == [0]
    pool.give_back(second)
    assert closed == [0, 1]


# Against the real server ------------------------------------------------------------------
@pytest.mark.server
def test_async_holds_a_rate_its_threads_could_not_hold_synchronously(triton_server, tmp_path):
    # sleep_5ms: 5 ms a request on 3 instances (about 540/s). Two synchronous users hold at
    # most ~2/5.5 ms = 360/s; two --async threads send 450/s, the server keeps up.
    common = (
        "-m", "sleep_5ms", "-u", triton_server.http_url, "--request-rate-range", "450",
        "--max-threads", "2", "-p", "2000", "-r", "4", "-s", "20",
    )  # fmt: skip
    runs = {}
    for calls in ("--async", "--sync"):
        out_json = tmp_path / f"{calls[2:]}.json"
        run = profile(*common, calls, "--json", str(out_json))
        assert run.returncode in (0, 1), run.stderr[-3000:]
        runs[calls] = load_levels(out_json)[0]
    asynchronous, synchronous = runs["--async"]["merged"], runs["--sync"]["merged"]
    assert asynchronous["throughput"] == pytest.approx(450, rel=0.03), asynchronous
    assert asynchronous["send_rate"] == pytest.approx(450, rel=0.03), asynchronous
    assert asynchronous["late_count"] < 0.05 * asynchronous["request_count"], asynchronous
    assert runs["--async"]["concurrency"] == 2  # the threads, as perf_analyzer's
    assert synchronous["send_rate"] < 0.9 * 450, synchronous
    assert synchronous["late_count"] > synchronous["request_count"] // 2, synchronous
    assert_counts_match_server([runs["--async"]], protocol="http")


@pytest.mark.server
def test_streaming_at_a_rate_times_every_response(triton_server, tmp_path):
    # decoupled_stream: 10 responses 2 ms apart a request, 3 instances (~150 requests/s).
    out_json = tmp_path / "s.json"
    run = profile(
        "-m", "decoupled_stream", "-u", url(triton_server, "grpc"), "-i", "grpc",
        "--streaming", "--request-rate-range", "40:80:40", "-p", "2000", "-r", "4", "-s", "20",
        "--json", str(out_json),
    )  # fmt: skip
    assert run.returncode in (0, 1), run.stderr[-3000:]
    levels = load_levels(out_json)
    assert run.returncode == expected_exit(levels)
    assert [lvl["request_rate"] for lvl in levels] == [40.0, 80.0]
    for level in levels:
        merged, rate = level["merged"], level["request_rate"]
        assert merged["throughput"] == pytest.approx(rate, rel=0.03), merged
        assert merged["response_throughput"] == pytest.approx(10 * rate, rel=0.03), merged
        assert merged["response_count"] == 10 * merged["request_count"]
        first, last = merged["first_response_percentiles_us"], merged["percentiles_us"]
        assert first["p50"] < last["p50"] / 3, (first, last)
        assert merged["late_count"] < 0.05 * merged["request_count"], merged
    assert "Response Throughput: " in run.stdout
    assert "Using asynchronous calls for inference" in run.stdout


@pytest.mark.server
def test_two_worker_processes_share_an_async_rate(triton_server, tmp_path):
    out_json = tmp_path / "d.json"
    run = profile(
        "-m", "identity_fp32", "-u", triton_server.http_url, "--request-rate-range", "300",
        "--async", "--processes", "2", "--max-threads", "4", "-p", "1000", "-r", "6",
        "--json", str(out_json),
    )  # fmt: skip
    assert run.returncode in (0, 1), run.stderr[-3000:]
    levels = load_levels(out_json)
    assert run.returncode == expected_exit(levels)
    assert_rate_held(levels)


@pytest.mark.server
def test_with_client_io_gevent_the_dispatchers_share_locusts_own_loop(triton_server, tmp_path):
    out_json = tmp_path / "g.json"
    run = profile(
        "-m", "sleep_5ms", "-u", triton_server.http_url, "--request-rate-range", "450",
        "--async", "--client-io", "gevent", "-p", "1000", "-r", "6", "-s", "20",
        "--json", str(out_json),
    )  # fmt: skip
    assert run.returncode in (0, 1), run.stderr[-3000:]
    merged = load_levels(out_json)[0]["merged"]
    assert merged["throughput"] == pytest.approx(450, rel=0.03), merged
    assert merged["late_count"] < 0.05 * merged["request_count"], merged
