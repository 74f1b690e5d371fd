"""Issue 12: our wire clients' parsers, fuzzed (hypothesis). A fake server on loopback
answers one request with the example's bytes and closes: random bytes, well-framed HTTP/2
frames of any kind, flags, stream and payload, a valid response cut anywhere or with a
frame slipped in, random HTTP/1.1 heads and chunking. Whatever arrives, the request gives
one Timing (an error, or a success only when the response was whole), within its
deadline: never an exception, a hang or a dead thread. Bounded, to stay in the pure suite."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.h2_peer import FakeH2Server, PeerConnection, frame
from tests.test_h2_frames import infer_within
from tests.test_http1_responses import FakeHttpServer
from tests.test_http1_responses import infer_within as http_infer_within
from triton_user.wire.grpc_client import GrpcInferClient
from triton_user.wire.http_client import HttpInferClient

FUZZ = settings(
    max_examples=60,
    deadline=None,  # our own limit below: a hang fails as such
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
TIMEOUT_S = 2.0  # each request's deadline: a stalled parse ends there (each example closes)
LIMIT_S = 5.0  # a request taking longer hung

# What the fake servers send next, set by each example.
PLAN: dict[str, object] = {}


def answer_with_plan(conn: PeerConnection, _: int) -> None:
    for stream, _, _ in conn.requests():
        make = PLAN["h2"]
        conn.send(make(conn, stream))  # type: ignore[operator]
        return  # and close


@pytest.fixture(scope="module")
def h2_server() -> Iterator[FakeH2Server]:
    server = FakeH2Server(answer_with_plan)
    yield server
    server.close()


@pytest.fixture(scope="module")
def http_server() -> Iterator[FakeHttpServer]:
    server = FakeHttpServer(lambda n: (PLAN["http"], True))  # type: ignore[arg-type]
    yield server
    server.close()


def one_grpc_request(server: FakeH2Server, make) -> tuple[str | None, float]:
    PLAN["h2"] = make
    client = GrpcInferClient(server.url, timeout_s=TIMEOUT_S, client_io="threads")
    began = time.monotonic()
    t = infer_within(client, LIMIT_S)
    client.close()
    return t.error, time.monotonic() - began


frames = st.builds(
    lambda kind, flags, stream, payload: (kind, flags, stream, payload),
    st.integers(0, 10),
    st.integers(0, 255),
    st.sampled_from([0, 1, 3, 2**31 - 1]),
    st.binary(max_size=40),
)


@FUZZ
@given(data=st.binary(max_size=300))
def test_random_bytes_give_one_error(h2_server, data):
    error, took = one_grpc_request(h2_server, lambda conn, stream: data)
    assert error is not None
    assert took < LIMIT_S


@FUZZ
@given(frame_list=st.lists(frames, max_size=8))
def test_frames_of_any_kind_flags_and_payload_give_one_timing(h2_server, frame_list):
    def make(conn: PeerConnection, stream: int) -> bytes:
        return b"".join(frame(k, f, stream if s == 1 else s, p) for k, f, s, p in frame_list)

    error, took = one_grpc_request(h2_server, make)
    assert error is not None  # nothing here is a whole response with its trailers
    assert took < LIMIT_S


@FUZZ
@given(cut=st.integers(0, 400))
def test_a_response_cut_anywhere_is_an_error_unless_whole(h2_server, cut):
    whole_length: list[int] = []

    def make(conn: PeerConnection, stream: int) -> bytes:
        whole = conn.response_frames(stream)
        whole_length.append(len(whole))
        return whole[:cut]

    error, took = one_grpc_request(h2_server, make)
    assert (error is None) == (cut >= whole_length[0]), error
    assert took < LIMIT_S


@FUZZ
@given(extra=frames, where=st.integers(0, 3))
def test_a_frame_slipped_into_a_response_gives_one_timing(h2_server, extra, where):
    def make(conn: PeerConnection, stream: int) -> bytes:
        whole = conn.response_frames(stream)
        bounds, at = [], 0
        while at < len(whole):
            bounds.append(at)
            at += 9 + int.from_bytes(whole[at : at + 3], "big")
        at = bounds[where] if where < len(bounds) else len(whole)
        kind, flags, s, payload = extra
        return whole[:at] + frame(kind, flags, stream if s == 1 else s, payload) + whole[at:]

    _, took = one_grpc_request(h2_server, make)
    assert took < LIMIT_S


def one_http_request(server: FakeHttpServer, response: bytes) -> tuple[str | None, float]:
    PLAN["http"] = response
    client = HttpInferClient(f"127.0.0.1:{server.port}", timeout_s=TIMEOUT_S, client_io="threads")
    began = time.monotonic()
    t = http_infer_within(client, LIMIT_S)
    client.close()
    return t.error, time.monotonic() - began


head_lines = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "Content-Length: 5",
                "Content-Length: x",
                "Transfer-Encoding: chunked",
                "Connection: close",
                "Inference-Header-Content-Length: 2",
                "Inference-Header-Content-Length: -1",
            ]
        ),
        st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30),
    ),
    max_size=5,
)


@FUZZ
@given(
    status=st.one_of(
        st.sampled_from(["HTTP/1.1 200 OK", "HTTP/1.0 200", "HTTP/1.1 100 Continue"]),
        st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30),
    ),
    lines=head_lines,
    body=st.binary(max_size=60),
)
def test_http_heads_and_bodies_of_any_shape_give_one_timing(http_server, status, lines, body):
    response = ("\r\n".join([status, *lines]) + "\r\n\r\n").encode() + body
    _, took = one_http_request(http_server, response)
    assert took < LIMIT_S


@FUZZ
@given(data=st.binary(max_size=300))
def test_random_http_bytes_give_one_timing(http_server, data):
    _, took = one_http_request(http_server, data)
    assert took < LIMIT_S
