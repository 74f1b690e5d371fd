"""perf_analyzer's --input-data files (its docs/input_data.md, src/data_loader.cc): the data
steps every request cycles through, and the outputs a step's response must carry.

A JSON file is `{"data": [...], "validation_data": [...]}`: each entry of "data" a step,
`{INPUT: value}` for every input of the model, or a list of such steps (a stream, for
sequence models). A value is a flat row-major list (strings for BYTES), `{"b64": ...}`
(little-endian bytes; BYTES elements each after a 4-byte little-endian length), or
`{"content": list-or-b64, "shape": [...]}`. Each step is one batch element. Several files
add their steps (or streams) one after another. A directory holds one step: a file per
input named after it, raw bytes (for BYTES, a text file, a string a line), and optionally a
file per output to validate against.

Reading the files is `read_sources`; the rest is pure. Errors are one line naming the file,
the step and the tensor."""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class InputDataError(ValueError):
    """A data file that cannot be sent: one line naming the file, the step and the tensor."""


@dataclass(frozen=True)
class TensorSpec:
    """A model input or output: its name, datatype and dims without the batch dimension
    (-1: dynamic)."""

    name: str
    datatype: str
    dims: tuple[int, ...]


@dataclass(frozen=True)
class StepTensor:
    """One batch element of a tensor: its shape and its bytes as Triton's binary protocols
    carry them (row-major, little-endian; BYTES: each element after its 4-byte length)."""

    shape: tuple[int, ...]
    raw: bytes


