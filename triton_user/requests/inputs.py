"""Input tensors for a model, built from its metadata and config as perf_analyzer builds
them: random (default) or zero data, a batch dimension when the model batches, --shape for
dynamic dimensions, --string-length for BYTES."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from tritonclient.utils import triton_to_np_dtype

from triton_user.wire.tensor import Tensor


class InputError(ValueError):
    """The model's inputs cannot be built from what the user gave."""


@dataclass(frozen=True)
class ModelSignature:
    """What we need of a model: its inputs and outputs (name, datatype, dims without the
    batch dimension) and whether it batches."""

    name: str
    max_batch_size: int
    inputs: tuple[tuple[str, str, tuple[int, ...]], ...]
    outputs: tuple[str, ...]

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
    unknown = set(shapes) - {name for name, _, _ in signature.inputs}
    if unknown:
        raise InputError(f"--shape names no input of model {signature.name}: {sorted(unknown)}")
    rng = np.random.default_rng(seed)
    tensors = []
    for name, datatype, dims in signature.inputs:
        dims = _resolve_dims(signature.name, name, dims, shapes.get(name))
        full = (batch_size, *dims) if signature.max_batch_size > 0 else dims
        tensors.append(
            Tensor(name, datatype, full, _data(datatype, full, input_data, string_length, rng))
        )
    return tensors


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
