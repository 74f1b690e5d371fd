"""Issue 12: our HTTP/2 (gRPC) client, frame by frame, against a fake server on loopback
(tests/h2_peer.py) that sends what real servers send only sometimes: GOAWAY, CONTINUATION,
RST_STREAM, PING, window stalls, compressed or truncated gRPC messages, header blocks on
other streams. Each request gives one Timing (an error or not), never an exception or a
hang."""

from __future__ import annotations

import struct
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.h2_peer import (
    DATA,
    HEADERS,
    OK_BODY,
    PING,
    WINDOW_UPDATE,
    FakeH2Server,
    PeerConnection,
    allocate_lock,
    frame,
    grpc_message,
    headers_frames,
    settings,
    sleep,
    start_thread,
)
from tests.helpers import REPO
from triton_user.wire import http2
from triton_user.wire.grpc_client import GrpcInferClient, encode_request
from triton_user.wire.tensor import Tensor
from triton_user.wire.timing import Timing

REQUEST = encode_request("m", "", [Tensor("INPUT0", "FP32", (1, 4), b"\0" * 16)], ["OUTPUT0"])


@pytest.fixture
def serve() -> Iterator:
    servers: list[FakeH2Server] = []

    def start(script, **peer_settings: int) -> FakeH2Server:
        server = FakeH2Server(script, settings(**peer_settings))
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()
        assert not server.errors, server.errors


def client_of(server: FakeH2Server, timeout_s: float = 2.0, **kw) -> GrpcInferClient:
    return GrpcInferClient(server.url, timeout_s=timeout_s, client_io="threads", **kw)


def infer_within(client: GrpcInferClient, limit_s: float) -> Timing:
    """One request, in a thread: a hang fails the test instead of stopping it."""
    result: list[Timing | BaseException] = []

    def run() -> None:
        try:
            result.append(client.infer(REQUEST))
        except BaseException as exc:
            result.append(exc)

    done = allocate_lock()
    done.acquire()

    def run_then_release() -> None:
        try:
            run()
        finally:
            done.release()

    start_thread(run_then_release, ())
    done.acquire(True, limit_s)
    assert result, f"the request hung for {limit_s} s"
    assert isinstance(result[0], Timing), repr(result[0])  # never an exception
    return result[0]


def answer_all(conn: PeerConnection, _: int) -> None:
    for stream, _, _ in conn.requests():
        conn.send(conn.response_frames(stream))


# -- GOAWAY ---------------------------------------------------------------------------------
def test_goaway_as_nginx_sends_it_costs_no_error_and_no_request(serve):
    """nginx's keepalive_requests: GOAWAY naming the Nth stream, then its response, then the
    connection closes. Every request succeeds; none is sent twice."""
    served: list[int] = []

    def every_third(conn: PeerConnection, _: int) -> None:
        for n, (stream, _, _) in enumerate(conn.requests(), 1):
            served.append(stream)
            if n == 3:
                conn.goaway(stream)
                conn.send(conn.response_frames(stream))
                return
            conn.send(conn.response_frames(stream))

    server = serve(every_third)
    client = client_of(server)
    results = [infer_within(client, 5) for _ in range(10)]
    assert [t.error for t in results] == [None] * 10
    assert len(served) == 10
    assert len(server.connections) == 4


def test_a_request_above_goaway_s_last_stream_is_sent_again_on_a_new_connection(serve):
    """The server refuses what it has not started (last stream below ours): the request goes
    again on a new connection, with no error; the server processed it once."""
    served: list[tuple[int, int]] = []

    def refuse_the_second(conn: PeerConnection, number: int) -> None:
        for n, (stream, _, _) in enumerate(conn.requests(), 1):
            if number == 0 and n == 2:
                conn.goaway(stream - 2)  # ours is not processed
                sleep(0.05)
                return
            served.append((number, stream))
            conn.send(conn.response_frames(stream))

    client = client_of(serve(refuse_the_second))
    results = [infer_within(client, 5) for _ in range(3)]
    assert [t.error for t in results] == [None] * 3
    assert served == [(0, 1), (1, 1), (1, 3)]


def test_a_server_that_refuses_every_stream_gives_one_error_per_request(serve):
    def refuse(conn: PeerConnection, _: int) -> None:
        for _stream, _, _ in conn.requests():
            conn.goaway(0)
            return

    client = client_of(serve(refuse))
    t = infer_within(client, 5)
    assert t.error is not None and "GOAWAY" in t.error


def test_a_goaway_between_requests_is_read_before_the_next_is_sent(serve):
    """The GOAWAY arrives after a response, with it; the next request opens a new
    connection rather than being lost on the old one."""

    def goaway_after_response(conn: PeerConnection, _: int) -> None:
        for stream, _, _ in conn.requests():
            conn.send(conn.response_frames(stream) + frame(7, 0, 0, struct.pack(">II", stream, 0)))
            sleep(0.1)  # lingering, then gone
            return

    server = serve(goaway_after_response)
    client = client_of(server)
    assert [infer_within(client, 5).error for _ in range(3)] == [None] * 3
    assert len(server.connections) == 3