@dataclass(frozen=True)
class Step:
    """One data step: a value for every input, and the outputs its response must carry
    (validation_data, raw; empty when none was given)."""

    where: str  # "data.json step 2": for messages
    inputs: Mapping[str, StepTensor]
    expected: Mapping[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class InputData:
    """Every stream of steps the files gave, in order. A model without sequences is sent
    the first stream only, as perf_analyzer sends it (infer_context.cc, UpdateJsonData)."""

    streams: tuple[tuple[Step, ...], ...]

    @property
    def steps(self) -> tuple[Step, ...]:
        return self.streams[0]


@dataclass(frozen=True)
class JsonSource:
    path: str
    text: bytes


@dataclass(frozen=True)
class DirectorySource:
    path: str
    files: Mapping[str, bytes]  # file name: contents


Source = JsonSource | DirectorySource

# Bytes per element of each datatype Triton sends raw; BYTES is not fixed.
ITEM_SIZE = {
    "BOOL": 1,
    "INT8": 1,
    "UINT8": 1,
    "INT16": 2,
    "UINT16": 2,
    "FP16": 2,
    "BF16": 2,
    "INT32": 4,
    "UINT32": 4,
    "FP32": 4,
    "INT64": 8,
    "UINT64": 8,
    "FP64": 8,
}
# The datatypes a JSON list can give (perf_analyzer's SerializeExplicitTensor): FP16 and BF16
# only as b64.
_NUMPY = {
    "BOOL": "?",
    "INT8": "<i1",
    "UINT8": "<u1",
    "INT16": "<i2",
    "UINT16": "<u2",
    "INT32": "<i4",
    "UINT32": "<u4",
    "INT64": "<i8",
    "UINT64": "<u8",
    "FP32": "<f4",
    "FP64": "<f8",
}
_VALUE_FORMS = 'a list of values, {"b64": ...} or {"content": ..., "shape": [...]}'
# A step may name the model it is for (perf_analyzer lets it); that key is no tensor.
_NOT_A_TENSOR = "model"


def read_sources(paths: Sequence[str]) -> list[Source]:
    """The --input-data paths' contents: a directory (the only one given, as perf_analyzer
    reads no other then) or JSON files. Raises InputDataError."""
    directories = [p for p in paths if os.path.isdir(p)]
    if directories and len(paths) > 1:
        raise InputDataError(
            f"--input-data {directories[0]}: a directory must be the only data given "
            "(perf_analyzer reads no other)"
        )
    sources: list[Source] = []
    for path in paths:
        try:
            if directories:
                files = {}
                for name in sorted(os.listdir(path)):
                    full = os.path.join(path, name)
                    if not os.path.isfile(full):
                        raise InputDataError(f"{full}: not a file")
                    with open(full, "rb") as f:
                        files[name] = f.read()
                sources.append(DirectorySource(path, files))
            else:
                with open(path, "rb") as f:
                    sources.append(JsonSource(path, f.read()))
        except OSError as exc:
            raise InputDataError(f"--input-data {path}: cannot read it: {exc.strerror}") from None
    return sources


def parse_input_data(
    sources: Sequence[Source],
    inputs: Sequence[TensorSpec],
    outputs: Sequence[TensorSpec],
    shapes: Mapping[str, Sequence[int]] | None = None,
) -> InputData:
    """The steps of the sources, checked against the model's inputs and outputs; `shapes`
    (--shape) fills dynamic dims where a value gives no shape of its own. Raises
    InputDataError."""
    model = _Model(inputs, outputs, shapes or {})
    if len(sources) == 1 and isinstance(sources[0], DirectorySource):
        return InputData(((_directory_step(sources[0], model),),))
    flat: list[Step] = []
    streams: list[tuple[Step, ...]] = []
    for source in sources:
        assert isinstance(source, JsonSource)
        file_flat, file_streams = _json_file(source, model)
        if (file_flat and streams) or (file_streams and flat):
            raise InputDataError(
                f"{source.path}: its data are {'steps' if file_flat else 'streams'} and an "
                "earlier file's are not: give steps (objects) or streams (lists of steps), "
                "not both, as perf_analyzer requires"
            )
        flat += file_flat
        streams += file_streams
    return InputData(tuple(streams) if streams else (tuple(flat),))


def request_starts(steps: int, batch_size: int) -> list[int]:
    """The first step of each request as perf_analyzer cycles them: its k-th data step id
    sends steps k*b .. k*b+b-1 (modulo the steps). The list repeats after len() requests."""
    period = steps // math.gcd(steps, batch_size)
    return [(k * batch_size) % steps for k in range(period)]


@dataclass(frozen=True)
class BatchedRequest:
    """What one request carries from the data: each input's batch (shape without the batch
    dimension, the bytes of its b elements) and the outputs expected (None: not checked)."""

    where: str
    inputs: Mapping[str, StepTensor]
    expected: Mapping[str, bytes] | None


def batch_request(steps: Sequence[Step], start: int, batch_size: int) -> BatchedRequest:
    """Steps start .. start+b-1 (modulo the steps) as one request's batch, as perf_analyzer
    fills a batch (infer_data_manager_base.cc). Raises InputDataError when their shapes
    differ."""
    chosen = [steps[(start + i) % len(steps)] for i in range(batch_size)]
    first = chosen[0]
    inputs = {}
    for name, tensor in first.inputs.items():
        for step in chosen[1:]:
            if step.inputs[name].shape != tensor.shape:
                raise InputDataError(
                    f"{step.where}: input {name}: shape {list(step.inputs[name].shape)}, but "
                    f"{first.where}'s is {list(tensor.shape)}: -b {batch_size} puts them in "
                    "one batch, whose shapes must agree"
                )
        inputs[name] = StepTensor(tensor.shape, b"".join(s.inputs[name].raw for s in chosen))
    expected: dict[str, bytes] | None = None
    if all(step.expected for step in chosen):
        names = [n for n in first.expected if all(n in s.expected for s in chosen)]
        expected = {n: b"".join(s.expected[n] for s in chosen) for n in names} or None
    where = first.where if batch_size == 1 else f"{first.where} (batch of {batch_size} steps)"
    return BatchedRequest(where, inputs, expected)


def check_outputs(
    got: Mapping[str, bytes], expected: Mapping[str, bytes], where: str
) -> str | None:
    """A response's raw outputs against the step's validation data, compared byte for byte
    as perf_analyzer compares them (infer_context.cc ValidateOutputs); its words, then which
    output of which step. None when they match."""
    for name, want in expected.items():
        have = got.get(name)
        if have is None:
            return (
                f"Output doesn't match expected output: output {name} is not in the "
                f"response to {where}"
            )
        if len(have) != len(want):
            return (
                f"Output size doesn't match expected size: output {name} of {where} has "
                f"{len(have)} bytes, expected {len(want)}"
            )
        if have != want:
            return f"Output doesn't match expected output: output {name} of {where}"
    return None


# --- parsing ------------------------------------------------------------------------------
class _Model:
    def __init__(
        self,
        inputs: Sequence[TensorSpec],
        outputs: Sequence[TensorSpec],
        shapes: Mapping[str, Sequence[int]],
    ) -> None:
        self.inputs = {t.name: t for t in inputs}
        self.outputs = {t.name: t for t in outputs}
        # The shape a value without one of its own has: --shape fills dynamic dims.
        self.default_shape = {
            t.name: tuple(shapes[t.name]) if t.name in shapes else t.dims for t in inputs
        }


def _json_file(source: JsonSource, model: _Model) -> tuple[list[Step], list[tuple[Step, ...]]]:
    """(steps, streams) of one file; one of the two is empty."""
    path = source.path
    try:
        document = json.loads(source.text)
    except UnicodeDecodeError as exc:
        raise InputDataError(f"{path}: not UTF-8 text ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise InputDataError(
            f"{path}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if not isinstance(document, dict) or "data" not in document:
        raise InputDataError(f'{path}: no "data" field (the file is {{"data": [steps]}})')
    data = document["data"]
    if not isinstance(data, list) or not data:
        raise InputDataError(f'{path}: "data" must be a list of one or more steps')
    validation = document.get("validation_data")
    if validation is not None and (
        not isinstance(validation, list) or len(validation) != len(data)
    ):
        got = f"{len(validation)} entries" if isinstance(validation, list) else "not a list"
        raise InputDataError(
            f'{path}: "validation_data" must align with "data" ({len(data)} entries): it has {got}'
        )
    is_stream = isinstance(data[0], list)
    flat: list[Step] = []
    streams: list[tuple[Step, ...]] = []
    for i, entry in enumerate(data):
        if isinstance(entry, list) != is_stream:
            raise InputDataError(
                f"{path}: step {i}: {'a list' if not is_stream else 'an object'} among "
                f"{'lists' if is_stream else 'objects'}: give steps (objects) or streams "
                "(lists of steps), not both, as perf_analyzer requires"
            )
        expected = validation[i] if validation is not None else None
        if not is_stream:
            flat.append(_step(entry, expected, model, path, f"step {i}"))
            continue
        if not entry:
            raise InputDataError(f"{path}: stream {i}: no steps")
        if expected is not None and (not isinstance(expected, list) or len(expected) != len(entry)):
            raise InputDataError(
                f"{path}: validation_data stream {i} must align with data stream {i} "
                f"({len(entry)} steps)"
            )
        streams.append(
            tuple(
                _step(
                    step,
                    expected[k] if expected is not None else None,
                    model,
                    path,
                    f"stream {i} step {k}",
                )
                for k, step in enumerate(entry)
            )
        )
    return flat, streams


def _step(entry: Any, expected: Any, model: _Model, path: str, name: str) -> Step:
    where = f"{path}: {name}"
    if not isinstance(entry, dict):
        raise InputDataError(f"{where}: expected an object of tensors {{INPUT: value}}")
    for key in entry:
        if key not in model.inputs and key != _NOT_A_TENSOR:
            raise InputDataError(
                f"{where}: {key!r} is not an input of the model (its inputs: "
                f"{', '.join(model.inputs)})"
            )
    inputs = {}
    for spec in model.inputs.values():
        if spec.name not in entry:
            raise InputDataError(
                f"{where}: input {spec.name} is missing (a step gives every input)"
            )
        inputs[spec.name] = _tensor(
            entry[spec.name], spec, model.default_shape[spec.name], f"{where}: input {spec.name}"
        )
    outputs: dict[str, bytes] = {}
    if expected is not None:
        vwhere = f"{path}: validation_data {name}"
        if not isinstance(expected, dict):
            raise InputDataError(f"{vwhere}: expected an object of outputs {{OUTPUT: value}}")
        for key, value in expected.items():
            if key == _NOT_A_TENSOR:
                continue
            if key not in model.outputs:
                raise InputDataError(
                    f"{vwhere}: {key!r} is not an output of the model (its outputs: "
                    f"{', '.join(model.outputs)})"
                )
            spec = model.outputs[key]
            outputs[key] = _tensor(
                value, spec, spec.dims, f"{vwhere}: output {key}", output=True
            ).raw
    return Step(f"{path} {name}", inputs, outputs)


def _tensor(
    value: Any, spec: TensorSpec, default: tuple[int, ...], where: str, output: bool = False
) -> StepTensor:
    """One value of a step, in any of perf_analyzer's forms, checked against the dims. An
    output with dynamic dims and no shape given is compared as its bytes come."""
    shape: tuple[int, ...] | None = None
    if isinstance(value, list):
        content: Any = value
    elif isinstance(value, dict):
        if "shape" in value:
            shape = _shape(value["shape"], spec, where)
        if "b64" in value:
            content = value
        elif "content" in value:
            content = value["content"]
        else:
            raise InputDataError(f'{where}: no "content" (nor "b64"): expected {_VALUE_FORMS}')
    else:
        raise InputDataError(f"{where}: expected {_VALUE_FORMS}, got {_json_kind(value)}")
    if isinstance(content, list):
        raw, count = _serialize(content, spec.datatype, where)
    elif isinstance(content, dict) and "b64" in content:
        raw, count = _b64(content["b64"], spec.datatype, where), None
    else:
        raise InputDataError(
            f'{where}: "content" must be a list of values or {{"b64": ...}}, got '
            f"{_json_kind(content)}"
        )
    if shape is None:
        shape = default
    if any(d < 0 for d in shape):
        if output:
            return StepTensor(shape, raw)
        raise InputDataError(
            f"{where}: the model's dims {list(spec.dims)} are dynamic: give the value's "
            f'"shape" in the data, or --shape {spec.name}:d1,d2,...'
        )
    _check_size(raw, count, shape, spec.datatype, where)
    return StepTensor(shape, raw)


def _shape(value: Any, spec: TensorSpec, where: str) -> tuple[int, ...]:
    if not isinstance(value, list) or any(type(d) is not int or d < 0 for d in value):
        raise InputDataError(f'{where}: "shape" must be a list of whole numbers, got {value!r}')
    if len(value) != len(spec.dims) or any(
        d != m and m != -1 for d, m in zip(value, spec.dims, strict=True)
    ):
        raise InputDataError(
            f"{where}: shape {value} does not fit the model's dims {list(spec.dims)}"
        )
    return tuple(value)


def _check_size(
    raw: bytes, count: int | None, shape: tuple[int, ...], datatype: str, where: str
) -> None:
    want = math.prod(shape)
    if datatype == "BYTES":
        got = count if count is not None else _count_strings(raw, where)
        if got != want:
            raise InputDataError(
                f"{where}: expected {want} strings for shape {list(shape)}, got {got}"
            )
        return
    if count is not None:
        if count != want:
            raise InputDataError(
                f"{where}: expected {want} values for shape {list(shape)}, got {count}"
            )
        return
    size = ITEM_SIZE[datatype] * want
    if len(raw) != size:
        raise InputDataError(
            f"{where}: expected {size} bytes ({want} {datatype} values for shape "
            f"{list(shape)}), got {len(raw)}"
        )


def _serialize(values: list[Any], datatype: str, where: str) -> tuple[bytes, int]:
    """A JSON list as raw bytes, each value checked against the datatype."""
    if datatype == "BYTES":
        for i, v in enumerate(values):
            if not isinstance(v, str):
                raise InputDataError(
                    f"{where}: BYTES values must be strings, got {_json_kind(v)} at index {i}"
                )
        return serialize_strings([v.encode() for v in values]), len(values)
    if datatype in ("FP16", "BF16"):
        raise InputDataError(
            f"{where}: {datatype} values cannot be a list (nor can perf_analyzer take one): "
            'give them as {"b64": ...}'
        )
    if datatype not in _NUMPY:
        raise InputDataError(f"{where}: datatype {datatype} is not supported")
    dtype = np.dtype(_NUMPY[datatype])
    if datatype == "BOOL":
        ok: tuple[type, ...] = (bool,)
    elif dtype.kind == "f":
        ok = (int, float)
    else:
        ok = (int,)
    kinds = {type(v) for v in values}
    if not kinds <= set(ok):
        i, bad = next((i, v) for i, v in enumerate(values) if type(v) not in ok)
        word = {"BOOL": "true or false"}.get(
            datatype, "numbers" if dtype.kind == "f" else "integers"
        )
        raise InputDataError(
            f"{where}: {datatype} values must be {word}, got {_json_kind(bad)} at index {i}"
        )
    if dtype.kind in "iu" and values:
        info = np.iinfo(dtype)
        low, high = min(values), max(values)
        if low < info.min or high > info.max:
            bad = low if low < info.min else high
            raise InputDataError(
                f"{where}: {datatype} values must be in [{info.min}, {info.max}], got {bad} at "
                f"index {values.index(bad)}"
            )
    return np.asarray(values, dtype=dtype).tobytes(), len(values)


def _b64(value: Any, datatype: str, where: str) -> bytes:
    if not isinstance(value, str):
        raise InputDataError(f'{where}: "b64" must be a string, got {_json_kind(value)}')
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputDataError(f'{where}: "b64" is not base64: {exc}') from None


def serialize_strings(values: Sequence[bytes]) -> bytes:
    """BYTES elements as Triton carries them: each after its 4-byte little-endian length."""
    return b"".join(len(v).to_bytes(4, "little") + v for v in values)


def _count_strings(raw: bytes, where: str) -> int:
    """How many length-prefixed elements `raw` holds; raises when the prefixes do not add up."""
    count = pos = 0
    while pos < len(raw):
        if pos + 4 > len(raw):
            raise InputDataError(
                f"{where}: BYTES data: {len(raw) - pos} bytes after element {count}, short of "
                "a 4-byte length (each element is its little-endian length, then its bytes)"
            )
        length = int.from_bytes(raw[pos : pos + 4], "little")
        pos += 4 + length
        if pos > len(raw):
            raise InputDataError(
                f"{where}: BYTES data: element {count}'s length {length} runs past the end "
                "(each element is its 4-byte little-endian length, then its bytes)"
            )
        count += 1
    return count


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return repr(value) if len(value) <= 20 else "a string"
    return "a list" if isinstance(value, list) else "an object"


# --- a directory --------------------------------------------------------------------------
def _directory_step(source: DirectorySource, model: _Model) -> Step:
    """perf_analyzer's ReadDataFromDir: one step, a file per input named after it (raw bytes
    of one batch element; BYTES: text, a string a line), optional files for outputs."""
    path = source.path
    for name in source.files:
        if name not in model.inputs and name not in model.outputs:
            raise InputDataError(
                f"{os.path.join(path, name)}: not named after an input or output of the model "
                f"(its inputs: {', '.join(model.inputs)})"
            )
    inputs = {}
    for spec in model.inputs.values():
        where = os.path.join(path, spec.name)
        if spec.name not in source.files:
            raise InputDataError(f"{path}: no file for input {spec.name} (a file per input)")
        shape = model.default_shape[spec.name]
        if any(d < 0 for d in shape):
            raise InputDataError(
                f"{where}: the model's dims {list(spec.dims)} are dynamic: give "
                f"--shape {spec.name}:d1,d2,..."
            )
        inputs[spec.name] = StepTensor(
            shape, _file_tensor(source.files[spec.name], spec, shape, where)
        )
    expected = {}
    for spec in model.outputs.values():
        if spec.name in source.files:
            where = os.path.join(path, spec.name)
            fixed = None if any(d < 0 for d in spec.dims) else spec.dims
            expected[spec.name] = _file_tensor(source.files[spec.name], spec, fixed, where)
    return Step(path, inputs, expected)


def _file_tensor(
    contents: bytes, spec: TensorSpec, shape: tuple[int, ...] | None, where: str
) -> bytes:
    if not contents:
        raise InputDataError(f"{where}: empty")
    if spec.datatype != "BYTES":
        if spec.datatype not in ITEM_SIZE:
            raise InputDataError(f"{where}: datatype {spec.datatype} is not supported")
        if shape is not None:
            _check_size(contents, None, shape, spec.datatype, where)
        return contents
    lines = contents.split(b"\n")
    if lines[-1] == b"":  # the newline that ends the last line
        lines.pop()
    if shape is not None and len(lines) != math.prod(shape):
        raise InputDataError(
            f"{where}: expected {math.prod(shape)} lines (strings for shape {list(shape)}), "
            f"got {len(lines)}"
        )
    return serialize_strings(lines)
