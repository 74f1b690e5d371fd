"""What every user of a process sends: the model's requests, encoded once for the chosen
protocol (one for generated data; one per batch of data steps for --input-data files), how
a user sends them in perf_analyzer's order and checks their responses against validation
data, and how to open a connection for them. With --shared-memory system the requests name
regions (triton_user/requests/shared_memory.py) in place of carrying the tensors."""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from analysis.input_data import ITEM_SIZE
from analysis.settings import SweepSettings, authority, host_port
from triton_user.requests.control import TritonControl
from triton_user.requests.inputs import (
    DataRequest,
    InputError,
    ModelSignature,
    build_inputs,
    read_data,
)
from triton_user.requests.sequence_sender import SequenceBook, SequenceData, SequenceSender
from triton_user.requests.shared_memory import DISTRIBUTED, SharedMemoryError, SharedRegions
from triton_user.requests.validation import validated
from triton_user.wire import grpc_client, grpc_stream, http_client
from triton_user.wire.sockets import connect
from triton_user.wire.tensor import Region, Tensor
from triton_user.wire.timing import Timing
from triton_user.wire.tls import wire_tls

InferClient = (
    http_client.HttpInferClient | grpc_client.GrpcInferClient | grpc_stream.GrpcStreamClient
)


class Sender(Protocol):
    """A user's way to send: each call one request, its Timing back (never raises for a
    failed request); close() ends the user's connection."""

    def __call__(self) -> Timing: ...

    def close(self) -> None: ...


class UserNumbers:
    """The users of one process that send data steps, each numbered as perf_analyzer numbers
    its threads: the lowest number free. Users start on Locust's loop and may end in threads
    of their own; set operations are atomic under the GIL."""

    def __init__(self) -> None:
        self._taken: set[int] = set()

    def take(self) -> int:
        number = next(i for i in itertools.count() if i not in self._taken)
        self._taken.add(number)
        return number

    def release(self, number: int) -> None:
        self._taken.discard(number)

    @property
    def active(self) -> int:
        return len(self._taken) or 1