@pytest.mark.parametrize("goaway", [True, False])
def test_a_connection_closed_while_idle_is_replaced_before_the_request_is_lost(serve, goaway):
    """The server closes a connection between requests (an idle timeout, a drain), with or
    without a GOAWAY first: the next request sees it before sending and goes on a new
    connection, rather than meeting a reset."""

    def close_when_idle(conn: PeerConnection, _: int) -> None:
        for stream, _, _ in conn.requests():
            conn.send(conn.response_frames(stream))
            sleep(0.05)
            if goaway:
                conn.goaway(stream)
            return

    server = serve(close_when_idle)
    client = client_of(server)
    errors = []
    for _ in range(3):
        errors.append(infer_within(client, 5).error)
        sleep(0.2)
    assert errors == [None] * 3
    assert len(server.connections) == 3


# -- RST_STREAM and PING --------------------------------------------------------------------
def test_rst_stream_is_an_error_of_its_request_and_refused_stream_is_retried(serve):
    def reset(conn: PeerConnection, number: int) -> None:
        for n, (stream, _, _) in enumerate(conn.requests(), 1):
            if n == 1:
                conn.reset(stream, 2)  # INTERNAL_ERROR
            elif n == 2:
                conn.reset(stream, 7)  # REFUSED_STREAM: not processed, safe to send again
            else:
                conn.send(conn.response_frames(stream))

    client = client_of(serve(reset))
    first = infer_within(client, 5)
    assert first.error is not None and "reset" in first.error and "code 2" in first.error
    assert infer_within(client, 5).error is None
    assert infer_within(client, 5).error is None


def test_pings_are_answered_with_their_payload(serve):
    def ping_first(conn: PeerConnection, _: int) -> None:
        for stream, _, _ in conn.requests():
            conn.send(frame(PING, 0, 0, b"12345678") + conn.response_frames(stream))
            while conn.read_frame() is not None and not conn.pings_acked:
                pass
            assert conn.pings_acked == [b"12345678"]
            return

    client = client_of(serve(ping_first))
    assert infer_within(client, 5).error is None


# -- HPACK and CONTINUATION -----------------------------------------------------------------
def test_header_blocks_of_other_streams_keep_the_hpack_table_in_step(serve):
    """A late header block of an earlier stream adds to the server's dynamic table; our
    response's headers then refer to it."""

    def late_blocks(conn: PeerConnection, _: int) -> None:
        for stream, _, _ in conn.requests():
            late = conn.encoder.encode([("x-late", f"v{stream}"), ("grpc-status", "0")])
            conn.send(headers_frames(stream + 100, late, 1, 16_384))
            conn.send(conn.response_frames(stream, extra_headers=(("x-late", f"v{stream}"),)))

    client = client_of(serve(late_blocks))
    assert [infer_within(client, 5).error for _ in range(4)] == [None] * 4


def test_incoming_continuation_frames_are_joined(serve):
    def split(conn: PeerConnection, _: int) -> None:
        for stream, _, _ in conn.requests():
            big = (("x-big", "y" * 100),)
            conn.send(conn.response_frames(stream, max_frame=16, extra_headers=big))

    client = client_of(serve(split))
    assert [infer_within(client, 5).error for _ in range(3)] == [None] * 3


def test_outgoing_header_blocks_larger_than_the_frame_size_go_in_continuation(serve):
    sizes: list[tuple[int, int]] = []

    def strict(conn: PeerConnection, _: int) -> None:
        for stream, headers, _ in conn.requests():
            sizes.extend((k, n) for k, _, _, n in conn.frames_seen if k in (HEADERS, 9))
            assert ("x-token", "t" * 40_000) in headers
            conn.send(conn.response_frames(stream))

    client = client_of(serve(strict), headers={"X-Token": "t" * 40_000})
    assert infer_within(client, 5).error is None
    assert max(n for _, n in sizes) <= 16_384
    assert [k for k, _ in sizes] == [HEADERS, 9, 9]


# -- the gRPC message -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "message, expected",
    [
        (grpc_message(OK_BODY, flag=1), "compressed"),
        (grpc_message(OK_BODY, length=len(OK_BODY) + 50), "truncated"),
        (grpc_message(OK_BODY)[:3], "truncated"),
        (grpc_message(OK_BODY) + b"extra", "length"),
    ],
)
def test_a_compressed_or_truncated_grpc_message_is_an_error_naming_it(serve, message, expected):
    def send(conn: PeerConnection, _: int) -> None:
        for stream, _, _ in conn.requests():
            conn.send(conn.response_frames(stream, message))

    t = infer_within(client_of(serve(send)), 5)
    assert t.error is not None and expected in t.error, t.error


