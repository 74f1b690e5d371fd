"""An input tensor in the form the wire clients send it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from tritonclient.utils import serialize_byte_tensor, triton_to_np_dtype


@dataclass(frozen=True)
class Region:
    """Where a tensor lies in a shared-memory region registered with the server: the
    request names it in place of carrying the data (an output: where the server writes)."""

    name: str
    byte_size: int
    offset: int = 0

    def parameters(self) -> dict[str, str | int]:
        """The tensor's parameters that point at the region (KServe's shared-memory
        extension), as tritonclient sets them: the offset only when not 0."""
        params: dict[str, str | int] = {
            "shared_memory_region": self.name,
            "shared_memory_byte_size": self.byte_size,
        }
        if self.offset:
            params["shared_memory_offset"] = self.offset
        return params


@dataclass(frozen=True)
class Tensor:
    name: str
    datatype: str
    shape: tuple[int, ...]
    # Values to serialise, or bytes already in the wire form (a data file's steps).
    data: np.ndarray | bytes
    # --shared-memory: the region holding the data, which the request then leaves out.
    region: Region | None = None

    def raw_bytes(self) -> bytes:
        """The tensor as Triton's binary protocols carry it (BYTES: 4-byte length prefixes)."""
        if isinstance(self.data, bytes):
            return self.data
        if self.datatype == "BYTES":
            serialized = serialize_byte_tensor(self.data)
            return serialized.item() if serialized.size else b""
        return np.ascontiguousarray(self.data).tobytes()


def raw_values(datatype: str, values: Sequence[Any]) -> bytes:
    """Values as a response carries them in JSON or typed protobuf fields, in the raw form
    (row-major, little-endian; BYTES: each element after its 4-byte little-endian length)."""
    if datatype == "BYTES":
        items = [v.encode() if isinstance(v, str) else bytes(v) for v in _flat(values)]
        return b"".join(len(v).to_bytes(4, "little") + v for v in items)
    dtype = triton_to_np_dtype(datatype)
    if dtype is None:
        raise ValueError(f"datatype {datatype} is not supported")
    return np.asarray(values, dtype=np.dtype(dtype).newbyteorder("<")).tobytes()


def _flat(values: Sequence[Any]) -> list[Any]:
    """A nested list's elements in row-major order."""
    flat: list[Any] = []
    for v in values:
        flat.extend(_flat(v) if isinstance(v, list) else [v])
    return flat
