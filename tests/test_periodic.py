"""Periodic concurrency mode, the pure part (analysis/periodic.py): the schedule on
synthetic responses, its flags and their refusals, and the reading of a run from its
requests' times, perf_analyzer's recorded run included."""

from __future__ import annotations

import heapq
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from analysis.periodic import (
    DEFAULT_REQUEST_PERIOD,
    EARLY_FINAL,
    EarlyFinalResponse,
    PeriodicRange,
    PeriodicSchedule,
    check_schedule,
    in_flight_after_each_start,
    parse_periodic_range,
    periodic_from_values,
)
from analysis.profile_export import read_profile_export, write_profile_export
from analysis.settings import Outputs, SweepSettings
from tests.helpers import REPO, profile
from tests.test_profile_export import schema_errors
from triton_locust.server import free_ports
from triton_user.sweep.periodic import LOCUST_REFUSAL, PeriodicRun

DATA = Path(__file__).parent / "data"


def simulate(
    rng: PeriodicRange, responses: int | list[int], gap: int = 10
) -> tuple[PeriodicSchedule, list[list[int]]]:
    """Each request gets `responses` responses (or responses[i] for request i), `gap`
    apart from its start; the schedule is told each as it arrives, in time order, and
    requests it asks for start then. Returns the schedule and each request's times."""
    schedule = PeriodicSchedule(rng)
    times: list[list[int]] = []
    arrivals: list[tuple[int, int, int]] = []  # (time, request, count)

    def start(requests: list[int], now: int) -> None:
        for r in requests:
            assert r == len(times)
            times.append([now])
            n = responses if isinstance(responses, int) else responses[r]
            for k in range(1, n + 1):
                heapq.heappush(arrivals, (now + k * gap, r, k))

    start(schedule.begin(), 0)
    while arrivals and not schedule.done:
        now, r, k = heapq.heappop(arrivals)
        times[r].append(now)
        n = responses if isinstance(responses, int) else responses[r]
        start(schedule.on_response(r, k), now)
        if k == n:
            schedule.on_final(r, k)
    return schedule, times


@pytest.mark.parametrize(
    "start, end, step, period",
    [(1, 4, 1, 5), (2, 8, 3, 2), (1, 7, 2, 1), (3, 3, 1, 10), (4, 10, 2, 3), (3, 5, 1, 2)],
)
def test_the_schedule_sends_start_then_step_until_end(start, end, step, period):
    rng = PeriodicRange(start, end, step, period)
    schedule, times = simulate(rng, responses=40)
    assert schedule.done and schedule.sent == schedule.completed == end  # never more than END
    assert schedule.steps_completed == len(rng.levels())  # the last step's period too
    # Requests last 40 gaps, steps come every `period` gaps: none has ended when the last
    # step goes out, so the count in flight rises START, START+STEP, ..., END.
    in_flight = in_flight_after_each_start([t[0] for t in times], [t[-1] for t in times])
    sizes = rng.batches()
    last_of_each = [sum(sizes[: k + 1]) - 1 for k in range(len(sizes))]
    assert [in_flight[i] for i in last_of_each] == rng.levels()
    # Each step goes out when the latest one's requests reach the period, `period` gaps on.
    step_times = sorted({t[0] for t in times})
    assert step_times == [k * period * 10 for k in range(len(sizes))]
    assert check_schedule(rng, times) is None


def test_a_step_waits_for_every_request_of_the_latest_step():
    # The next step is due only when the slowest request of the latest step has had its
    # period, however far beyond it the others are.
    rng = PeriodicRange(2, 4, 2, request_period=2)
    schedule = PeriodicSchedule(rng)
    assert schedule.begin() == [0, 1]
    assert schedule.on_response(0, 1) == []
    assert schedule.on_response(0, 2) == []  # request 1 has had only 0 responses
    assert schedule.on_response(1, 1) == []
    assert schedule.on_response(0, 3) == []  # beyond the period counts for nothing
    assert schedule.on_response(1, 2) == [2, 3]  # the whole step has its period
    assert schedule.on_response(1, 3) == []
    schedule.on_final(1, 3)
    assert schedule.on_response(2, 2) == [] and schedule.on_response(3, 2) == []
    assert (schedule.sent, schedule.steps_completed) == (4, 2)  # END sent: no more
    for r in (0, 2, 3):
        schedule.on_final(r, 9)
    assert schedule.done and schedule.in_flight == 0


