"""Every setting reaches the workers, seen from the server's side: a `--processes 2` sweep
with `-H` and `--shape`, through a recording proxy in front of Triton's HTTP port."""

from __future__ import annotations

import json
import socket
import socketserver
import threading
import urllib.request
from dataclasses import dataclass
from typing import Any

import psutil
import pytest

from tests.helpers import load_levels, profile

pytestmark = pytest.mark.server


@dataclass
class Seen:
    """One request as it passed the proxy."""

    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    inputs: list[dict[str, Any]]  # the inference header's inputs (infer requests)
    pid: int | None  # the process that sent it


class RecordingProxy(socketserver.ThreadingTCPServer):
    """A forwarding HTTP/1.1 proxy on loopback: each client connection gets its own
    connection to Triton; requests are read whole (Content-Length), recorded and passed on,
    responses piped back untouched."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, upstream: str) -> None:
        host, port = upstream.rsplit(":", 1)
        self.upstream = (host, int(port))
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> RecordingProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


class _ProxyHandler(socketserver.StreamRequestHandler):
    server: RecordingProxy

    def handle(self) -> None:
        upstream = socket.create_connection(self.server.upstream)
        pid = _sender_pid(self.client_address, self.server.server_address)
        threading.Thread(target=_pipe, args=(upstream, self.connection), daemon=True).start()
        try:
            while (request := _read_request(self.rfile)) is not None:
                raw, seen = request
                seen.pid = pid
                with self.server.lock:
                    self.server.seen.append(seen)
                upstream.sendall(raw)
        finally:
            upstream.close()


def _read_request(rfile: Any) -> tuple[bytes, Seen] | None:
    head = rfile.readline()
    if not head:
        return None
    lines = [head]
    while (line := rfile.readline()) not in (b"\r\n", b""):
        lines.append(line)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    assert "chunked" not in headers.get("transfer-encoding", ""), "the proxy reads lengths only"
    body = rfile.read(int(headers.get("content-length", 0)))
    method, path, _ = head.decode("latin-1").split(" ", 2)
    inputs = []
    if path.endswith("/infer"):
        json_length = int(headers.get("inference-header-content-length", len(body)))
        inputs = json.loads(body[:json_length])["inputs"]
    return b"".join(lines) + b"\r\n" + body, Seen(method, path, headers, inputs, None)


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        sink.close()


def _sender_pid(peer: tuple[str, int], proxy: tuple[str, int]) -> int | None:
    """The process whose socket is the other end of this connection (ours run as this user)."""
    for conn in psutil.net_connections(kind="tcp4"):
        if tuple(conn.laddr) == tuple(peer) and conn.raddr and tuple(conn.raddr) == tuple(proxy):
            return conn.pid
    return None


def served(http_url: str, model: str) -> tuple[int, int]:
    """Triton's cumulative successes and failures of the model."""
    with urllib.request.urlopen(f"http://{http_url}/v2/models/{model}/stats") as response:
        stats = json.load(response)["model_stats"][0]["inference_stats"]
    return stats["success"]["count"], stats["fail"]["count"]


def test_every_worker_sends_the_header_and_the_shape(triton_server, tmp_path):
    out_json = tmp_path / "w.json"
    before = served(triton_server.http_url, "dynamic_identity")
    with RecordingProxy(triton_server.http_url) as proxy:
        run = profile(
            "-m",
            "dynamic_identity",
            "-u",
            proxy.url,
            "-H",
            "X-Probe:abc",
            "--shape",
            "INPUT0:16",
            "--concurrency-range",
            "2",
            "-p",
            "500",
            "-r",
            "6",
            "--processes",
            "2",
            "--json",
            str(out_json),
        )
        seen = list(proxy.seen)
    after = served(triton_server.http_url, "dynamic_identity")
    assert run.returncode in (0, 1), run.stderr[-3000:]
    assert all(level["merged"]["error_count"] == 0 for level in load_levels(out_json))

    # Every request the server saw, the master's control calls too, carries the header.
    assert seen and [s.path for s in seen if s.headers.get("x-probe") != "abc"] == []
    infers = [s for s in seen if s.path.endswith("/infer")]
    assert len(infers) == after[0] - before[0] > 0  # each one served, none failed
    assert after[1] == before[1]
    # ... and sent by both workers, each with the shape.
    assert len({s.pid for s in infers}) == 2 and None not in {s.pid for s in infers}
    assert {(i["name"], tuple(i["shape"])) for s in infers for i in s.inputs} == {
        ("INPUT0", (16,))
    }
