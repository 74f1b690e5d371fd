"""Sequence models against the real server: the accumulator (triton_locust/server/models)
answers each request with the running sum of its sequence and the correlation ID it was
routed by, and fails a request that breaks a sequence (a START for an ID whose sequence is
still going, a request without its START). Its sums prove START, END, the IDs and the
order of the steps; over HTTP and gRPC, in one process and across Locust workers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from analysis.settings import SequenceSettings, SweepSettings
from tests.helpers import REPO, load_levels, profile
from triton_user.requests.plan import RequestPlan
from triton_user.requests.sequence_sender import SequenceBook, SequenceSender

pytestmark = pytest.mark.server

MODEL = "accumulator"
FAST = ["-p", "300", "-r", "4", "-s", "50"]
STREAMS = REPO / "bench" / "data" / "accumulator_streams_validated.json"


def url(server, protocol: str) -> str:
    return server.grpc_url if protocol == "grpc" else server.http_url


def counts(levels: list[dict]) -> tuple[int, int]:
    """(requests that succeeded, requests that failed) over every window of every level."""
    windows = [w for level in levels for w in level["windows"]]
    return sum(w["request_count"] for w in windows), sum(w["error_count"] for w in windows)


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_streams_arrive_in_order_with_start_and_end(triton_server, tmp_path, protocol):
    """Every response's running sum is checked against the file's validation_data: a step
    out of order, a lost START or END, or two sequences on one ID would fail it."""
    data = tmp_path / "streams.json"
    shutil.copy(STREAMS, data)
    out = tmp_path / "r.json"
    run = profile(
        *("-m", MODEL, "-u", url(triton_server, protocol), "-i", protocol, *FAST),
        *("--concurrency-range", "1:3:2", "--input-data", str(data), "--json", str(out)),
    )
    assert run.returncode in (0, 1), run.stdout[-2000:] + run.stderr[-2000:]
    assert "Successfully read data for 4 stream/streams" in run.stdout
    # perf_analyzer sends to a sequence model asynchronously unless --sync is given.
    assert "  Using asynchronous calls for inference\n" in run.stdout
    assert load_levels(out) and json.loads(out.read_text())["settings"]["calls"] == "async"
    ok, failed = counts(load_levels(out))
    assert ok > 100 and failed == 0


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_generated_sequences_keep_their_ids_and_sums(triton_server, protocol):
    """Our own senders, their responses decoded: one value v sent every time, so the k-th
    request of a sequence answers k * v, back to v at each START; the IDs wrap within
    the range; a missing END would fail the next START of its ID."""
    settings = SweepSettings(
        MODEL,
        url=url(triton_server, protocol),
        protocol=protocol,
        sequence=SequenceSettings(length=4, length_variation=50, id_start=40, id_range=5),
    )
    plan = RequestPlan.discover(settings)
    assert plan.sequence_data is not None
    value = int(np.asarray(plan.sequence_data.streams[0][0][0].data).reshape(-1)[0])
    assert value != 0
    senders = [plan.sender(plan.new_client()) for _ in range(3)]
    steps = [0] * len(senders)
    ids, restarts = set(), 0
    try:
        for _ in range(30):
            for number, send in enumerate(senders):
                t = send()
                assert t.error is None, t.error
                outputs = send._client.last_outputs()
                ids.add(int(np.frombuffer(outputs["SEQUENCE_ID"], "<u8")[0]))
                k = int(np.frombuffer(outputs["OUTPUT0"], "<i4")[0]) // value
                assert k in (1, steps[number] + 1)
                restarts += k == 1
                steps[number] = k
    finally:
        for send in senders:
            send.close()  # sends each sequence's END: the next run may reuse the IDs
    assert ids == set(range(40, 45))  # the range wrapped
    assert restarts > len(senders) and max(steps) <= 6  # 4 +/- 50%
    assert plan.sequences is not None and plan.sequences.manager.live_ids() == set()


def test_a_shared_id_is_caught_by_the_model(triton_server):
    """The model's check works: two books handing out the same IDs (what a wrong split
    over workers would do) break each other's sequences."""
    settings = SweepSettings(
        MODEL,
        url=triton_server.http_url,
        sequence=SequenceSettings(length=5, length_variation=0, id_start=900, id_range=1),
    )
    plan = RequestPlan.discover(settings)
    other = SequenceBook(settings, ())
    first = plan.sender(plan.new_client())
    data, payloads = plan.sequence_data, plan.sequence_payloads
    second = SequenceSender(other, data, payloads, plan.new_client(), grpc=False)
    try:
        assert first().error is None
        error = second().error
        assert error is not None and "START again before its END" in error
    finally:
        first.close()
        second.close()


def test_two_locust_workers_never_share_an_id(triton_server, tmp_path):
    """8 IDs, 4 sequences at a time over two workers, 2 requests each: the IDs wrap every
    few milliseconds, so two workers sending one ID would break sequences at once."""
    out = tmp_path / "d.json"
    run = profile(
        *("-m", MODEL, "-u", triton_server.http_url, *FAST, "--concurrency-range", "4"),
        *("--sequence-id-range", "1:9", "--sequence-length", "2"),
        *("--sequence-length-variation", "0", "--processes", "2", "--json", str(out)),
    )
    assert run.returncode in (0, 1), run.stdout[-2000:] + run.stderr[-2000:]
    levels = load_levels(out)
    ok, failed = counts(levels)
    assert ok > 100 and failed == 0
    assert levels[0]["merged"]["missing_workers"] == 0


def test_request_rate_mode_spreads_sequences_over_the_users(triton_server, tmp_path):
    out = tmp_path / "r.json"
    run = profile(
        *("-m", MODEL, "-u", triton_server.grpc_url, "-i", "grpc", *FAST),
        *("--request-rate-range", "200", "--num-of-sequences", "4", "--serial-sequences"),
        *("--sequence-length", "5", "--json", str(out)),
    )
    assert run.returncode in (0, 1), run.stdout[-2000:] + run.stderr[-2000:]
    ok, failed = counts(load_levels(out))
    assert ok > 50 and failed == 0


def test_batch_size_above_one_is_refused_in_one_line(triton_server):
    run = profile("-m", MODEL, "-u", triton_server.http_url, "-b", "2")
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    # The sample accumulator does not batch (one sequence per instance): that comes first.
    assert lines[0].endswith("-b 2: model accumulator does not support batching (max_batch_size 0)")


def test_the_streams_file_holds_the_running_sums():
    """The bench's file and the tests' agree: validation_data holds the running sums."""
    document = json.loads(Path(STREAMS).read_text())
    for stream, sums in zip(document["data"], document["validation_data"], strict=True):
        running = np.cumsum([step["INPUT0"][0] for step in stream]).tolist()
        assert running == [s["OUTPUT0"][0] for s in sums]
