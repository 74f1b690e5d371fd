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
from triton_user.wire.tls import ClientTls

INFER_PATH = "/inference.GRPCInferenceService/ModelInfer"
# Tries on a new connection for a request the server did not take (GOAWAY, REFUSED_STREAM).
RETRIES = 2


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
        tls: ClientTls | None = None,
    ) -> None:
        """`tls`: gRPC over TLS (--ssl-grpc-use-ssl), its context built once per settings."""
        self._address = host_port(url)
        self._client_io = client_io
        self._timeout_s = timeout_s
        self._tls = tls
        host, port = self._address
        self._header_block = encode_headers(
            [
                (":method", "POST"),
                (":scheme", "http" if tls is None else "https"),
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
        """`request` is a serialised ModelInferRequest (see encode_request). Never raises: a
        failure is the Timing's error."""
        start = time.monotonic_ns()
        deadline = self._deadline
        message = grpc_message(request)
        try:
            # A request the server did not take (GOAWAY, REFUSED_STREAM) goes again on a new
            # connection: a graceful close costs no error, as in grpc's own clients.
            for attempt in range(RETRIES + 1):
                if self._conn is None or self._conn.closed:
                    self._conn = Http2Connection(
                        self._address, self._timeout_s, self._client_io, self._tls
                    )
                deadline.arm(self._conn.sock)
                try:
                    response = self._conn.request(self._header_block, message)
                    break
                except Http2Error as exc:
                    if not exc.retry or attempt == RETRIES:
                        raise
                    deadline.disarm()
        except (OSError, ValueError, Http2Error) as exc:  # ValueError: a certificate refused
            return self._failed(start, exc)
        except Exception as exc:  # a defect of ours: one error of this request, not a crash
            return self._failed(start, exc, internal=True)
        deadline.disarm()
        self._backoff.succeeded()
        error = _status(response.headers) or _message_error(response.body)
        if error is not None:
            ErrorLog.note(error)
        end = time.monotonic_ns()
        first = response.first_byte_ns or end
        return Timing(start, end, response.sent_ns - start, end - first, len(response.body), error)

    def _failed(self, start: int, exc: BaseException, internal: bool = False) -> Timing:
        deadline = self._deadline
        deadline.disarm()
        if not (isinstance(exc, Http2Error) and exc.keep_connection):
            self.close()
        end = time.monotonic_ns()
        cause = exc.__cause__ if isinstance(exc, Http2Error) and exc.__cause__ else exc
        if deadline.timed_out(cause):
            error = timeout_message(self._timeout_s)
        elif internal:
            error = f"gRPC client error: {type(exc).__name__}: {exc}"
        else:
            error = f"gRPC connection failed: {exc}"
        ErrorLog.note(error)
        if not (isinstance(exc, Http2Error) and exc.keep_connection):
            self._backoff.failed()
        return Timing(start, end, 0, 0, 0, error)


def _message_error(body: bytes) -> str | None:
    """The one gRPC message of a unary response, checked as a client library does: its
    5-byte prefix (compression flag, length) and then the protobuf."""
    if len(body) < 5:
        return f"truncated gRPC message: {len(body)} bytes, short of its 5-byte prefix"
    if body[0]:
        # We send no grpc-accept-encoding: a server must not compress.
        return f"compressed gRPC message (flag {body[0]}), though none was accepted"
    length, got = int.from_bytes(body[1:5], "big"), len(body) - 5
    if got < length:
        return f"truncated gRPC message: {got} of its {length} bytes"
    if got > length:
        return f"gRPC message length {length}, but {got} bytes follow (a unary call has one)"
    try:
        service_pb2.ModelInferResponse.FromString(body[5:])
    except Exception as exc:  # protobuf's DecodeError has no stable import path
        return f"malformed inference response: {exc}"
    return None
