"""Input tensors for a model, built from its metadata and config as perf_analyzer builds
them: random (default) or zero data, a batch dimension when the model batches, --shape for
dynamic dimensions, --string-length for BYTES; or the steps of --input-data files, one
request per batch of steps in the order perf_analyzer sends them (analysis/input_data.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from tritonclient.utils import triton_to_np_dtype

from analysis.input_data import (
    DirectorySource,
    InputDataError,
    TensorSpec,
    batch_request,
    parse_input_data,
    read_sources,
    request_starts,
)
from triton_user.wire.tensor import Tensor


class InputError(ValueError):
    """The model's inputs cannot be built from what the user gave."""


@dataclass(frozen=True)
class ModelSignature:
    """What we need of a model: its inputs (name, datatype, dims without the batch
    dimension), its outputs' names (and their datatypes and dims, for validation data) and
    whether it batches."""

    name: str
    max_batch_size: int
    inputs: tuple[tuple[str, str, tuple[int, ...]], ...]
    outputs: tuple[str, ...]
    output_types: tuple[tuple[str, str, tuple[int, ...]], ...] = ()
    sequence: bool = False  # a stateful model (sequence_batching): its requests form sequences

    @classmethod
    def from_metadata(
        cls, metadata: Mapping[str, Any], config: Mapping[str, Any]
    ) -> ModelSignature:
        """From the KServe metadata and Triton's model config, as HTTP's JSON gives them
        (gRPC's `as_json` gives the same keys, with 64-bit integers as strings)."""
        max_batch = int(config.get("max_batch_size", 0))

        def dims(entry: Mapping[str, Any]) -> tuple[int, ...]:
            shape = tuple(int(d) for d in entry.get("shape", []))
            # Metadata shows the batch dimension as a leading -1 when the model batches.
            return shape[1:] if max_batch > 0 and shape else shape

        return cls(
            name=str(metadata["name"]),
            max_batch_size=max_batch,
            inputs=tuple((i["name"], i["datatype"], dims(i)) for i in metadata.get("inputs", [])),
            outputs=tuple(o["name"] for o in metadata.get("outputs", [])),
            output_types=tuple(
                (o["name"], o["datatype"], dims(o)) for o in metadata.get("outputs", [])
            ),
            sequence="sequence_batching" in config,
        )


def build_inputs(
    signature: ModelSignature,
    batch_size: int = 1,
    input_data: str = "random",
    shapes: Mapping[str, Sequence[int]] | None = None,
    string_length: int = 128,
    seed: int = 0,
) -> list[Tensor]:
    """One request's input tensors."""
    shapes = shapes or {}
    _check_batch(signature, batch_size)
    _check_shapes(signature, shapes)
    rng = np.random.default_rng(seed)
    tensors = []
    for name, datatype, dims in signature.inputs:
        dims = _resolve_dims(signature.name, name, dims, shapes.get(name))
        full = (batch_size, *dims) if signature.max_batch_size > 0 else dims
        tensors.append(
            Tensor(name, datatype, full, _data(datatype, full, input_data, string_length, rng))
        )
    return tensors


@dataclass(frozen=True)
class DataRequest:
    """One request of --input-data files: its tensors, the outputs its response must carry
    (validation_data, raw; None: not checked), which steps it sends, and the first of them
    (its data step, which names its shared-memory regions)."""

    tensors: list[Tensor]
    expected: Mapping[str, bytes] | None
    where: str
    start: int = 0


@dataclass(frozen=True)
class DataFiles:
    """What the --input-data files gave: the requests they make, in the order each user
    cycles through them, and how many streams and steps of the first stream they held
    (JSON files; None for a directory, of which perf_analyzer says nothing)."""

    requests: list[DataRequest]
    streams_and_steps: tuple[int, int] | None


