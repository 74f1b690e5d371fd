"""KServe v2 inference over gRPC bidirectional streaming (--streaming): ModelStreamInfer on
our own HTTP/2 connection, one stream per client as perf_analyzer gives each context one.

Each request is one ModelInferRequest message on the stream; its responses are
ModelStreamInferResponse messages read until the final one. A decoupled model sends
several; Triton marks the final one with the parameter `triton_final_response` because we
ask it to (`triton_enable_empty_final_response`, as perf_analyzer does). A final flag that
comes alone (an empty response) is not a response: it is neither counted nor timed, as in
perf_analyzer. A response without the parameter is final (a model that is not decoupled).

Timing: the arrival of every response, after its decoding (perf_analyzer stamps its
callback); the request ends at its last response. Errors (an error_message, the stream
reset or ended, GOAWAY, the deadline) are the request's error, never an exception: the
stream, or the connection, is then opened anew for the next request.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from tritonclient.grpc import service_pb2

from analysis.settings import host_port
from triton_user.wire.grpc_client import (
    RETRIES,
    _status,
    grpc_message,
    header_block,
    response_outputs,
)
from triton_user.wire.http2 import Http2Connection, Http2Error, _StreamSink
from triton_user.wire.sockets import Backoff, Deadline
from triton_user.wire.timing import ErrorLog, Timing, timeout_message
from triton_user.wire.tls import ClientTls

STREAM_PATH = "/inference.GRPCInferenceService/ModelStreamInfer"
FINAL_PARAMETER = "triton_final_response"


def _final_flag_request() -> bytes:
    """Serialised protobuf messages merge when concatenated: appended to any request, this
    asks Triton to mark every response final or not (and to send a final flag alone)."""
    request = service_pb2.ModelInferRequest()
    request.parameters["triton_enable_empty_final_response"].bool_param = True
    return request.SerializeToString()


ASK_FINAL_FLAG = _final_flag_request()


class StreamResponses:
    """What one request's responses came to: their arrival times and total size."""

    __slots__ = ("times", "size", "error", "final", "last_body")

    def __init__(self) -> None:
        self.times: list[int] = []
        self.size = 0
        self.error: str | None = None
        self.final = False
        self.last_body = b""


def read_response(message: bytes, into: StreamResponses) -> None:
    """One ModelStreamInferResponse (without its 5-byte prefix) added to `into`: an error,
    a response (timed now), and whether it is the request's last."""
    try:
        reply = service_pb2.ModelStreamInferResponse.FromString(message)
    except Exception as exc:  # protobuf's DecodeError has no stable import path
        into.error, into.final = f"malformed stream response: {exc}", True
        return
    if reply.error_message:
        into.error, into.final = f"stream error: {reply.error_message}", True
        return
    response = reply.infer_response
    flag = response.parameters.get(FINAL_PARAMETER)
    final = flag.bool_param if flag is not None else True
    into.final = final
    if final and not response.outputs:
        return  # the final flag alone: no response (perf_analyzer's null response)
    into.times.append(time.monotonic_ns())
    into.size += len(message) + 5
    into.last_body = message


