"""perf_analyzer's --input-data files, parsed (analysis/input_data.py), batched and sent in
its order (triton_user/requests), and responses checked against validation_data."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from tritonclient.grpc import service_pb2

from analysis.input_data import (
    DirectorySource,
    InputDataError,
    JsonSource,
    TensorSpec,
    batch_request,
    check_outputs,
    parse_input_data,
    read_sources,
    request_starts,
    serialize_strings,
)
from analysis.settings import SweepSettings
from analysis.settings import parse_input_data as parse_flag
from triton_user.requests.inputs import InputError, ModelSignature, data_requests
from triton_user.requests.plan import RequestPlan
from triton_user.wire import grpc_client, http_client
from triton_user.wire.timing import ErrorLog, Timing

FP32_16 = [TensorSpec("INPUT0", "FP32", (16,))]
CHECK_INPUTS = [TensorSpec("INPUT0", "FP32", (-1,)), TensorSpec("TEXT", "BYTES", (1,))]
CHECK_OUTPUTS = [
    TensorSpec("COUNT", "INT32", (1,)),
    TensorSpec("SUM", "FP64", (1,)),
    TensorSpec("TEXT_OUT", "BYTES", (1,)),
]


def source(document: object, path: str = "input-data.json") -> JsonSource:
    return JsonSource(path, json.dumps(document).encode())


def parse(document: object, inputs=CHECK_INPUTS, outputs=CHECK_OUTPUTS, shapes=None, path="d.json"):
    return parse_input_data([source(document, path)], inputs, outputs, shapes)


def error_of(document: object, **kwargs) -> str:
    with pytest.raises(InputDataError) as caught:
        parse(document, **kwargs)
    message = str(caught.value)
    assert "\n" not in message
    return message


def b64(raw: bytes) -> dict[str, str]:
    return {"b64": base64.b64encode(raw).decode()}


def f32(values: list[float]) -> bytes:
    return np.asarray(values, dtype="<f4").tobytes()


def strings(*values: bytes) -> bytes:
    """BYTES as Triton carries them, written out by hand: little-endian length, then bytes."""
    return b"".join(len(v).to_bytes(4, "little") + v for v in values)


# The forms of a value --------------------------------------------------------------------
def test_each_form_of_a_value_gives_the_same_bytes():
    values, text = [1, 2.5, -3, 0.25], "1,2.5,-3,0.25"
    forms = [
        {"INPUT0": values, "TEXT": [text]},
        {"INPUT0": b64(f32(values)), "TEXT": b64(strings(text.encode()))},
        {"INPUT0": {"content": values, "shape": [4]}, "TEXT": {"content": [text], "shape": [1]}},
        {
            "INPUT0": {"content": b64(f32(values)), "shape": [4]},
            "TEXT": {"content": b64(strings(text.encode()))},
        },
    ]
    data = parse({"data": forms}, shapes={"INPUT0": [4]})
    assert len(data.streams) == 1 and len(data.steps) == 4
    for step in data.steps:
        assert step.inputs["INPUT0"].shape == (4,)
        assert step.inputs["INPUT0"].raw == f32(values)
        assert step.inputs["TEXT"].raw == b"\x0d\x00\x00\x00" + text.encode()
        assert step.expected == {}
    assert [s.where for s in data.steps] == [f"d.json step {i}" for i in range(4)]


def test_each_numeric_datatype_is_little_endian_in_its_width():
    inputs = [
        TensorSpec("B", "BOOL", (2,)),
        TensorSpec("I8", "INT8", (2,)),
        TensorSpec("U16", "UINT16", (2,)),
        TensorSpec("I32", "INT32", (2,)),
        TensorSpec("U64", "UINT64", (2,)),
        TensorSpec("F64", "FP64", (2,)),
    ]
    step = {"B": [True, False], "I8": [-128, 127], "U16": [1, 65535], "I32": [-2, 3]}
    step |= {"U64": [0, 2**64 - 1], "F64": [0.5, -1e300]}
    [parsed] = parse({"data": [step]}, inputs=inputs).steps
    raw = {name: t.raw for name, t in parsed.inputs.items()}
    assert raw["B"] == b"\x01\x00"
    assert raw["I8"] == b"\x80\x7f"
    assert raw["U16"] == b"\x01\x00\xff\xff"
    assert raw["I32"] == b"\xfe\xff\xff\xff\x03\x00\x00\x00"
    assert raw["U64"] == b"\x00" * 8 + b"\xff" * 8
    assert raw["F64"] == np.asarray([0.5, -1e300], "<f8").tobytes()


def test_a_step_s_shape_overrides_shape_and_a_value_without_one_takes_shape():
    steps = [
        {"INPUT0": {"content": [1] * 8, "shape": [8]}, "TEXT": ["x"]},
        {"INPUT0": [1, 2], "TEXT": ["x"]},
    ]
    data = parse({"data": steps}, shapes={"INPUT0": [2]})
    assert [s.inputs["INPUT0"].shape for s in data.steps] == [(8,), (2,)]


def test_bytes_written_as_strings_or_b64_are_the_same_elements():
    step = {"INPUT0": [1.0], "TEXT": b64(strings(b"\xffbinary\x00"))}
    [parsed] = parse({"data": [step]}, shapes={"INPUT0": [1]}).steps
    assert parsed.inputs["TEXT"].raw == strings(b"\xffbinary\x00")
    assert serialize_strings([b"ab", b""]) == b"\x02\x00\x00\x00ab\x00\x00\x00\x00"


# Errors name the file, the step and the input --------------------------------------------
def test_a_count_that_does_not_fit_the_shape_names_file_step_and_input():
    steps = [{"INPUT0": list(range(16))}] * 2 + [{"INPUT0": list(range(15))}]
    with pytest.raises(InputDataError) as caught:
        parse_input_data([source({"data": steps})], FP32_16, [])
    assert str(caught.value) == (
        "input-data.json: step 2: input INPUT0: expected 16 values for shape [16], got 15"
    )


@pytest.mark.parametrize(
    "step, message",
    [
        (
            {"INPUT0": b64(f32([1, 2, 3])), "TEXT": ["1,2,3"]},
            "d.json: step 0: input INPUT0: expected 16 bytes (4 FP32 values for shape [4]), got 12",
        ),
        (
            {"INPUT0": [1, 2, 3, 4], "TEXT": ["a", "b"]},
            "d.json: step 0: input TEXT: expected 1 strings for shape [1], got 2",
        ),
        (
            {"INPUT0": [1, 2, 3, 4], "TEXT": b64(b"\x05\x00\x00\x00abc")},
            "d.json: step 0: input TEXT: BYTES data: element 0's length 5 runs past the end",
        ),
        (
            {"INPUT0": [1, 2, 3, 4], "TEXT": b64(strings(b"a") + b"\x01")},
            "d.json: step 0: input TEXT: BYTES data: 1 bytes after element 1, short of a 4-byte",
        ),
        (
            {"INPUT0": [1, "2", 3, 4], "TEXT": ["x"]},
            "d.json: step 0: input INPUT0: FP32 values must be numbers, got '2' at index 1",
        ),
        (
            {"INPUT0": [1, 2, 3, True], "TEXT": ["x"]},
            "d.json: step 0: input INPUT0: FP32 values must be numbers, got true at index 3",
        ),
        (
            {"INPUT0": [1, 2, 3, 4], "TEXT": [7]},
            "d.json: step 0: input TEXT: BYTES values must be strings, got 7 at index 0",
        ),
        (
            {"INPUT0": {"content": [1, 2, 3], "shape": [2, 2]}, "TEXT": ["x"]},
            "d.json: step 0: input INPUT0: shape [2, 2] does not fit the model's dims [-1]",
        ),
        (
            {"INPUT0": {"shape": [4]}, "TEXT": ["x"]},
            'd.json: step 0: input INPUT0: no "content" (nor "b64")',
        ),
        (
            {"INPUT0": "1,2,3,4", "TEXT": ["x"]},
            "d.json: step 0: input INPUT0: expected a list of values, ",
        ),
        (
            {"INPUT0": {"b64": "not base64!"}, "TEXT": ["x"]},
            'd.json: step 0: input INPUT0: "b64" is not base64',
        ),
        ({"TEXT": ["x"]}, "d.json: step 0: input INPUT0 is missing"),
        (
            {"INPUT0": [1, 2, 3, 4], "TEXT": ["x"], "INPUT9": [1]},
            "d.json: step 0: 'INPUT9' is not an input of the model (its inputs: INPUT0, TEXT)",
        ),
        (7, "d.json: step 0: expected an object of tensors"),
    ],
)
def test_a_bad_value_is_one_line_naming_step_and_input(step, message):
    assert error_of({"data": [step]}, shapes={"INPUT0": [4]}).startswith(message)


def test_a_dynamic_input_without_a_shape_asks_for_one():
    message = error_of({"data": [{"INPUT0": [1, 2], "TEXT": ["1,2"]}]})
    assert message == (
        "d.json: step 0: input INPUT0: the model's dims [-1] are dynamic: give the value's "
        '"shape" in the data, or --shape INPUT0:d1,d2,...'
    )


@pytest.mark.parametrize(
    "datatype, values, message",
    [
        ("INT8", [1, 200], "INT8 values must be in [-128, 127], got 200 at index 1"),
        ("UINT32", [-1, 2], "UINT32 values must be in [0, 4294967295], got -1 at index 0"),
        ("INT32", [1.5, 2], "INT32 values must be integers, got 1.5 at index 0"),
        ("BOOL", [1, 0], "BOOL values must be true or false, got 1 at index 0"),
        ("FP16", [1.0, 2.0], "FP16 values cannot be a list"),
        ("COMPLEX", [1, 2], "datatype COMPLEX is not supported"),
    ],
)
def test_values_the_datatype_cannot_hold_are_refused(datatype, values, message):
    inputs = [TensorSpec("X", datatype, (2,))]
    found = error_of({"data": [{"X": values}]}, inputs=inputs, outputs=[])
    assert found.startswith(f"d.json: step 0: input X: {message}")


def test_fp16_comes_as_b64():
    raw = np.asarray([1.5, -2], "<f2").tobytes()
    inputs = [TensorSpec("X", "FP16", (2,))]
    [step] = parse({"data": [{"X": b64(raw)}]}, inputs=inputs, outputs=[]).steps
    assert step.inputs["X"].raw == raw


@pytest.mark.parametrize(
    "text, message",
    [
        (
            b"{",
            "d.json: not valid JSON: Expecting property name enclosed in double quotes at line 1",
        ),
        (b"[]", 'd.json: no "data" field'),
        (b'{"data": []}', 'd.json: "data" must be a list of one or more steps'),
        (b'{"data": {"INPUT0": [1]}}', 'd.json: "data" must be a list of one or more steps'),
        (b'{"data": "\xc3\x28"}', "d.json: not UTF-8 text"),
    ],
)
def test_a_file_that_is_not_perf_analyzer_s_json_is_one_line(text, message):
    with pytest.raises(InputDataError) as caught:
        parse_input_data([JsonSource("d.json", text)], FP32_16, [])
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


# validation_data -------------------------------------------------------------------------
def good_step(values: list[float]) -> dict:
    return {"INPUT0": values, "TEXT": [",".join(map(str, values))]}


def test_validation_data_gives_each_step_its_expected_outputs():
    document = {
        "data": [good_step([1, 2]), good_step([3, 4])],
        "validation_data": [
            {"COUNT": [2], "SUM": [3.0], "TEXT_OUT": ["1,2"]},
            {"SUM": {"b64": base64.b64encode(np.float64(7).tobytes()).decode()}},
        ],
    }
    first, second = parse(document, shapes={"INPUT0": [2]}).steps
    assert first.expected == {
        "COUNT": b"\x02\x00\x00\x00",
        "SUM": np.float64(3).tobytes(),
        "TEXT_OUT": strings(b"1,2"),
    }
    assert second.expected == {"SUM": np.float64(7).tobytes()}  # an output left out: unchecked


@pytest.mark.parametrize(
    "validation, message",
    [
        ([{}], '"validation_data" must align with "data" (2 entries): it has 1 entries'),
        ({"SUM": [1.0]}, '"validation_data" must align with "data" (2 entries): it has not a list'),
        ([{"SUM": [1.0]}, {"OUT9": [1]}], "validation_data step 1: 'OUT9' is not an output"),
        ([{"SUM": [1.0, 2.0]}, {}], "validation_data step 0: output SUM: expected 1 values"),
        ([{"COUNT": [1.5]}, {}], "validation_data step 0: output COUNT: INT32 values must be"),
        ([[], {}], "validation_data step 0: expected an object of outputs"),
    ],
)
def test_validation_data_that_does_not_fit_is_one_line(validation, message):
    document = {"data": [good_step([1, 2]), good_step([3, 4])], "validation_data": validation}
    assert message in error_of(document, shapes={"INPUT0": [2]})


def test_check_outputs_in_perf_analyzer_s_words():
    expected = {"SUM": np.float64(3).tobytes()}
    assert check_outputs({"SUM": np.float64(3).tobytes(), "X": b"1"}, expected, "s") is None
    assert check_outputs({"SUM": np.float64(4).tobytes()}, expected, "d.json step 2") == (
        "Output doesn't match expected output: output SUM of d.json step 2"
    )
    assert check_outputs({"SUM": b"\x00" * 4}, expected, "d.json step 2") == (
        "Output size doesn't match expected size: output SUM of d.json step 2 has 4 bytes, "
        "expected 8"
    )
    assert "output SUM is not in the response to s" in check_outputs({}, expected, "s")


# Streams, several files, a directory -----------------------------------------------------
def test_streams_are_kept_and_a_model_without_sequences_gets_the_first():
    document = {
        "data": [[good_step([1]), good_step([2]), good_step([3])], [good_step([9])]],
        "validation_data": [[{"SUM": [1.0]}, {}, {}], [{"SUM": [9.0]}]],
    }
    data = parse(document, shapes={"INPUT0": [1]})
    assert [len(s) for s in data.streams] == [3, 1]
    assert data.steps == data.streams[0]
    assert data.streams[1][0].where == "d.json stream 1 step 0"
    assert data.streams[0][0].expected == {"SUM": np.float64(1).tobytes()}
    bad = {"data": [[good_step([1])], [good_step([1, 2])]]}
    assert error_of(bad, shapes={"INPUT0": [1]}).startswith(
        "d.json: stream 1 step 0: input INPUT0: expected 1 values"
    )


def test_steps_and_streams_do_not_mix():
    mixed = {"data": [good_step([1]), [good_step([2])]]}
    assert error_of(mixed, shapes={"INPUT0": [1]}).startswith(
        "d.json: step 1: a list among objects"
    )
    with pytest.raises(InputDataError, match=r"^b.json: its data are streams and an earlier"):
        parse_input_data(
            [
                source({"data": [good_step([1])]}, "a.json"),
                source({"data": [[good_step([2])]]}, "b.json"),
            ],
            CHECK_INPUTS,
            CHECK_OUTPUTS,
            {"INPUT0": [1]},
        )


def test_several_files_add_their_steps_in_order():
    a = source({"data": [good_step([1]), good_step([2])]}, "a.json")
    b = source({"data": [good_step([3])], "validation_data": [{"SUM": [3.0]}]}, "b.json")
    steps = parse_input_data([a, b], CHECK_INPUTS, CHECK_OUTPUTS, {"INPUT0": [1]}).steps
    assert [s.where for s in steps] == ["a.json step 0", "a.json step 1", "b.json step 0"]
    assert [s.inputs["INPUT0"].raw for s in steps] == [f32([v]) for v in (1, 2, 3)]
    assert [bool(s.expected) for s in steps] == [False, False, True]


def write_directory(tmp_path: Path, **files: bytes) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    for name, contents in files.items():
        (folder / name).write_bytes(contents)
    return folder


def test_a_directory_is_one_step_a_file_per_input(tmp_path):
    folder = write_directory(
        tmp_path,
        INPUT0=f32([1, 2, 3]),
        TEXT=b"1,2,3\n",
        SUM=np.float64(6).tobytes(),
        TEXT_OUT=b"1,2,3",
    )
    data = parse_input_data(
        read_sources([str(folder)]), CHECK_INPUTS, CHECK_OUTPUTS, {"INPUT0": [3]}
    )
    [step] = data.steps
    assert step.where == str(folder)
    assert step.inputs["INPUT0"].raw == f32([1, 2, 3]) and step.inputs["INPUT0"].shape == (3,)
    assert step.inputs["TEXT"].raw == strings(b"1,2,3")
    assert step.expected == {"SUM": np.float64(6).tobytes(), "TEXT_OUT": strings(b"1,2,3")}


@pytest.mark.parametrize(
    "files, shapes, message",
    [
        (
            {"INPUT0": f32([1, 2]), "TEXT": b"x"},
            {"INPUT0": [3]},
            "/INPUT0: expected 12 bytes (3 FP32 values for shape [3]), got 8",
        ),
        (
            {"INPUT0": f32([1]), "TEXT": b"x\ny\n"},
            {"INPUT0": [1]},
            "/TEXT: expected 1 lines (strings for shape [1]), got 2",
        ),
        ({"INPUT0": f32([1]), "TEXT": b""}, {"INPUT0": [1]}, "/TEXT: empty"),
        ({"INPUT0": f32([1])}, {"INPUT0": [1]}, ": no file for input TEXT"),
        (
            {"INPUT0": f32([1]), "TEXT": b"x", "notes.txt": b"x"},
            {"INPUT0": [1]},
            "/notes.txt: not named after an input or output",
        ),
        (
            {"INPUT0": f32([1]), "TEXT": b"x"},
            {},
            "/INPUT0: the model's dims [-1] are dynamic: give --shape INPUT0:",
        ),
    ],
)
def test_a_directory_that_does_not_fit_is_one_line(tmp_path, files, shapes, message):
    folder = write_directory(tmp_path, **files)
    with pytest.raises(InputDataError) as caught:
        parse_input_data(read_sources([str(folder)]), CHECK_INPUTS, CHECK_OUTPUTS, shapes)
    assert str(caught.value).startswith(str(folder)) and message in str(caught.value)


def test_read_sources_refuses_a_directory_among_others_and_says_what_it_cannot_read(tmp_path):
    (tmp_path / "d.json").write_text("{}")
    with pytest.raises(InputDataError, match="a directory must be the only data given"):
        read_sources([str(tmp_path / "d.json"), str(tmp_path)])
    with pytest.raises(InputDataError, match=r"^--input-data .*nope.json: cannot read it: No such"):
        read_sources([str(tmp_path / "nope.json")])
    assert DirectorySource("x", {}).files == {}


# The flag ---------------------------------------------------------------------------------
def test_the_flag_takes_random_zero_or_paths_as_perf_analyzer_does(tmp_path):
    data = tmp_path / "zero"  # an existing path is a path, whatever its name
    data.write_text("{}")
    assert parse_flag([]) == ("random", [])
    assert parse_flag(["random", "zero"]) == ("zero", [])
    assert parse_flag(["random", str(data), str(tmp_path)]) == ("file", [str(data), str(tmp_path)])
    with pytest.raises(ValueError, match="^--input-data 'nope.json': no such file or directory"):
        parse_flag(["nope.json"])
    with pytest.raises(ValueError, match="^--input-data zero: cannot be combined with data files"):
        parse_flag(["zero", str(data)])


# Batches, and the order users send them --------------------------------------------------
def test_a_request_s_batch_is_the_next_b_steps_and_the_cycle_repeats():
    assert request_starts(4, 1) == [0, 1, 2, 3]
    assert request_starts(4, 2) == [0, 2]
    assert request_starts(3, 2) == [0, 2, 1]  # steps 0-1, 2-0, 1-2
    assert request_starts(6, 4) == [0, 4, 2]
    steps = parse(
        {
            "data": [good_step([1]), good_step([2]), good_step([3])],
            "validation_data": [{"SUM": [1.0]}, {"SUM": [2.0]}, {"SUM": [3.0], "COUNT": [1]}],
        },
        shapes={"INPUT0": [1]},
    ).steps
    batch = batch_request(steps, 2, 2)
    assert batch.where == "d.json step 2 (batch of 2 steps)"
    assert batch.inputs["INPUT0"].raw == f32([3, 1]) and batch.inputs["INPUT0"].shape == (1,)
    assert batch.expected == {"SUM": np.asarray([3.0, 1.0]).tobytes()}  # COUNT: step 0 has none


def test_steps_of_one_batch_must_agree_in_shape():
    document = {
        "data": [good_step([1]), {"INPUT0": {"content": [1, 2], "shape": [2]}, "TEXT": ["1,2"]}]
    }
    steps = parse(document, shapes={"INPUT0": [1]}).steps
    with pytest.raises(
        InputDataError,
        match=r"^d.json step 1: input INPUT0: shape \[2\], but d.json step 0's is \[1\]",
    ):
        batch_request(steps, 0, 2)


CHECK = ModelSignature(
    "input_check",
    8,
    (("INPUT0", "FP32", (-1,)), ("TEXT", "BYTES", (1,))),
    ("COUNT", "SUM", "TEXT_OUT"),
    (("COUNT", "INT32", (1,)), ("SUM", "FP64", (1,)), ("TEXT_OUT", "BYTES", (1,))),
)


def write_data(tmp_path: Path, document: dict, name: str = "data.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return str(path)


def test_data_requests_carry_the_batch_dimension_and_are_one_line_errors(tmp_path):
    path = write_data(tmp_path, {"data": [good_step([1, 2]), good_step([3, 4])]})
    [request] = data_requests(CHECK, [path], batch_size=2, shapes={"INPUT0": [2]})
    by_name = {t.name: t for t in request.tensors}
    assert by_name["INPUT0"].shape == (2, 2)
    assert by_name["INPUT0"].raw_bytes() == f32([1, 2, 3, 4])
    assert by_name["TEXT"].shape == (2, 1)
    assert by_name["TEXT"].raw_bytes() == strings(b"1,2", b"3,4")
    assert request.expected is None
    with pytest.raises(InputError, match=r"^-b 9: exceeds model input_check's max_batch_size 8"):
        data_requests(CHECK, [path], batch_size=9)
    with pytest.raises(InputError, match=r"^--shape INPUT0:2,2 does not fit"):
        data_requests(CHECK, [path], shapes={"INPUT0": [2, 2]})
    with pytest.raises(InputError, match=r"data.json: step 0: input INPUT0: the model's dims"):
        data_requests(CHECK, [path])


class RecordingClient:
    """Stands in for a wire client: records which request each call sends, and answers
    with the outputs the test sets."""

    def __init__(self, outputs: dict[str, bytes] | None = None) -> None:
        self.sent: list[bytes] = []
        self.outputs = outputs or {}
        self.closed = False

    def infer(self, request: bytes) -> Timing:
        self.sent.append(request)
        return Timing(0, 1, 0, 0, 0, None)

    def last_outputs(self) -> dict[str, bytes]:
        return self.outputs

    def close(self) -> None:
        self.closed = True


def plan_for(tmp_path: Path, document: dict, batch: int = 1, protocol: str = "http") -> RequestPlan:
    path = write_data(tmp_path, document)
    settings = SweepSettings(
        model="input_check",
        protocol=protocol,
        batch_size=batch,
        input_data="file",
        input_files=[path],
        shapes={"INPUT0": [1]},
    )
    return RequestPlan.build(settings, CHECK)


def test_users_send_steps_in_perf_analyzer_s_order(tmp_path):
    plan = plan_for(tmp_path, {"data": [good_step([float(i)]) for i in range(5)]})
    assert len(plan.payloads) == 5 and not plan.validates
    index = {payload: i for i, payload in enumerate(plan.payloads)}
    one, two = RecordingClient(), RecordingClient()
    first = plan.sender(one)
    first()  # alone: step 0
    second = plan.sender(two)
    for _ in range(3):
        first()
        second()
    # User i of N sends data step ids i, i+N, ... as perf_analyzer's threads do.
    assert [index[p] for p in one.sent] == [0, 1, 3, 0]
    assert [index[p] for p in two.sent] == [1, 3, 0]
    first.close()
    assert one.closed and plan.users.active == 1
    third = plan.sender(RecordingClient())  # takes the number the first user freed
    assert third._number == 0  # noqa: SLF001


def test_batches_cycle_by_b_steps(tmp_path):
    plan = plan_for(tmp_path, {"data": [good_step([float(i)]) for i in range(3)]}, batch=2)
    assert plan.wheres == (
        f"{tmp_path}/data.json step 0 (batch of 2 steps)",
        f"{tmp_path}/data.json step 2 (batch of 2 steps)",
        f"{tmp_path}/data.json step 1 (batch of 2 steps)",
    )


def test_generated_data_is_one_payload_sent_as_is(tmp_path):
    settings = SweepSettings(model="input_check", shapes={"INPUT0": [4]})
    plan = RequestPlan.build(settings, CHECK)
    client = RecordingClient()
    send = plan.sender(client)
    send()
    send()
    assert client.sent == [plan.payload, plan.payload] and plan.payloads == (plan.payload,)
    send.close()
    assert client.closed


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_a_response_unlike_the_validation_data_is_a_failed_request(tmp_path, protocol):
    document = {
        "data": [good_step([1]), good_step([2])],
        "validation_data": [{"SUM": [1.0]}, {"SUM": [2.0]}],
    }
    plan = plan_for(tmp_path, document, protocol=protocol)
    assert plan.validates
    ErrorLog.clear()
    client = RecordingClient({"SUM": np.float64(1).tobytes()})
    send = plan.sender(client)
    assert send().error is None
    failed = send()
    assert failed.error == (
        f"Output doesn't match expected output: output SUM of {tmp_path}/data.json step 1"
    )
    assert ErrorLog.first == failed.error
    ErrorLog.clear()


# Responses decoded as the wire carries them ----------------------------------------------
def test_http_response_outputs_binary_and_json():
    header = {
        "outputs": [
            {
                "name": "SUM",
                "datatype": "FP64",
                "shape": [1, 1],
                "parameters": {"binary_data_size": 8},
            },
            {"name": "TEXT_OUT", "datatype": "BYTES", "shape": [1, 1], "data": ["a,b"]},
            {"name": "COUNT", "datatype": "INT32", "shape": [1, 2], "data": [[2, 3]]},
        ]
    }
    head = json.dumps(header).encode()
    outputs = http_client.response_outputs(head + np.float64(1.5).tobytes(), len(head))
    assert outputs == {
        "SUM": np.float64(1.5).tobytes(),
        "TEXT_OUT": strings(b"a,b"),
        "COUNT": np.asarray([2, 3], "<i4").tobytes(),
    }
    with pytest.raises(ValueError, match="past the body's end"):
        http_client.response_outputs(head, len(head))


def test_grpc_response_outputs_raw_and_typed():
    raw = service_pb2.ModelInferResponse()
    raw.outputs.add(name="SUM", datatype="FP64")
    raw.raw_output_contents.append(np.float64(2).tobytes())
    message = grpc_client.grpc_message(raw.SerializeToString())
    assert grpc_client.response_outputs(message) == {"SUM": np.float64(2).tobytes()}
    typed = service_pb2.ModelInferResponse()
    out = typed.outputs.add(name="TEXT_OUT", datatype="BYTES")
    out.contents.bytes_contents.append(b"xy")
    count = typed.outputs.add(name="COUNT", datatype="INT32")
    count.contents.int_contents.extend([4])
    message = grpc_client.grpc_message(typed.SerializeToString())
    assert grpc_client.response_outputs(message) == {
        "TEXT_OUT": strings(b"xy"),
        "COUNT": b"\x04\x00\x00\x00",
    }
    with pytest.raises(ValueError, match="malformed inference response"):
        grpc_client.response_outputs(b"\x00\x00\x00\x00\x02\xff\xff")
