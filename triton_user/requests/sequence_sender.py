"""Requests to a sequence (stateful) model: each carries its sequence's correlation ID and
START/END flags (analysis/sequences.py hands them out as perf_analyzer does). The tensors
are encoded once per data step; per request only the sequence parameters are added: a few
serialised protobuf map entries appended to the gRPC message, or the JSON inference header
rebuilt over HTTP.

Concurrency mode: a user is a sequence slot, one sequence after another. Request-rate mode:
the process runs --num-of-sequences sequences (a Locust worker its part of them), each
user its share of them, picking one at random per request (--serial-sequences: each in
turn). Locust workers split the correlation IDs (`SequenceBook.split`), so none is sent by
two."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gevent import monkey

from analysis.input_data import (
    DirectorySource,
    InputDataError,
    TensorSpec,
    parse_input_data,
    read_sources,
)
from analysis.sequences import SequenceManager, SequenceRequest, SlotChooser, share, worker_ids
from analysis.settings import SweepSettings
from triton_user.requests.inputs import InputError, ModelSignature, build_inputs
from triton_user.requests.validation import validated
from triton_user.wire import grpc_client, http_client
from triton_user.wire.tensor import Tensor
from triton_user.wire.timing import Timing

# A real lock: users in OS threads and greenlets share the book; it is never held across
# a switch.
_allocate_lock = monkey.get_original("_thread", "allocate_lock")

SEQUENCE_BATCH = "can not specify batch size > 1 when using a sequence model"


@dataclass(frozen=True)
class SequenceData:
    """The steps a sequence model's requests send: for each --input-data stream, each
    step's tensors (generated data: one stream of one step), the outputs its response must
    carry (validation_data; None: not checked) and where it comes from."""

    streams: tuple[tuple[Sequence[Tensor], ...], ...]
    expected: tuple[tuple[Mapping[str, bytes] | None, ...], ...]
    wheres: tuple[tuple[str, ...], ...]
    from_files: bool  # JSON files: the sequences follow their streams

    @property
    def validates(self) -> bool:
        return any(e is not None for stream in self.expected for e in stream)

    @classmethod
    def build(cls, settings: SweepSettings, signature: ModelSignature) -> SequenceData:
        """Raises InputError: -b above 1 (perf_analyzer's words), or data files that do not
        fit the model."""
        if settings.batch_size > 1 and signature.max_batch_size > 0:
            raise InputError(f"-b {settings.batch_size}: {SEQUENCE_BATCH}")
        threads, sequences = settings.rate.max_threads, settings.sequence.num_of_sequences
        if settings.rate_mode and settings.sequence.serial and threads > sequences:
            # perf_analyzer runs min(--max-threads, --num-of-sequences) threads; our users
            # are --max-threads, and two on one sequence could both have a request in flight.
            raise InputError(
                f"--serial-sequences: --max-threads {threads} is above --num-of-sequences "
                f"{sequences}, which would put two users on one sequence; give --max-threads "
                f"{sequences}"
            )
        if settings.shared_memory != "none":
            raise InputError(
                "--shared-memory with a sequence model: not supported yet (leave it out)"
            )
        if not settings.input_files:
            tensors = build_inputs(
                signature,
                batch_size=settings.batch_size,
                input_data=settings.input_data,
                shapes=settings.shapes,
                string_length=settings.string_length,
            )
            return cls(((tensors,),), ((None,),), (("",),), False)
        inputs = [TensorSpec(*spec) for spec in signature.inputs]
        outputs = [TensorSpec(*spec) for spec in signature.output_types]
        try:
            sources = read_sources(settings.input_files)
            data = parse_input_data(sources, inputs, outputs, settings.shapes)
        except InputDataError as exc:
            raise InputError(str(exc)) from None
        lead = (1,) if signature.max_batch_size > 0 else ()  # -b is 1

        def tensors(step: Mapping[str, Any]) -> list[Tensor]:
            return [
                Tensor(t.name, t.datatype, (*lead, *step[t.name].shape), step[t.name].raw)
                for t in inputs
            ]

        streams = tuple(tuple(tensors(step.inputs) for step in s) for s in data.streams)
        expected = tuple(tuple(step.expected or None for step in s) for s in data.streams)
        wheres = tuple(tuple(step.where for step in s) for s in data.streams)
        # A directory is one step, not a stream: perf_analyzer's sequences then take their
        # lengths from --sequence-length, as with generated data.
        json_files = not any(isinstance(source, DirectorySource) for source in sources)
        return cls(streams, expected, wheres, json_files)

    @property
    def stream_lengths(self) -> tuple[int, ...]:
        """Each stream's steps: the sequences' lengths come from them (data files only)."""
        return tuple(len(s) for s in self.streams) if self.from_files else ()


class SequenceBook:
    """A process's sequences: the manager, the users' numbers (each a slot in concurrency
    mode), the lock their threads take; and, on a Locust worker, its part of the IDs and of
    --num-of-sequences."""

    def __init__(self, settings: SweepSettings, stream_lengths: Sequence[int]) -> None:
        self.settings = settings
        self._stream_lengths = tuple(stream_lengths)
        self.lock = _allocate_lock()
        self._taken: set[int] = set()
        self.sequences = settings.sequence.num_of_sequences
        self.manager = self._manager(None, None)

    def _manager(self, id_start: int | None, id_range: int | None) -> SequenceManager:
        slots = self.sequences if self.settings.rate_mode else 0
        return SequenceManager(
            self.settings.sequence, slots, self._stream_lengths, 0, id_start, id_range
        )

    def split(self, index: int, count: int) -> None:
        """Locust worker `index` of `count`: its part of the IDs (and, in request-rate mode,
        of the sequences). Before any request. Raises InputError."""
        if count <= 1:
            return
        if not 0 <= index < count:
            raise InputError(
                f"Locust worker {index}: joined after the sweep split the sequence IDs over "
                f"{count} workers; its IDs could collide with another's (restart the sweep)"
            )
        try:
            id_start, id_range = worker_ids(self.settings.sequence, index, count)
        except ValueError as exc:
            raise InputError(str(exc)) from None
        total = self.settings.sequence.num_of_sequences
        self.sequences = max(1, len(share(total, index, count)) if total >= count else 1)
        self.manager = self._manager(id_start, id_range)

    def take(self) -> int:
        with self.lock:
            number = next(i for i in itertools.count() if i not in self._taken)
            self._taken.add(number)
            return number

    def leave(self, number: int) -> list[SequenceRequest]:
        """User `number` leaves: the END requests it sends on its way out (its sequence
        under way in concurrency mode; every one left unfinished when it is the last user
        of request-rate mode)."""
        with self.lock:
            self._taken.discard(number)
            if not self.settings.rate_mode:
                slots: Sequence[int] = [number]
            else:
                slots = [] if self._taken else range(self.manager.slots)
            ends = (self.manager.finish(slot) for slot in slots)
            return [end for end in ends if end is not None]

    @property
    def users(self) -> int:
        return len(self._taken) or 1


class SequenceSender:
    """One user's requests to a sequence model (a Sender, see plan.py)."""

    def __init__(
        self,
        book: SequenceBook,
        data: SequenceData,
        payloads: tuple[tuple[bytes, ...], ...],
        client: grpc_client.GrpcInferClient | http_client.HttpInferClient,
        grpc: bool,
    ) -> None:
        self._book = book
        self._data = data
        self._client = client
        self._infer = client.infer
        self._grpc = grpc
        if grpc:
            self._payloads: tuple[tuple[object, ...], ...] = payloads
        else:
            self._payloads = tuple(
                tuple(http_client.SequenceRequest(p) for p in stream) for stream in payloads
            )
        self._validates = data.validates
        self._number = book.take()
        self._rate = book.settings.rate_mode
        self._chooser: tuple[int, int, SlotChooser] | None = None

    def _slot(self) -> int:
        """Concurrency mode: the user's own. Request-rate mode: one of its share of the
        sequences (a user beyond them shares one: a Locust worker may get more users
        than sequences)."""
        if not self._rate:
            return self._number
        users, sequences = self._book.users, self._book.sequences
        if self._chooser is None or self._chooser[:2] != (users, sequences):
            if self._number < min(users, sequences):
                slots = list(share(sequences, self._number, min(users, sequences)))
            else:
                slots = [self._number % sequences]
            serial = self._book.settings.sequence.serial
            self._chooser = (users, sequences, SlotChooser(slots, serial, seed=self._number))
        return self._chooser[2].next()

    def __call__(self) -> Timing:
        book = self._book
        with book.lock:
            request = book.manager.next(self._slot())
        return self._send(request)

    def _send(self, request: SequenceRequest) -> Timing:
        payload = self._payloads[request.stream][request.step]
        if self._grpc:
            wire = payload + grpc_client.sequence_parameters(  # type: ignore[operator]
                request.sequence_id, request.start, request.end
            )
        else:
            wire = payload.with_sequence(  # type: ignore[attr-defined]
                request.sequence_id, request.start, request.end
            )
        t = self._infer(wire)
        # A new Timing rather than dataclasses.replace, which costs microseconds a request.
        t = Timing(
            t.start_ns,
            t.end_ns,
            t.send_ns,
            t.recv_ns,
            t.response_bytes,
            t.error,
            t.responses_ns,
            request.end,
        )
        if not self._validates or t.error is not None:
            return t
        expected = self._data.expected[request.stream][request.step]
        return validated(t, self._client, expected, self._data.wheres[request.stream][request.step])

    def close(self) -> None:
        """End the user's sequence under way (perf_analyzer's CompleteOngoingSequence), then
        its connection. In request-rate mode the sequences outlive a user: the last one
        to leave ends them all."""
        for end in self._book.leave(self._number):
            self._send(end)
        self._client.close()
