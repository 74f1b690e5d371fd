"""Benchmark: would python-hyper's `h2` (sans-IO HTTP/2) do for our gRPC path? (issue 12)

The same unary ModelInfer against the embedded server's identity model, over the same
sockets (triton_user.wire.sockets.connect, blocking OS threads as `--client-io threads`),
timed the same way, the HTTP/2 done two ways:

  ours: triton_user.wire.grpc_client.GrpcInferClient (our framing, `hpack` for headers);
  h2:   h2.connection.H2Connection driving the socket (its state machine, its flow control).

For each concurrency, a few alternating rounds of a few seconds each; we print this
process's CPU per request (time.process_time: every thread of the client, never the
server's) and the throughput. Needs `pip install h2` (not a dependency of ours).

    python bench/h2_cost.py [--concurrency 1,4] [--seconds 4] [--rounds 2]
"""

from __future__ import annotations

import argparse
import threading
import time

import h2.config
import h2.connection
import h2.events
import h2.settings
import numpy as np

from analysis.settings import host_port
from triton_locust.server import TritonServer, free_ports
from triton_user.wire.grpc_client import (
    INFER_PATH,
    GrpcInferClient,
    _message_error,
    _status,
    encode_request,
    grpc_message,
)
from triton_user.wire.sockets import connect
from triton_user.wire.tensor import Tensor
from triton_user.wire.timing import Timing

MODEL = "identity_fp32"
REQUEST = encode_request(
    MODEL, "", [Tensor("INPUT0", "FP32", (16,), np.zeros(16, np.float32))], ["OUTPUT0"]
)


class H2InferClient:
    """The unary call on h2's state machine, as one would adopt it: our socket and timing."""

    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        host, port = host_port(url)
        self._sock = connect((host, port), timeout_s, "threads")
        self._conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        )
        self._conn.initiate_connection()
        self._conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 2**31 - 1})
        self._conn.increment_flow_control_window(2**31 - 1 - 65_535)
        self._sock.sendall(self._conn.data_to_send())
        self._headers = [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", INFER_PATH),
            (":authority", f"{host}:{port}"),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
        ]

    def infer(self, request: bytes) -> Timing:
        start = time.monotonic_ns()
        conn, sock = self._conn, self._sock
        stream = conn.get_next_available_stream_id()
        conn.send_headers(stream, self._headers)
        conn.send_data(stream, grpc_message(request), end_stream=True)
        sock.sendall(conn.data_to_send())
        sent = time.monotonic_ns()
        first, headers, body, ended = 0, [], bytearray(), False
        while not ended:
            data = sock.recv(262_144)
            now = time.monotonic_ns()
            if not data:
                raise ConnectionError("server closed the connection")
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    first = first or now
                    headers += event.headers
                elif isinstance(event, h2.events.DataReceived):
                    first = first or now
                    body += event.data
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.TrailersReceived):
                    headers += event.headers
                elif isinstance(event, h2.events.StreamEnded):
                    ended = True
                elif isinstance(event, h2.events.StreamReset | h2.events.ConnectionTerminated):
                    raise ConnectionError(repr(event))
            out = conn.data_to_send()
            if out:
                sock.sendall(out)
        error = _status(headers) or _message_error(bytes(body))
        end = time.monotonic_ns()
        return Timing(start, end, sent - start, end - first, len(body), error)


def run(make, url: str, concurrency: int, seconds: float) -> tuple[float, float]:
    """(CPU us per request, requests per second) of `concurrency` threads for `seconds`."""
    clients = [make(url) for _ in range(concurrency)]
    for client in clients:
        for _ in range(100):  # warm up: connections, caches
            assert client.infer(REQUEST).error is None
    counts = [0] * concurrency
    stop = threading.Event()

    def loop(i: int) -> None:
        client = clients[i]
        while not stop.is_set():
            if client.infer(REQUEST).error is not None:
                raise SystemExit("request failed")
            counts[i] += 1

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(concurrency)]
    cpu0, wall0 = time.process_time(), time.monotonic()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    return cpu / sum(counts) * 1e6, sum(counts) / wall


def main() -> None:
    parser = argparse.ArgumentParser(description="CPU per gRPC request: our HTTP/2 vs h2's")
    parser.add_argument("--concurrency", default="1,4")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    makers = {
        "ours": lambda url: GrpcInferClient(url, timeout_s=10.0, client_io="threads"),
        "h2": H2InferClient,
    }
    with TritonServer(*free_ports(3)) as server:
        print("conc  impl  cpu us/req (each round)        rps")
        for concurrency in (int(c) for c in args.concurrency.split(",")):
            figures: dict[str, list[tuple[float, float]]] = {name: [] for name in makers}
            for _ in range(args.rounds):
                for name, make in makers.items():
                    figures[name].append(run(make, server.grpc_url, concurrency, args.seconds))
            for name, rounds in figures.items():
                cpus = " ".join(f"{cpu:6.1f}" for cpu, _ in rounds)
                rps = sum(r for _, r in rounds) / len(rounds)
                print(f"{concurrency:4d}  {name:4s}  {cpus:28s}  {rps:6.0f}")
            ours = min(cpu for cpu, _ in figures["ours"])
            theirs = min(cpu for cpu, _ in figures["h2"])
            print(f"      h2/ours (best rounds): {theirs / ours:.2f}")


if __name__ == "__main__":
    main()