def test_the_run_ends_when_end_requests_have_had_their_final_response():
    rng = PeriodicRange(1, 3, 1, request_period=1)
    schedule = PeriodicSchedule(rng)
    schedule.begin()
    assert schedule.on_response(0, 1) == [1]
    assert schedule.on_response(1, 1) == [2]
    assert schedule.on_response(0, 2) == []
    schedule.on_final(0, 2)
    assert not schedule.done
    assert schedule.on_response(2, 1) == []  # END sent already
    schedule.on_final(2, 1)
    assert not schedule.done and schedule.in_flight == 1
    schedule.on_final(1, 5)
    assert schedule.done and schedule.completed == 3


@pytest.mark.parametrize("responses, period", [(4, 5), (1, 10), ([10, 3], 4)])
def test_a_final_response_before_the_period_is_perf_analyzers_error(responses, period):
    rng = PeriodicRange(1, 2, 1, request_period=period)
    with pytest.raises(EarlyFinalResponse) as caught:
        simulate(rng, responses)
    n = responses if isinstance(responses, int) else responses[1]
    assert caught.value.responses == n < period
    assert str(caught.value).endswith(EARLY_FINAL)


def test_the_period_reached_by_the_final_response_itself_is_no_error():
    schedule, times = simulate(PeriodicRange(1, 3, 1, request_period=4), responses=4)
    assert schedule.done and [len(t) - 1 for t in times] == [4, 4, 4]
    # each starts at its predecessor's 4th response, which is also its last
    assert [t[0] for t in times] == [0, 40, 80]


def test_a_response_of_a_request_never_sent_is_a_bug_said_so():
    schedule = PeriodicSchedule(PeriodicRange(1, 2, 1, 1))
    schedule.begin()
    with pytest.raises(ValueError, match="request 2 was not sent"):
        schedule.on_response(1, 1)
    schedule.on_final(0, 1)
    with pytest.raises(ValueError, match="request 1 was not sent, or has ended"):
        schedule.on_final(0, 1)
    with pytest.raises(RuntimeError):
        schedule.begin()


@pytest.mark.parametrize(
    "text, expected",
    [("1:4", (1, 4, 1)), ("1:4:1", (1, 4, 1)), ("2:8:3", (2, 8, 3)), (" 5:5 ", (5, 5, 1))],
)
def test_parse_periodic_range(text, expected):
    assert parse_periodic_range(text) == expected


@pytest.mark.parametrize(
    "text, message",
    [
        ("4", "Both <start> and <end> values must be provided."),
        ("1:2:3:4", "The value does not match <start:end:step>."),
        ("1:4:0", "The <step> value must be > 0."),
        ("5:4", "The <start> must be <= <end>."),
        ("1:10:4", "The <step> value must be a factor of the range size (<end> - <start>)."),
        ("0:4", "<start> must be > 0 (perf_analyzer would send no request and wait forever)"),
        ("0:0", "<start> must be > 0"),
        ("a:4", "expected START:END[:STEP] of whole numbers"),
        ("1:-4", "expected START:END[:STEP] of whole numbers"),
        ("1.5:4", "expected START:END[:STEP] of whole numbers"),
    ],
)
def test_parse_periodic_range_refuses_in_one_line(text, message):
    with pytest.raises(ValueError) as caught:
        parse_periodic_range(text)
    [line] = str(caught.value).splitlines()
    assert message in line and "--periodic-concurrency-range" in line


BASE = {
    "periodic_concurrency_range": "1:4:1",
    "streaming": True,
    "profile_export": "x.json",
    "latency_threshold_ms": 0.0,
    "binary_search": False,
    "verbose_csv": False,
    "collect_metrics": False,
}


