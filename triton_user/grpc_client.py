"""KServe v2 inference over gRPC, cooperative with gevent.

The request is serialised to its protobuf wire form once per input set and handed to
grpcio as bytes (no serialiser on the call), so each request costs no marshalling. Timing,
in the parts the client can see:
  marshal (send): from the start until the call is handed to grpcio;
  response wait: the unary call, from hand-over until grpcio returns the response bytes;
  unmarshal (recv): parsing the ModelInferResponse protobuf.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence

import grpc
from tritonclient.grpc import service_pb2

from triton_user.http_client import Timing
from triton_user.inputs import Tensor

_INFER_METHOD = "/inference.GRPCInferenceService/ModelInfer"
# tritonclient's own limit: models with large tensors must not fail on message size.
_CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", 2**31 - 1),
    ("grpc.max_receive_message_length", 2**31 - 1),
]

_gevent_lock = threading.Lock()
_gevent_ready = False


def make_grpc_cooperative() -> None:
    """grpcio blocks the whole gevent hub unless told about gevent, once, before the first
    channel: then many users share one process."""
    global _gevent_ready
    with _gevent_lock:
        if _gevent_ready:
            return
        from gevent import monkey

        if monkey.is_module_patched("socket"):
            from grpc.experimental import gevent as grpc_gevent

            grpc_gevent.init_gevent()
        _gevent_ready = True


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


class GrpcInferClient:
    """One channel per client, as perf_analyzer gives each of its contexts its own."""

    def __init__(
        self, url: str, headers: Mapping[str, str] | None = None, timeout_s: float = 60.0
    ) -> None:
        make_grpc_cooperative()
        self._channel = grpc.insecure_channel(url.split("://", 1)[-1], options=_CHANNEL_OPTIONS)
        # No serialisers: requests go out as the bytes we built, responses come back as bytes.
        self._call = self._channel.unary_unary(_INFER_METHOD)
        self._metadata = tuple((k.lower(), v) for k, v in (headers or {}).items()) or None
        self._timeout_s = timeout_s

    def close(self) -> None:
        self._channel.close()

    def infer(self, request: bytes) -> Timing:
        start = time.monotonic_ns()
        handed = time.monotonic_ns()
        try:
            raw = self._call(request, metadata=self._metadata, timeout=self._timeout_s)
        except grpc.RpcError as exc:
            end = time.monotonic_ns()
            return Timing(
                start, end, handed - start, 0, 0, f"gRPC {exc.code().name}: {exc.details()}"
            )
        arrived = time.monotonic_ns()
        error = None
        try:
            service_pb2.ModelInferResponse.FromString(raw)
        except Exception as exc:  # protobuf's DecodeError has no stable import path
            error = f"malformed inference response: {exc}"
        end = time.monotonic_ns()
        return Timing(start, end, handed - start, end - arrived, len(raw), error)