class GrpcStreamClient:
    """One HTTP/2 connection and one open ModelStreamInfer stream per client; the same
    constructor as GrpcInferClient."""

    def __init__(
        self,
        url: str,
        headers: Mapping[str, str] | None = None,
        timeout_s: float = 60.0,
        client_io: str = "gevent",
        tls: ClientTls | None = None,
    ) -> None:
        self._address = host_port(url)
        self._client_io = client_io
        self._timeout_s = timeout_s
        self._tls = tls
        self._header_block = header_block(self._address, STREAM_PATH, tls, headers)
        self._conn: Http2Connection | None = None
        self._sink: _StreamSink | None = None
        self._last_body = b""  # the last response's message: decoded only on demand
        self._deadline = Deadline(timeout_s, client_io)
        self._backoff = Backoff(client_io)

    def close(self) -> None:
        self._sink = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def infer(self, request: bytes, on_response: Callable[[int], None] | None = None) -> Timing:
        """`request` is a serialised ModelInferRequest (grpc_client.encode_request).
        `on_response(n)` is called once the n-th response of this request has arrived.
        Never raises: a failure is the Timing's error."""
        start = time.monotonic_ns()
        message = grpc_message(request + ASK_FINAL_FLAG)
        got = StreamResponses()
        deadline = self._deadline
        try:
            for attempt in range(RETRIES + 1):
                try:
                    sent = self._send(message)
                    break
                except Http2Error as exc:
                    self._sink = None
                    deadline.disarm()
                    if not exc.retry or attempt == RETRIES:
                        raise
            self._receive(got, on_response)
        except (OSError, ValueError, Http2Error) as exc:  # ValueError: a certificate refused
            return self._failed(start, got, exc)
        except Exception as exc:  # a defect of ours (or of on_response): this request's error
            return self._failed(start, got, exc, internal=True)
        deadline.disarm()
        if got.error is not None:
            ErrorLog.note(got.error)
        else:
            self._backoff.succeeded()
            self._last_body = got.last_body
        end = got.times[-1] if got.times else time.monotonic_ns()
        if self._conn is not None and self._conn.going_away:
            self.close()  # the server answered; the next request goes on a new connection
        return Timing(
            start, end, sent - start, 0, got.size, got.error, responses_ns=tuple(got.times)
        )

    def last_outputs(self) -> dict[str, bytes]:
        """The last successful response's outputs, raw. Raises ValueError."""
        reply = service_pb2.ModelStreamInferResponse.FromString(self._last_body)
        return response_outputs(b"\0\0\0\0\0" + reply.infer_response.SerializeToString())

    def open(self) -> None:
        """Connect and open the stream now, ahead of the first request, as perf_analyzer
        starts a context's stream when it makes the context: no request's time then holds
        the handshake. Raises OSError, ValueError (a certificate refused), Http2Error."""
        if self._conn is None or self._conn.closed:
            self._sink = None
            self._conn = Http2Connection(self._address, self._timeout_s, self._client_io, self._tls)
        if self._sink is None or self._sink.ended:
            self._sink = self._conn.open_stream(self._header_block)

    def _send(self, message: bytes) -> int:
        """The request on the open stream (opened, on a new connection if need be)."""
        self.open()
        assert self._conn is not None and self._sink is not None
        self._deadline.arm(self._conn.sock)
        return self._conn.send_message(self._sink, message)

    def _receive(self, got: StreamResponses, on_response: Callable[[int], None] | None) -> None:
        """Messages off the stream until this request's final response."""
        conn, sink = self._conn, self._sink
        assert conn is not None and sink is not None
        body = sink.body
        while True:
            # Whole messages already read first: several may come in one frame.
            while len(body) >= 5:
                length = int.from_bytes(body[1:5], "big")
                if len(body) < 5 + length:
                    break
                if body[0]:
                    raise Http2Error(f"compressed gRPC message (flag {body[0]}), none accepted")
                message = bytes(body[5 : 5 + length])
                del body[: 5 + length]
                count = len(got.times)
                read_response(message, got)
                if on_response is not None and len(got.times) > count:
                    on_response(len(got.times))
                if got.final:
                    return
            if sink.ended:
                self._sink = None
                error = _status(sink.headers) or "the server ended the stream"
                raise Http2Error(
                    f"stream ended before the final response: {error}", keep_connection=True
                )
            conn.pump(sink)

    def _failed(
        self, start: int, got: StreamResponses, exc: BaseException, internal: bool = False
    ) -> Timing:
        deadline = self._deadline
        deadline.disarm()
        keep = isinstance(exc, Http2Error) and exc.keep_connection
        if keep:
            self._sink = None  # the stream is gone; the connection goes on
        else:
            self.close()
        end = time.monotonic_ns()
        cause = exc.__cause__ if isinstance(exc, Http2Error) and exc.__cause__ else exc
        if deadline.timed_out(cause):
            error = timeout_message(self._timeout_s)
        elif internal:
            error = f"gRPC client error: {type(exc).__name__}: {exc}"
        else:
            error = f"gRPC stream failed: {exc}"
        ErrorLog.note(error)
        if not keep:
            self._backoff.failed()
        return Timing(start, end, 0, 0, got.size, error, responses_ns=tuple(got.times))