def values(**changed):
    merged = {**BASE, **changed}
    return lambda dest: merged.get(dest)


def test_the_flags_make_the_range_with_the_default_period():
    assert periodic_from_values(values()) == PeriodicRange(1, 4, 1, DEFAULT_REQUEST_PERIOD)
    assert periodic_from_values(values(request_period=3)).request_period == 3
    assert periodic_from_values(values(request_period="3")).request_period == 3  # web form
    assert periodic_from_values(values(periodic_concurrency_range=None)) is None


@pytest.mark.parametrize(
    "changed, message",
    [
        ({"request_period": 0}, "Failed to parse --request-period. The value must be > 0"),
        ({"request_period": -2}, "Failed to parse --request-period. The value must be > 0"),
        (
            {"periodic_concurrency_range": None, "request_period": 5},
            "--request-period: only with --periodic-concurrency-range",
        ),
        ({"concurrency_range": "1:4"}, "Cannot specify more then one inference load mode"),
        ({"request_rate_range": "10"}, "--request-rate-range: Cannot specify more then one"),
        ({"request_intervals": "f"}, "and --request-intervals: Cannot specify more then one"),
        ({"streaming": False}, "requires bi-directional gRPC streaming (give --streaming)"),
        ({"profile_export": None}, "Must provide --profile-export-file when using the"),
        ({"csv": "perf.csv"}, "-f/--filename with --periodic-concurrency-range: not in this"),
        ({"json": "r.json"}, "--json with --periodic-concurrency-range"),
        ({"report": "r.html"}, "--report with --periodic-concurrency-range"),
        ({"verbose_csv": True}, "--verbose-csv with"),
        ({"latency_budget_ms": 5.0}, "--latency-budget with"),
        ({"latency_threshold_ms": 50.0}, "-l/--latency-threshold with"),
        ({"binary_search": True}, "--binary-search with"),
        ({"collect_metrics": True}, "--collect-metrics with"),
        ({"max_threads": 8}, "--max-threads with"),
    ],
)
def test_the_flags_are_refused_in_one_line_naming_them(changed, message):
    with pytest.raises(ValueError) as caught:
        periodic_from_values(values(**changed))
    [line] = str(caught.value).splitlines()
    assert message in line


def test_the_ranges_levels_and_batches():
    rng = PeriodicRange(2, 8, 3)
    assert rng.levels() == [2, 5, 8] and rng.batches() == [2, 3, 3]
    assert PeriodicRange(3, 3, 1).levels() == [3]


def test_in_flight_counts_a_request_until_its_final_response():
    # starts 0, 5, 10; ends 12, 10, 30: at 10 the second ends as the third starts
    assert in_flight_after_each_start([0, 5, 10], [12, 10, 30]) == [1, 2, 2]


def test_check_schedule_says_what_is_wrong():
    rng = PeriodicRange(1, 2, 1, request_period=2)
    assert check_schedule(rng, [[0, 1, 2, 3], [2, 3, 4]]) is None
    assert "1 requests, expected 2" in check_schedule(rng, [[0, 1, 2]])
    assert "started before" in check_schedule(rng, [[0, 1, 2, 3], [1, 3, 4]])
    assert "fewer than the period 2" in check_schedule(rng, [[0, 1, 2], [2, 3]])


