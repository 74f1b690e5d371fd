"""--async, -a and --sync (perf_analyzer's switches) and --max-threads in concurrency mode:
their defaults and rules as perf_analyzer's; N users' requests in flight from
min(N, --max-threads) OS threads, each with a gevent hub of its own; and against the real
server, 8 requests in flight from 2 sending threads, counted as the server counts them."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import gevent
import pytest
from gevent import monkey

from analysis.console import settings_block
from analysis.settings import SweepSettings
from analysis.stabiliser import StabilityRule, Verdict, assess
from tests.helpers import REPO, profile
from tests.synthetic import window
from tests.test_flag_table import (
    NON_DEFAULT_ARGV,
    SYNC_ARGV,
    profile_args,
    what_a_worker_builds,
)
from tests.test_profile_e2e import assert_counts_match_server, url
from triton_locust.pa_flags import from_pa_namespace
from triton_user.options import locust_namespace
from triton_user.sweep.async_loop import THREAD_NAME, HubThreads
from triton_user.sweep.request_loop import USER_THREAD_NAME
from triton_user.wire.http_client import HttpInferClient
from triton_user.wire.sockets import HUB_IO
from triton_user.wire.timing import Timing, timeout_message

_native_id = monkey.get_original("_thread", "get_native_id")  # the kernel's, /proc's


def settings_of(*argv: str) -> SweepSettings:
    return from_pa_namespace(profile_args(["-m", "m", *argv]))[0]


# -- flags and settings (pure) -------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, calls, threads",
    [
        ([], "sync", 4),  # the default; --max-threads then means nothing in concurrency mode
        (["--sync", "--concurrency-range", "8"], "sync", 4),
        # perf_analyzer's default with --async: max(16, END as given); a lone START's END is 1.
        (["--async", "--concurrency-range", "8"], "async", 16),
        (["-a", "--concurrency-range", "1:32:8"], "async", 32),
        (["--async", "--concurrency-range", "4:0", "-l", "50"], "async", 16),
        (["--async", "--concurrency-range", "8", "--max-threads", "2"], "async", 2),
        # gevent's users all wait on Locust's own event loop: one thread.
        (["--async", "--client-io", "gevent"], "async", 1),
        # At a request rate perf_analyzer keeps its default of 4, --async or not.
        (["-a", "--request-rate-range", "100"], "async", 4),
        (["-a", "--request-rate-range", "100", "--max-threads", "2"], "async", 2),
    ],
)
def test_perf_analyzers_defaults(argv, calls, threads):
    settings = settings_of(*argv)
    assert settings.calls == calls
    assert settings.rate.max_threads == threads
    assert settings.rule.async_calls is (calls == "async")


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--async", "--sync"], "--async and --sync: cannot specify both"),
        (["--async", "--client-io", "gevent", "--max-threads", "2"], "--max-threads with"),
        (["--async", "--max-threads", "0"], "--max-threads must be at least 1"),
    ],
)
def test_a_mistake_is_one_line_naming_the_flag(argv, words):
    with pytest.raises(ValueError, match=words) as caught:
        settings_of(*argv)
    assert "\n" not in str(caught.value)


def test_the_command_line_refuses_both_in_one_line_before_any_load():
    run = profile("-m", "m", "-u", "localhost:1", "--async", "--sync", timeout=60)
    assert run.returncode == 2
    assert run.stderr.strip().count("\n") == 0
    assert "--async and --sync" in run.stderr and "Traceback" not in run.stderr


def test_sync_and_async_reach_a_worker_unchanged():
    for argv in (SYNC_ARGV, {"async_calls": ["--async"], "max_threads": ["--max-threads", "3"]}):
        ns = profile_args(["-m", "m", *[a for values in argv.values() for a in values]])
        settings, outputs = from_pa_namespace(ns)
        assert what_a_worker_builds(locust_namespace(ns)) == (settings, outputs)
    assert settings.calls == "async" and settings.rate.max_threads == 3
    # The table's own round trip has --async among every other flag.
    assert NON_DEFAULT_ARGV["async_calls"] == ["--async"]


def test_the_results_record_the_mode():
    recorded = settings_of("--async", "--concurrency-range", "4", "--max-threads", "2").to_dict()
    assert recorded["calls"] == "async" and recorded["rate"]["max_threads"] == 2
    assert SweepSettings.from_dict(recorded).calls == "async"
    before = SweepSettings(model="m").to_dict()
    del before["calls"]  # a results file from before --async: synchronous
    assert SweepSettings.from_dict(before).calls == "sync"


def test_the_settings_block_says_asynchronous_as_perf_analyzer_does():
    block = settings_block(settings_of("--async", "--concurrency-range", "4"))
    assert "  Using asynchronous calls for inference" in block
    assert "  Stabilizing using average throughput" in block
    p95 = settings_block(settings_of("-a", "--percentile", "95"))
    assert "  Stabilizing using p95 throughput" in p95
    sync = settings_block(settings_of())
    assert "  Using synchronous calls for inference" in sync
    assert "  Stabilizing using average latency and throughput" in sync


def test_with_async_throughput_alone_settles_a_level_at_the_last_window():
    # perf_analyzer: after -r windows, an async level whose throughput settled is stable even
    # though its latency did not (it warns); a synchronous one is unstable.
    ws = [window(100, 500 if i % 2 else 700) for i in range(4)]
    sync, asynchronous = StabilityRule(max_trials=4), StabilityRule(max_trials=4, async_calls=True)
    assert [assess(ws[: i + 1], asynchronous) for i in range(4)] == [Verdict.MEASURE_MORE] * 3 + [
        Verdict.STABLE
    ]
    assert assess(ws, sync) is Verdict.UNSTABLE
    unsettled = [window(100, 500), window(150, 500), window(100, 500), window(150, 500)]
    assert assess(unsettled, asynchronous) is Verdict.UNSTABLE


# -- the threads (no server) ---------------------------------------------------------------


def test_users_spread_over_at_most_max_threads_as_perf_analyzer_spreads_contexts():
    threads = HubThreads(max_threads=2)
    placed = [threads.place() for _ in range(5)]
    assert len(threads.threads) == 2
    assert sorted(t.users for t in threads.threads) == [2, 3]  # 5 // 2, the first one more
    for thread in placed[:3]:
        threads.leave(thread)
    assert sum(t.users for t in threads.threads) == 2
    # Fewer users than --max-threads: one thread each (perf_analyzer's min(N, max-threads)).
    few = HubThreads(max_threads=16)
    for _ in range(3):
        few.place()
    assert [t.users for t in few.threads] == [1, 1, 1]


def test_each_thread_runs_its_users_as_greenlets_on_a_hub_of_its_own():
    threads = HubThreads(max_threads=2)
    seen: list[tuple[int, int, int]] = []
    here = (_native_id(), id(gevent.get_hub()))

    def body() -> None:
        gevent.sleep(0.01)  # waits on its own hub, cooperatively
        seen.append((_native_id(), id(gevent.get_hub()), id(gevent.getcurrent())))

    for _ in range(4):
        threads.place().spawn(body)
    deadline = time.monotonic() + 10
    while len(seen) < 4 and time.monotonic() < deadline:
        gevent.sleep(0.01)
    assert len(seen) == 4
    os_threads = {ident for ident, _, _ in seen}
    hubs = {hub for _, hub, _ in seen}
    assert len(os_threads) == 2 and len(hubs) == 2 and here[0] not in os_threads
    assert here[1] not in hubs
    assert len({greenlet for _, _, greenlet in seen}) == 4
    names = {Path(f"/proc/self/task/{ident}/comm").read_text().strip() for ident in os_threads}
    assert names == {THREAD_NAME.format(0), THREAD_NAME.format(1)}


def test_a_request_unanswered_times_out_on_a_hub_thread_too():
    # A listener that never answers: the hub thread's own watchdog ends the request at
    # --request-timeout-ms, as Locust's hub's does for --client-io gevent.
    silent = socket.create_server(("127.0.0.1", 0))
    host, port = silent.getsockname()[:2]
    client = HttpInferClient(f"{host}:{port}", timeout_s=0.2, client_io=HUB_IO)
    timings: list[Timing] = []
    HubThreads(max_threads=1).place().spawn(lambda: timings.append(client.infer(b"x")))
    deadline = time.monotonic() + 10
    while not timings and time.monotonic() < deadline:
        gevent.sleep(0.01)
    silent.close()
    assert timings and timings[0].error == timeout_message(0.2)
    assert 0.2 <= (timings[0].end_ns - timings[0].start_ns) / 1e9 < 1.0


# -- against the real server ---------------------------------------------------------------


def sending_threads(pid: int) -> dict[str, int]:
    """The process's threads by name, those that send: tl-async-N and tl-user."""
    counts: dict[str, int] = {}
    for comm in Path(f"/proc/{pid}/task").glob("*/comm"):
        try:
            name = comm.read_text().strip()
        except OSError:  # the thread ended meanwhile
            continue
        if name.startswith(("tl-async-", USER_THREAD_NAME)):
            counts[name] = counts.get(name, 0) + 1
    return counts


