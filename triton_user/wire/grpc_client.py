"""KServe v2 inference over gRPC: unary ModelInfer calls on our own HTTP/2 connection
(triton_user/http2.py), cooperative with gevent because it is a plain patched socket.

The request is serialised to its protobuf wire form once per input set and reused. Timing,
in the parts the client can see:
  marshal (send): from the start until the request's last byte is handed to the kernel;
  response wait: until the first frame of the response arrives;
  unmarshal (recv): reading the rest and parsing the ModelInferResponse protobuf.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Mapping, Sequence

from tritonclient.grpc import service_pb2

from analysis.settings import host_port
from triton_user.wire.http2 import Http2Connection, Http2Error, encode_headers
from triton_user.wire.sockets import Backoff, Deadline
from triton_user.wire.tensor import Tensor
from triton_user.wire.timing import ErrorLog, Timing, timeout_message

INFER_PATH = "/inference.GRPCInferenceService/ModelInfer"


def encode_request(
    model: str, version: str, inputs: Sequence[Tensor], outputs: Sequence[str]
) -> bytes:
    """A serialised ModelInferRequest carrying the tensors as raw contents."""
    request = service_pb2.ModelInferRequest(model_name=model, model_version=version)
    for tensor in inputs:
        entry = request.inputs.add()
        entry.name = tensor.name
        entry.datatype = tensor.datatype
        entry.shape.extend(tensor.shape)
        request.raw_input_contents.append(tensor.raw_bytes())
    for name in outputs:
        request.outputs.add().name = name
    return request.SerializeToString()


def grpc_message(message: bytes) -> bytes:
    """gRPC's length-prefixed message: no compression flag, 4-byte big-endian length."""
    return b"\x00" + len(message).to_bytes(4, "big") + message


def _status(headers: list[tuple[str, str]]) -> str | None:
    """None when the call succeeded, else the error gRPC reported."""
    fields = dict(headers)
    if fields.get(":status") != "200":
        return f"gRPC over HTTP/2 status {fields.get(':status')}"
    code = fields.get("grpc-status")
    if code == "0":
        return None
    detail = urllib.parse.unquote(fields.get("grpc-message", ""))
    return f"gRPC status {code}: {detail}" if code else "gRPC response without grpc-status"


class GrpcInferClient:
    """One HTTP/2 connection per client, as perf_analyzer gives each context its own."""

    def __init__(
        self,
        url: str,
        headers: Mapping[str, str] | None = None,
        timeout_s: float = 60.0,
        client_io: str = "gevent",
    ) -> None:
        self._address = host_port(url)
        self._client_io = client_io
        self._timeout_s = timeout_s
        host, port = self._address
        self._header_block = encode_headers(
            [
                (":method", "POST"),
                (":scheme", "http"),
                (":path", INFER_PATH),
                (":authority", f"{host}:{port}"),
                ("content-type", "application/grpc"),
                ("te", "trailers"),
                *((k.lower(), v) for k, v in (headers or {}).items()),
            ]
        )
        self._conn: Http2Connection | None = None
        self._deadline = Deadline(timeout_s, client_io)
        self._backoff = Backoff(client_io)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def infer(self, request: bytes) -> Timing:
        """`request` is a serialised ModelInferRequest (see encode_request)."""
        start = time.monotonic_ns()
        deadline = self._deadline
        try:
            if self._conn is None or self._conn.closed:
                self._conn = Http2Connection(self._address, self._timeout_s, self._client_io)
            deadline.arm(self._conn.sock)
            response = self._conn.request(self._header_block, grpc_message(request))
        except (OSError, Http2Error) as exc:
            deadline.disarm()
            self.close()
            end = time.monotonic_ns()
            cause = exc.__cause__ if isinstance(exc, Http2Error) and exc.__cause__ else exc
            if deadline.timed_out(cause):
                error = timeout_message(self._timeout_s)
            else:
                error = f"gRPC connection failed: {exc}"
            ErrorLog.note(error)
            self._backoff.failed()
            return Timing(start, end, 0, 0, 0, error)
        deadline.disarm()
        self._backoff.succeeded()
        error = _status(response.headers)
        if error is None:
            try:
                service_pb2.ModelInferResponse.FromString(response.body[5:])
            except Exception as exc:  # protobuf's DecodeError has no stable import path
                error = f"malformed inference response: {exc}"
        if error is not None:
            ErrorLog.note(error)
        end = time.monotonic_ns()
        first = response.first_byte_ns or end
        return Timing(start, end, response.sent_ns - start, end - first, len(response.body), error)
