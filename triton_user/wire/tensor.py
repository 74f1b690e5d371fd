"""An input tensor in the form the wire clients send it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tritonclient.utils import serialize_byte_tensor


@dataclass(frozen=True)
class Tensor:
    name: str
    datatype: str
    shape: tuple[int, ...]
    data: np.ndarray

    def raw_bytes(self) -> bytes:
        """The tensor as Triton's binary protocols carry it (BYTES: 4-byte length prefixes)."""
        if self.datatype == "BYTES":
            serialized = serialize_byte_tensor(self.data)
            return serialized.item() if serialized.size else b""
        return np.ascontiguousarray(self.data).tobytes()
