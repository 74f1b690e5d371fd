"""Issue 12: our HTTP/1.1 client against the responses proxies send: chunked, without a
Content-Length (read to the close), `Connection: close`, a kept connection the server closed
while idle, and malformed status lines. A fake server on loopback answers each request with
the test's bytes; every request gives one Timing, never an exception."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.h2_peer import _socket, allocate_lock, start_thread
from triton_user.wire.http_client import HttpInferClient
from triton_user.wire.timing import Timing

REQUEST = b"POST /v2/models/m/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
JSON = b'{"model_name":"m","outputs":[]}'

# The answer to the nth request (0, 1, ...) of a connection, and whether to close after it.
Answer = Callable[[int], tuple[bytes, bool]]


class FakeHttpServer:
    """Reads each request (a head and its Content-Length body), writes the answer."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.listener = _socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.requests = 0
        start_thread(self._accept, ())

    def _accept(self) -> None:
        while True:
            try:
                fd, _ = self.listener._accept()
            except OSError:
                return
            self.connections += 1
            start_thread(self._serve, (_socket(fileno=fd),))

    def _serve(self, sock) -> None:
        buf, n = b"", 0
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    chunk = sock.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                head, _, buf = buf.partition(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                while len(buf) < length:
                    buf += sock.recv(65536)
                buf = buf[length:]
                self.requests += 1
                data, close = self.answer(n)
                n += 1
                sock.sendall(data)
                if close:
                    return
        except OSError:
            pass
        finally:
            sock.close()

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def serve() -> Iterator[Callable[[Answer], FakeHttpServer]]:
    servers: list[FakeHttpServer] = []

    def start(answer: Answer) -> FakeHttpServer:
        servers.append(FakeHttpServer(answer))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def infer_within(client: HttpInferClient, limit_s: float = 5.0) -> Timing:
    result: list[object] = []
    done = allocate_lock()
    done.acquire()

    def run() -> None:
        try:
            result.append(client.infer(REQUEST))
        except BaseException as exc:
            result.append(exc)
        finally:
            done.release()

    start_thread(run, ())
    done.acquire(True, limit_s)
    assert result, f"the request hung for {limit_s} s"
    assert isinstance(result[0], Timing), repr(result[0])
    return result[0]


def client_of(server: FakeHttpServer, timeout_s: float = 2.0) -> HttpInferClient:
    return HttpInferClient(f"127.0.0.1:{server.port}", timeout_s=timeout_s, client_io="threads")


def ok(body: bytes = JSON, *headers: str) -> bytes:
    lines = ["HTTP/1.1 200 OK", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def chunked(body: bytes, *headers: str) -> bytes:
    lines = ["HTTP/1.1 200 OK", "Transfer-Encoding: chunked", *headers]
    chunks = b"".join(
        f"{len(body[i : i + 7]):x};ext=1\r\n".encode() + body[i : i + 7] + b"\r\n"
        for i in range(0, len(body), 7)
    )
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + chunks + b"0\r\nX-Trailer: 1\r\n\r\n"


def test_chunked_responses_are_read_whole_and_the_connection_kept(serve):
    server = serve(lambda n: (chunked(JSON, "Inference-Header-Content-Length: 31"), False))
    client = client_of(server)
    results = [infer_within(client) for _ in range(5)]
    assert [t.error for t in results] == [None] * 5
    assert {t.response_bytes for t in results} == {len(JSON)}
    assert server.connections == 1


def test_a_response_without_content_length_is_read_to_the_close(serve):
    server = serve(lambda n: (b"HTTP/1.1 200 OK\r\nContent-Type: x\r\n\r\n" + JSON, True))
    client = client_of(server)
    results = [infer_within(client) for _ in range(3)]
    assert [t.error for t in results] == [None] * 3
    assert {t.response_bytes for t in results} == {len(JSON)}
    assert server.connections == 3


def test_connection_close_is_honoured_with_a_new_connection(serve):
    """Each connection says `Connection: close` on its second response, and closes."""
    server = serve(lambda n: (ok(JSON, "Connection: close") if n == 1 else ok(), n == 1))
    client = client_of(server)
    assert [infer_within(client).error for _ in range(5)] == [None] * 5
    assert server.connections == 3 and server.requests == 5


def test_a_kept_connection_the_server_closed_while_idle_is_reopened(serve):
    """As libcurl does: a request that got no byte back on a reused connection goes again
    on a new one (the server closed it between requests)."""
    server = serve(lambda n: (ok(), n == 1))  # closes after the second, unannounced
    client = client_of(server)
    assert [infer_within(client).error for _ in range(5)] == [None] * 5
    assert server.requests == 5


@pytest.mark.parametrize(
    "status_line",
    [b"HTTP/1.1", b"HTTP/1.1 abc OK", b"garbage", b"", b"HTTP/1.1 99999999999999999999 X"],
)
def test_a_malformed_status_line_is_a_counted_error(serve, status_line):
    server = serve(lambda n: (status_line + b"\r\nContent-Length: 0\r\n\r\n", False))
    t = infer_within(client_of(server))
    assert t.error is not None and "status line" in t.error, t.error


@pytest.mark.parametrize(
    "response, expected",
    [
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "chunk"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", "Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n", "Content-Length"),
    ],
)
def test_malformed_framing_is_a_counted_error(serve, response, expected):
    t = infer_within(client_of(serve(lambda n: (response, True))))
    assert t.error is not None and expected in t.error, t.error


def test_a_truncated_chunked_response_is_an_error_not_a_hang(serve):
    cut = chunked(JSON)[:-20]
    t = infer_within(client_of(serve(lambda n: (cut, True))))
    assert t.error is not None and "closed" in t.error, t.error