def read_data(
    signature: ModelSignature,
    paths: Sequence[str],
    batch_size: int = 1,
    shapes: Mapping[str, Sequence[int]] | None = None,
) -> DataFiles:
    """The data files' requests: the k-th sends steps k*b .. k*b+b-1 of the first stream
    (perf_analyzer's UpdateJsonData). Raises InputError naming the file, the step and the
    input."""
    shapes = shapes or {}
    _check_batch(signature, batch_size)
    _check_shapes(signature, shapes)
    inputs = [TensorSpec(*spec) for spec in signature.inputs]
    outputs = [TensorSpec(*spec) for spec in signature.output_types]
    try:
        sources = read_sources(paths)
        data = parse_input_data(sources, inputs, outputs, shapes)
        steps = data.steps
        starts = request_starts(len(steps), batch_size)
        batches = [batch_request(steps, k, batch_size) for k in starts]
    except InputDataError as exc:
        raise InputError(str(exc)) from None
    # The batch dimension leads when the model batches; otherwise -b is 1.
    lead = (batch_size,) if signature.max_batch_size > 0 else ()
    requests = [
        DataRequest(
            [
                Tensor(t.name, t.datatype, (*lead, *b.inputs[t.name].shape), b.inputs[t.name].raw)
                for t in inputs
            ],
            b.expected,
            b.where,
            start,
        )
        for b, start in zip(batches, starts, strict=True)
    ]
    from_json = not any(isinstance(s, DirectorySource) for s in sources)
    return DataFiles(requests, (len(data.streams), len(steps)) if from_json else None)


def data_requests(
    signature: ModelSignature,
    paths: Sequence[str],
    batch_size: int = 1,
    shapes: Mapping[str, Sequence[int]] | None = None,
) -> list[DataRequest]:
    """The requests the data files make (read_data's). Raises InputError."""
    return read_data(signature, paths, batch_size, shapes).requests


def _check_shapes(signature: ModelSignature, shapes: Mapping[str, Sequence[int]]) -> None:
    """--shape names inputs of the model, and fits their dims."""
    unknown = set(shapes) - {name for name, _, _ in signature.inputs}
    if unknown:
        raise InputError(f"--shape names no input of model {signature.name}: {sorted(unknown)}")
    for name, _, dims in signature.inputs:
        if name in shapes:
            _resolve_dims(signature.name, name, dims, shapes[name])


def _check_batch(signature: ModelSignature, batch_size: int) -> None:
    if batch_size < 1:
        raise InputError(f"-b {batch_size}: batch size must be at least 1")
    if signature.max_batch_size == 0 and batch_size > 1:
        raise InputError(
            f"-b {batch_size}: model {signature.name} does not support batching (max_batch_size 0)"
        )
    if signature.max_batch_size > 0 and batch_size > signature.max_batch_size:
        raise InputError(
            f"-b {batch_size}: exceeds model {signature.name}'s max_batch_size "
            f"{signature.max_batch_size}"
        )


def _resolve_dims(
    model: str, name: str, dims: tuple[int, ...], given: Sequence[int] | None
) -> tuple[int, ...]:
    if given is not None:
        if len(given) != len(dims) or any(
            d != -1 and d != g for d, g in zip(dims, given, strict=True)
        ):
            raise InputError(
                f"--shape {name}:{','.join(map(str, given))} does not fit model {model}'s "
                f"dims {list(dims)}"
            )
        return tuple(given)
    if any(d < 0 for d in dims):
        raise InputError(
            f"input {name} of model {model} has a dynamic dimension {list(dims)}: "
            f"give it with --shape {name}:d1,d2,..."
        )
    return dims


def _data(
    datatype: str,
    shape: tuple[int, ...],
    input_data: str,
    string_length: int,
    rng: np.random.Generator,
) -> np.ndarray:
    count = int(np.prod(shape, dtype=np.int64))
    if datatype == "BYTES":
        if input_data == "zero":
            values = [b"0" * string_length] * count
        else:
            letters = rng.integers(
                ord("a"), ord("z") + 1, size=(count, string_length), dtype=np.uint8
            )
            values = [row.tobytes() for row in letters]
        return np.array(values, dtype=np.object_).reshape(shape)
    dtype = triton_to_np_dtype(datatype)
    if dtype is None:
        raise InputError(f"datatype {datatype} is not supported")
    if input_data == "zero":
        return np.zeros(shape, dtype=dtype)
    if np.issubdtype(dtype, np.bool_):
        return rng.integers(0, 2, size=shape).astype(dtype)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(max(info.min, -100), min(info.max, 100), size=shape, dtype=dtype)
    return rng.random(size=shape).astype(dtype)
