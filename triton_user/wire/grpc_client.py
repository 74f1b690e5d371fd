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
from typing import Any

from tritonclient.grpc import service_pb2

from analysis.settings import host_port
from triton_user.wire.http2 import Http2Connection, Http2Error, encode_headers
from triton_user.wire.sockets import Backoff, Deadline
from triton_user.wire.tensor import Region, Tensor, raw_values
from triton_user.wire.timing import ErrorLog, Timing, timeout_message
from triton_user.wire.tls import ClientTls

INFER_PATH = "/inference.GRPCInferenceService/ModelInfer"
# Tries on a new connection for a request the server did not take (GOAWAY, REFUSED_STREAM).
RETRIES = 2


def encode_request(
    model: str,
    version: str,
    inputs: Sequence[Tensor],
    outputs: Sequence[str],
    output_regions: Mapping[str, Region] | None = None,
) -> bytes:
    """A serialised ModelInferRequest carrying the tensors as raw contents. An input with a
    region (--shared-memory) is named by its parameters instead, and has no raw contents;
    an output in `output_regions` is written there by the server."""
    output_regions = output_regions or {}
    request = service_pb2.ModelInferRequest(model_name=model, model_version=version)
    for tensor in inputs:
        entry = request.inputs.add()
        entry.name = tensor.name
        entry.datatype = tensor.datatype
        entry.shape.extend(tensor.shape)
        if tensor.region is not None:
            _point_at(entry.parameters, tensor.region)
        else:
            request.raw_input_contents.append(tensor.raw_bytes())
    for name in outputs:
        entry = request.outputs.add()
        entry.name = name
        if name in output_regions:
            _point_at(entry.parameters, output_regions[name])
    return request.SerializeToString()


def _point_at(parameters: Any, region: Region) -> None:
    """A tensor's InferParameter map naming its shared-memory region."""
    for key, value in region.parameters().items():
        if isinstance(value, str):
            parameters[key].string_param = value
        else:
            parameters[key].int64_param = value


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _parameter_entry(key: str, value: bytes) -> bytes:
    """One entry of ModelInferRequest's `parameters` map (field 4) in wire form: key and
    serialised InferParameter."""
    name = key.encode()
    entry = b"\x0a" + _varint(len(name)) + name + b"\x12" + _varint(len(value)) + value
    return b"\x22" + _varint(len(entry)) + entry


# InferParameter's bool_param is field 1, int64_param 2, string_param 3.
_SEQUENCE_FLAGS = {
    (start, end): _parameter_entry("sequence_start", b"\x08" + bytes([start]))
    + _parameter_entry("sequence_end", b"\x08" + bytes([end]))
    for start in (False, True)
    for end in (False, True)
}


def sequence_parameters(sequence_id: int | str, start: bool, end: bool) -> bytes:
    """A sequence request's parameters (sequence_id, sequence_start, sequence_end) as
    serialised map entries: appended to an encoded ModelInferRequest, protobuf merges them
    into its map, so the tensors are encoded once and only these few bytes per request."""
    if isinstance(sequence_id, str):
        raw = sequence_id.encode()
        value = b"\x1a" + _varint(len(raw)) + raw
    else:  # int64 on the wire: two's complement, as protobuf writes a negative one
        value = b"\x10" + _varint(sequence_id & 0xFFFFFFFFFFFFFFFF)
    return _parameter_entry("sequence_id", value) + _SEQUENCE_FLAGS[bool(start), bool(end)]


def grpc_message(message: bytes) -> bytes:
    """gRPC's length-prefixed message: no compression flag, 4-byte big-endian length."""
    return b"\x00" + len(message).to_bytes(4, "big") + message


def header_block(
    address: tuple[str, int],
    path: str,
    tls: ClientTls | None,
    headers: Mapping[str, str] | None,
) -> bytes:
    """The HPACK-encoded request headers of every call to `path` (encoded once per client):
    gRPC's own, then the user's metadata (-H), lower-cased as HTTP/2 wants them."""
    host, port = address
    return encode_headers(
        [
            (":method", "POST"),
            (":scheme", "http" if tls is None else "https"),
            (":path", path),
            (":authority", f"{host}:{port}"),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
            *((k.lower(), v) for k, v in (headers or {}).items()),
        ]
    )


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
    """One HTTP/2 connection per client (a user). perf_analyzer's clients share a channel,
    up to 6 per channel (tritonclient's channel cache); its figures on the accumulator at
    concurrency 4 were the same with sharing turned off."""

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
        self._header_block = header_block(self._address, INFER_PATH, tls, headers)
        self._conn: Http2Connection | None = None
        self._body = b""  # the last response's gRPC message: decoded only on demand
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
        self._body = response.body
        error = _status(response.headers) or _message_error(response.body)
        if error is not None:
            ErrorLog.note(error)
        end = time.monotonic_ns()
        first = response.first_byte_ns or end
        return Timing(start, end, response.sent_ns - start, end - first, len(response.body), error)

    def last_outputs(self) -> dict[str, bytes]:
        """The last successful response's outputs, raw (validation data is compared with
        them). Raises ValueError when the response cannot be decoded."""
        return response_outputs(self._body)

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


# ModelInferResponse's typed fields per datatype, for a server that sends no raw contents.
_TYPED_CONTENTS = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}


def response_outputs(message: bytes) -> dict[str, bytes]:
    """A unary response's outputs as raw bytes (BYTES: each element after its 4-byte
    length), from raw_output_contents as Triton sends them, or from typed contents. Raises
    ValueError."""
    try:
        response = service_pb2.ModelInferResponse.FromString(message[5:])
    except Exception as exc:  # protobuf's DecodeError has no stable import path
        raise ValueError(f"malformed inference response: {exc}") from None
    if response.raw_output_contents:
        if len(response.raw_output_contents) != len(response.outputs):
            raise ValueError(
                f"{len(response.outputs)} outputs but {len(response.raw_output_contents)} "
                "raw contents"
            )
        pairs = zip(response.outputs, response.raw_output_contents, strict=True)
        return {o.name: raw for o, raw in pairs}
    outputs = {}
    for o in response.outputs:
        typed = _TYPED_CONTENTS.get(o.datatype)
        if typed is None:
            raise ValueError(f"output {o.name}: datatype {o.datatype} is not supported")
        outputs[o.name] = raw_values(o.datatype, list(getattr(o.contents, typed)))
    return outputs


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