# -- timing ---------------------------------------------------------------------------------
def test_the_first_byte_is_the_first_read_of_the_response(serve):
    """A response whose first frame arrives in two parts, 200 ms apart: its first byte is
    the first part's arrival, so the 200 ms are receiving, not waiting (a loaded machine
    may wake the client late for the first part: half is asked)."""

    def slow_headers(conn: PeerConnection, _: int) -> None:
        for stream, _, _ in conn.requests():
            whole = conn.response_frames(stream)
            conn.send(whole[:5])
            sleep(0.2)
            conn.send(whole[5:])

    t = infer_within(client_of(serve(slow_headers)), 5)
    assert t.error is None
    assert t.recv_ns >= 100_000_000, t.recv_ns


# -- flow control ---------------------------------------------------------------------------
def test_a_window_stall_with_pings_still_times_out_within_the_deadline(serve):
    """The server opens no window for our body and keeps the connection busy with PINGs:
    the request fails as a timeout at its deadline, not never."""

    def stall(conn: PeerConnection, _: int) -> None:
        while True:
            conn.send(frame(PING, 0, 0, b"\0" * 8))
            sleep(0.02)

    server = serve(stall, initial_window_size=0)
    client = client_of(server, timeout_s=0.3)
    began = time.monotonic()
    t = infer_within(client, 3)
    assert t.error is not None and t.error.startswith("timeout"), t.error
    assert time.monotonic() - began < 1.5


def test_every_data_frame_counts_against_the_connection_window(serve, monkeypatch):
    """With a small receive window, DATA of other streams and padding count too: the client
    hands the window back before the server would have to stop."""
    monkeypatch.setattr(http2, "RECEIVE_WINDOW", 100_000)
    sent = [0]

    def strict_window(conn: PeerConnection, _: int) -> None:
        window = 65_535  # raised by the client's connection WINDOW_UPDATEs, counted below
        seen_updates = 0
        for stream, _, _ in conn.requests():
            window += sum(i for s, i in conn.window_updates[seen_updates:] if s == 0)
            seen_updates = len(conn.window_updates)
            other = frame(DATA, 0, stream + 100, b"z" * 16_000)
            body = conn.response_frames(stream)
            cost = 16_000 + len(grpc_message(OK_BODY))
            assert window >= cost, f"the client let the window run out ({window} < {cost})"
            window -= cost
            sent[0] += cost
            conn.send(other + body)

    client = client_of(serve(strict_window))
    assert [infer_within(client, 5).error for _ in range(20)] == [None] * 20
    assert sent[0] > 100_000


def test_window_updates_are_frames_of_four_bytes(serve):
    def check(conn: PeerConnection, _: int) -> None:
        for stream, _, _ in conn.requests():
            conn.send(conn.response_frames(stream))
        assert all(k != WINDOW_UPDATE or n == 4 for k, _, _, n in conn.frames_seen)

    client = client_of(serve(check))
    assert infer_within(client, 5).error is None


GEVENT_SCRIPT = """
from gevent import monkey; monkey.patch_all()
import time, gevent
from tests.h2_peer import FakeH2Server, frame, settings, sleep, PING
from tests.test_h2_frames import REQUEST, answer_all
from triton_user.wire.grpc_client import GrpcInferClient

def stall(conn, _):
    while True:
        conn.send(frame(PING, 0, 0, bytes(8)))
        sleep(0.02)

def every_second(conn, _):
    for n, (stream, _, _) in enumerate(conn.requests(), 1):
        if n == 2:
            conn.goaway(stream)
        conn.send(conn.response_frames(stream))
        if n == 2:
            return

stalled = FakeH2Server(stall, settings(initial_window_size=0))
goaway = FakeH2Server(every_second)

def one_stalled():
    client = GrpcInferClient(stalled.url, timeout_s=0.3, client_io="gevent")
    began = time.monotonic()
    return client.infer(REQUEST).error, time.monotonic() - began

def six_through_goaways():
    client = GrpcInferClient(goaway.url, timeout_s=2, client_io="gevent")
    return [client.infer(REQUEST).error for _ in range(6)]

jobs = [gevent.spawn(one_stalled), gevent.spawn(six_through_goaways)]
gevent.joinall(jobs, timeout=10)
error, took = jobs[0].value
assert error.startswith("timeout") and took < 1.5, (error, took)
assert jobs[1].value == [None] * 6, jobs[1].value
assert len(goaway.connections) == 3, len(goaway.connections)
print("ok")
"""


def test_under_gevent_a_window_stall_times_out_and_goaways_cost_nothing():
    """--client-io gevent: the deadline's watchdog ends a stall that PINGs keep busy, and
    GOAWAYs reconnect without an error, while other greenlets run."""
    run = subprocess.run(
        [sys.executable, "-c", GEVENT_SCRIPT], capture_output=True, text=True, timeout=60, cwd=REPO
    )
    assert run.stdout.strip() == "ok", run.stderr[-3000:]