@dataclass(frozen=True)
class RequestPlan:
    settings: SweepSettings
    signature: ModelSignature
    # Each request's whole wire form, in the order a user cycles through them: one for
    # generated data, reused for every request.
    payloads: tuple[bytes, ...]
    # Per payload, the raw outputs its response must carry (validation_data; None: not
    # checked), and the data steps it sends; empty without data files.
    expected: tuple[Mapping[str, bytes] | None, ...] = ()
    wheres: tuple[str, ...] = ()
    users: UserNumbers = field(default_factory=UserNumbers, compare=False, repr=False)
    # JSON data files: their streams and the steps of the first (perf_analyzer says so).
    data_read: tuple[int, int] | None = None
    # --shared-memory system: the sweep's regions (released when it ends), and each
    # output's, which the server writes the responses into.
    regions: SharedRegions | None = field(default=None, compare=False, repr=False)
    output_regions: Mapping[str, Region] = field(default_factory=dict)
    # A sequence model: its steps' requests (per stream) and the process's sequences.
    sequence_data: SequenceData | None = None
    sequence_payloads: tuple[tuple[bytes, ...], ...] = ()
    sequences: SequenceBook | None = field(default=None, compare=False, repr=False)

    @property
    def payload(self) -> bytes:
        """The first request (the only one for generated data)."""
        return self.payloads[0]

    @property
    def validates(self) -> bool:
        """Whether responses are decoded and checked (the data files hold validation_data)."""
        return any(e is not None for e in self.expected)

    @classmethod
    def build(
        cls,
        settings: SweepSettings,
        signature: ModelSignature,
        regions: SharedRegions | None = None,
    ) -> RequestPlan:
        """Raises InputError when the model's inputs cannot be built from the settings (for
        data files: one line naming the file, the step and the input). With
        --shared-memory system, `regions` is where the inputs and outputs are put and
        registered (the caller releases them, also when this raises)."""
        if signature.sequence:
            return cls._for_sequences(settings, signature)
        data_read = None
        if settings.input_files:
            data = read_data(signature, settings.input_files, settings.batch_size, settings.shapes)
            requests, data_read = data.requests, data.streams_and_steps
        else:
            tensors = build_inputs(
                signature,
                batch_size=settings.batch_size,
                input_data=settings.input_data,
                shapes=settings.shapes,
                string_length=settings.string_length,
            )
            requests = [DataRequest(tensors, None, "")]
        expected = tuple(r.expected for r in requests)
        validates = any(e is not None for e in expected)
        output_regions: dict[str, Region] = {}
        if settings.shared_memory != "none":
            if validates:
                raise InputError(SHM_VALIDATION)
            if regions is None:  # a Locust worker builds its own plan (the master refuses)
                raise InputError(DISTRIBUTED)
            try:
                output_regions = _output_regions(regions, settings, signature)
                requests = [_in_regions(regions, r) for r in requests]
            except SharedMemoryError as exc:
                raise InputError(str(exc)) from None
        payloads = tuple(_encode(settings, signature, r.tensors, output_regions) for r in requests)
        return cls(
            settings,
            signature,
            payloads,
            expected if validates else (),
            tuple(r.where for r in requests) if settings.input_files else (),
            data_read=data_read,
            regions=regions if settings.shared_memory != "none" else None,
            output_regions=output_regions,
        )

    @classmethod
    def _for_sequences(cls, settings: SweepSettings, signature: ModelSignature) -> RequestPlan:
        """A sequence model's plan: each data step encoded once (sequence_sender.py adds
        the sequence's parameters per request), and perf_analyzer's settings for such a
        model. Raises InputError."""
        try:
            settings = settings.for_sequence_model()
        except ValueError as exc:
            raise InputError(str(exc)) from None
        data = SequenceData.build(settings, signature)
        payloads = tuple(
            tuple(_encode(settings, signature, tensors, {}) for tensors in stream)
            for stream in data.streams
        )
        first = len(data.streams[0])
        return cls(
            settings,
            signature,
            payloads[0],
            data_read=(len(data.streams), first) if data.from_files else None,
            sequence_data=data,
            sequence_payloads=payloads,
            sequences=SequenceBook(settings, data.stream_lengths),
        )

    def sender(self, client: InferClient) -> Sender:
        """How a user sends its requests over `client`. One payload and nothing to check:
        the payload, as is, every time (no cost per request beyond the call)."""
        if self.sequences is not None and self.sequence_data is not None:
            grpc = self.settings.protocol == "grpc"
            data, payloads = self.sequence_data, self.sequence_payloads
            return SequenceSender(self.sequences, data, payloads, client, grpc)
        if len(self.payloads) == 1 and not self.validates:
            send = functools.partial(client.infer, self.payloads[0])
            send.close = client.close  # type: ignore[attr-defined]
            return send  # type: ignore[return-value]
        return StepSender(self, client)

    @classmethod
    def discover(cls, settings: SweepSettings) -> RequestPlan:
        """Ask the server for the model's signature, then build. Raises ControlError or
        InputError with a one-line message."""
        control = TritonControl.of(settings)
        try:
            return cls.build(settings, control.signature(settings.model, settings.model_version))
        finally:
            control.close()

    def new_client(self) -> InferClient:
        """A connection of the settings' client_io: blocking sockets for a user in an OS
        thread ("threads"), gevent's for a cooperative one ("gevent"); over TLS, in the
        context built once for these settings."""
        timeout_s = self.settings.request_timeout_ms / 1000
        tls = wire_tls(self.settings)
        if self.settings.protocol == "grpc":
            # --streaming: one ModelStreamInfer stream per user (perf_analyzer: per context).
            grpc = grpc_stream.GrpcStreamClient if self.settings.streaming else None
            return (grpc or grpc_client.GrpcInferClient)(
                self.settings.url,
                self.settings.headers,
                timeout_s=timeout_s,
                client_io=self.settings.client_io,
                tls=tls,
            )
        return http_client.HttpInferClient(
            self.settings.url, timeout_s=timeout_s, client_io=self.settings.client_io, tls=tls
        )

    def check_tls(self) -> None:
        """One TLS handshake as the users' connections will make it (their context, ALPN,
        libcurl's name check without verify-peer), before any load: a certificate the
        users would refuse is one error now rather than one per request. Raises OSError or
        ValueError (ssl's errors are both)."""
        tls = wire_tls(self.settings)
        if tls is None:
            return
        timeout_s = min(self.settings.request_timeout_ms / 1000, 10.0)
        connect(host_port(self.settings.url), timeout_s, self.settings.client_io, tls).close()

    @property
    def request_type(self) -> str:
        """The request type Locust's statistics and UI show."""
        return "gRPC" if self.settings.protocol == "grpc" else "HTTP"