def profile_counting_threads(*args: str) -> tuple[int, str, dict[str, int]]:
    """`triton-locust profile ARGS`, the most sending threads of each name seen meanwhile."""
    cmd = [sys.executable, "-m", "triton_locust.cli", "profile", *args]
    proc = subprocess.Popen(
        cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    most: dict[str, int] = {}
    try:
        while proc.poll() is None:
            for name, n in sending_threads(proc.pid).items():
                most[name] = max(most.get(name, 0), n)
            time.sleep(0.1)
        out = proc.communicate(timeout=240)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, out, most


@pytest.mark.server
@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_async_keeps_8_in_flight_from_2_threads_counted_as_the_server_counts(
    triton_server, tmp_path, protocol
):
    out_json = tmp_path / "perf.json"
    code, out, threads = profile_counting_threads(
        "-m", "sleep_5ms", "-u", url(triton_server, protocol), "-i", protocol,
        "--async", "--concurrency-range", "8", "--max-threads", "2",
        "-p", "1000", "-s", "20", "-r", "8", "--json", str(out_json),
    )  # fmt: skip
    assert code in (0, 1), out
    assert "Using asynchronous calls for inference" in out
    assert threads == {"tl-async-0": 1, "tl-async-1": 1}  # and no thread per user
    result = json.loads(out_json.read_text())
    assert result["settings"]["calls"] == "async"
    level = result["levels"][0]
    assert level["concurrency"] == 8
    merged = level["merged"]
    # Little's law: the requests in flight are throughput x latency, ours from the send, and
    # the server's: the time its requests spent inside it over the windows' time. 8 on
    # sleep_5ms's 3 instances of 5 ms queue; 2 in flight would make about 2 and no queue.
    in_flight = merged["throughput"] * merged["avg_latency_us"] / 1e6
    assert in_flight == pytest.approx(8, rel=0.12), merged
    server = merged["server"]
    assert server["success_ns"] / merged["duration_ns"] == pytest.approx(8, rel=0.15), merged
    assert server["queue_ns"] / server["queue_count"] > 3e6  # ms of queue: more than 3 wait
    assert_counts_match_server(result["levels"], protocol=protocol)


@pytest.mark.server
def test_sync_runs_a_thread_per_request_in_flight(triton_server, tmp_path):
    code, out, threads = profile_counting_threads(
        "-m", "sleep_5ms", "-u", triton_server.http_url, "--concurrency-range", "8",
        "--max-threads", "2", "-p", "1000", "-s", "20", "-r", "8",
    )  # fmt: skip
    assert code in (0, 1), out
    assert "Using synchronous calls for inference" in out
    assert threads == {USER_THREAD_NAME: 8}  # --max-threads is overridden, as perf_analyzer does