def test_perf_analyzers_recorded_run_follows_the_schedule():
    # perf_analyzer 2.51 against decoupled_stream (10 responses 2 ms apart):
    # --periodic-concurrency-range 1:4:1 --request-period 1 --streaming -i grpc
    export = json.loads((DATA / "pa_periodic.json").read_text())
    [experiment] = export["experiments"]
    # One experiment, whatever the range: concurrency 1, one window over all time.
    assert experiment["experiment"] == {"mode": "concurrency", "value": 1}
    assert experiment["window_boundaries"] == [0, 2**64 - 1]
    requests = sorted(experiment["requests"], key=lambda r: r["timestamp"])
    times = [[r["timestamp"], *r["response_timestamps"]] for r in requests]
    assert check_schedule(PeriodicRange(1, 4, 1, request_period=1), times) is None
    in_flight = in_flight_after_each_start([t[0] for t in times], [t[-1] for t in times])
    assert in_flight == [1, 2, 3, 4]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--request-period", "0"], "Failed to parse --request-period. The value must be > 0"),
        (["--concurrency-range", "1:4"], "Cannot specify more then one inference load mode"),
        (["-f", "perf.csv"], "-f/--filename with --periodic-concurrency-range: not in this mode"),
        (["--no-streaming"], "requires bi-directional gRPC streaming (give --streaming)"),
        (["--no-export"], "Must provide --profile-export-file when using the"),
        (["-i", "http"], "--streaming: Streaming is only allowed with gRPC protocol"),
    ],
)
def test_bad_flags_are_one_line_and_exit_2_before_anything_is_sent(tmp_path, args, message):
    # Nothing listens on the URL: a check made after the first request would say so.
    export = tmp_path / "x.json"
    argv = ["-m", "m", "-u", f"127.0.0.1:{free_ports(1)[0]}", "-i", "grpc"]
    argv += [] if "--no-streaming" in args else ["--streaming"]
    argv += [] if "--no-export" in args else ["--profile-export-file", str(export)]
    argv += ["--periodic-concurrency-range", "1:4:1"]
    argv += [a for a in args if not a.startswith("--no-")]
    run = profile(*argv, timeout=60)
    assert run.returncode == 2, run.stderr
    [line] = run.stderr.strip().splitlines()
    assert message in line and "cannot reach" not in line
    assert not export.exists()


def test_the_export_is_perf_analyzers_one_experiment_in_the_order_sent(tmp_path):
    settings = SweepSettings("decoupled_stream", protocol="grpc", streaming=True)
    settings = replace(settings, periodic=PeriodicRange(1, 3, 1, request_period=2))
    run = PeriodicRun(settings, Outputs(profile_export=str(tmp_path / "x.json")))
    # Finished out of order (request 2 before 1): the file keeps the order they were sent.
    run.finished = {2: (300, (310, 320, 330)), 0: (100, (110, 120)), 1: (200, (205, 260))}
    path = tmp_path / "x.json"
    write_profile_export(run.export(offset_ns=1_000), path)
    assert schema_errors(path) == []
    data = json.loads(path.read_text())
    [experiment] = data["experiments"]
    assert experiment["experiment"] == {"mode": "concurrency", "value": 1}
    assert experiment["window_boundaries"] == [0, 2**64 - 1]
    assert [(r["timestamp"], r["response_timestamps"]) for r in experiment["requests"]] == [
        (1_100, [1_110, 1_120]),
        (1_200, [1_205, 1_260]),
        (1_300, [1_310, 1_320, 1_330]),
    ]
    assert [len(r["response_outputs"]) for r in experiment["requests"]] == [2, 2, 3]
    # `triton-locust report` has no levels to show for it, and says so in one line.
    for export in (path, DATA / "pa_periodic.json"):
        with pytest.raises(ValueError, match="a periodic concurrency export .* nothing to report"):
            read_profile_export(export)


def test_locust_takes_the_flags_from_the_table_and_refuses_the_mode_in_one_line(tmp_path):
    export = tmp_path / "x.json"
    run = subprocess.run(
        [sys.executable, "-m", "locust", "-f", "locustfiles/triton_sweep.py", "--headless"]
        + ["--model", "m", "--triton-url", f"127.0.0.1:{free_ports(1)[0]}", "--protocol"]
        + ["grpc", "--streaming", "--periodic-concurrency-range", "1:4:1", "--request-period"]
        + ["2", "--profile-export-file", str(export)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert run.returncode == 2
    errors = [line for line in run.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and errors[0].endswith(LOCUST_REFUSAL)
    assert not export.exists()