# perf_analyzer checks validation data against the response's output data, which with
# shared memory is in a region every request shares: each of its requests fails.
SHM_VALIDATION = (
    "--shared-memory with validation_data in --input-data: perf_analyzer fails every such "
    'request ("Output size doesn\'t match expected size": the outputs are in one region all '
    "requests share, not in the response); leave out one of them"
)


def _encode(
    settings: SweepSettings,
    signature: ModelSignature,
    tensors: Sequence[Tensor],
    output_regions: Mapping[str, Region],
) -> bytes:
    if settings.protocol == "grpc":
        return grpc_client.encode_request(
            settings.model, settings.model_version, tensors, signature.outputs, output_regions
        )
    return http_client.encode_request(
        authority(settings.url),
        settings.model,
        settings.model_version,
        tensors,
        signature.outputs,
        settings.headers,
        output_regions,
    )


def _in_regions(regions: SharedRegions, request: DataRequest) -> DataRequest:
    """The request with each input in a region of its own, named as perf_analyzer names it:
    the input, stream 0, the request's first data step. Raises SharedMemoryError."""
    tensors = []
    for t in request.tensors:
        raw = t.raw_bytes()
        region = regions.add(f"{t.name}_0_{request.start}", len(raw), raw)
        tensors.append(replace(t, data=b"", region=region))
    return replace(request, tensors=tensors)


def _output_regions(
    regions: SharedRegions, settings: SweepSettings, signature: ModelSignature
) -> dict[str, Region]:
    """A region per output, for one request's batch: its size from the model's dims, or
    --output-shared-memory-size per batch element for BYTES and dynamic dims
    (perf_analyzer's CreateOutputMemoryRegions). Raises SharedMemoryError, InputError."""
    types = {name: (datatype, dims) for name, datatype, dims in signature.output_types}
    made = {}
    for name in signature.outputs:
        datatype, dims = types.get(name, ("BYTES", (-1,)))
        fixed = datatype in ITEM_SIZE and all(d >= 0 for d in dims)
        if fixed:
            per_element = ITEM_SIZE[datatype] * math.prod(dims)
        else:
            per_element = settings.output_shared_memory_size
            if per_element == 0:
                raise InputError(
                    f"--output-shared-memory-size 0: output {name} of model {signature.name} "
                    "has no fixed size, and its region would hold nothing"
                )
        made[name] = regions.add(name, per_element * settings.batch_size)
    return made


class StepSender:
    """A user's requests over data steps, in perf_analyzer's order (infer_context.cc,
    UpdateJsonData): user i of N sends its data step ids i, i+N, i+2N, ..., each id k the
    batch of steps k*b .. k*b+b-1; N is the users sending now. With validation data, each
    response is decoded and compared byte for byte with what its steps expect: a mismatch is
    a failed request, in perf_analyzer's words."""

    def __init__(self, plan: RequestPlan, client: InferClient) -> None:
        self._client = client
        self._infer = client.infer
        self._payloads = plan.payloads
        self._expected = plan.expected or (None,) * len(plan.payloads)
        self._wheres = plan.wheres
        self._users = plan.users
        self._number = plan.users.take()
        self._next = self._number  # perf_analyzer's data_step_id_ starts at the thread's id

    def __call__(self) -> Timing:
        k = self._next % len(self._payloads)
        self._next += self._users.active
        t = self._infer(self._payloads[k])
        if self._expected[k] is None:
            return t
        return validated(t, self._client, self._expected[k], self._wheres[k])

    def close(self) -> None:
        self._users.release(self._number)
        self._client.close()
