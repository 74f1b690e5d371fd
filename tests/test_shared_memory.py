"""--shared-memory and --output-shared-memory-size without a server: requests that name
their regions in place of carrying tensors (both protocols), the flags' rules in
perf_analyzer's words, and what the console and the report say of a run's data and
shared memory. tests/test_shared_memory_server.py runs them against the real server."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from tritonclient.grpc import service_pb2

from analysis.console import data_read_line
from analysis.flag_table import NOT_YET
from analysis.report.settings_words import settings_rows
from analysis.settings import DEFAULT_OUTPUT_SHM_SIZE, SweepSettings
from tests.test_flag_table import profile_args
from triton_locust.cli import main
from triton_locust.pa_flags import from_pa_namespace
from triton_user.requests.inputs import InputError, ModelSignature
from triton_user.requests.plan import RequestPlan
from triton_user.requests.shared_memory import DISTRIBUTED
from triton_user.wire import grpc_client, http_client
from triton_user.wire.tensor import Region, Tensor

INPUT = Tensor("INPUT0", "FP32", (16,), b"", Region("tl_1_0_INPUT0_0_0", 64))
OUTPUTS = {"OUTPUT0": Region("tl_1_0_OUTPUT0", 64, offset=128)}
IDENTITY = ModelSignature(
    "identity_fp32", 0, (("INPUT0", "FP32", (16,)),), ("OUTPUT0",), (("OUTPUT0", "FP32", (16,)),)
)


def http_parts(request: bytes) -> tuple[dict[str, str], bytes]:
    head, _, body = request.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")[1:]
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return headers, body


def test_an_http_request_names_its_regions_and_carries_no_tensor():
    request = http_client.encode_request(
        "h:8000", "identity_fp32", "", [INPUT], ["OUTPUT0"], None, OUTPUTS
    )
    headers, body = http_parts(request)
    # JSON alone, as tritonclient sends a request with no binary part.
    assert "inference-header-content-length" not in headers
    assert headers["content-type"] == "application/json"
    assert int(headers["content-length"]) == len(body)
    document = json.loads(body)
    assert document["inputs"] == [
        {
            "name": "INPUT0",
            "shape": [16],
            "datatype": "FP32",
            "parameters": {
                "shared_memory_region": "tl_1_0_INPUT0_0_0",
                "shared_memory_byte_size": 64,
            },
        }
    ]
    assert document["outputs"] == [
        {
            "name": "OUTPUT0",
            "parameters": {
                "shared_memory_region": "tl_1_0_OUTPUT0",
                "shared_memory_byte_size": 64,
                "shared_memory_offset": 128,
            },
        }
    ]


def test_an_http_request_without_regions_is_unchanged():
    data = np.arange(16, dtype=np.float32)
    request = http_client.encode_request(
        "h:8000", "identity_fp32", "", [Tensor("INPUT0", "FP32", (16,), data)], ["OUTPUT0"]
    )
    headers, body = http_parts(request)
    length = int(headers["inference-header-content-length"])
    document = json.loads(body[:length])
    assert document["inputs"][0]["parameters"] == {"binary_data_size": 64}
    assert document["outputs"][0]["parameters"] == {"binary_data": True}
    assert body[length:] == data.tobytes()


def test_a_grpc_request_names_its_regions_and_carries_no_raw_contents():
    message = grpc_client.encode_request("identity_fp32", "", [INPUT], ["OUTPUT0"], OUTPUTS)
    request = service_pb2.ModelInferRequest.FromString(message)
    assert list(request.raw_input_contents) == []
    [entry] = request.inputs
    assert (entry.name, entry.datatype, list(entry.shape)) == ("INPUT0", "FP32", [16])
    params = entry.parameters
    assert params["shared_memory_region"].string_param == "tl_1_0_INPUT0_0_0"
    assert params["shared_memory_byte_size"].int64_param == 64
    assert "shared_memory_offset" not in params  # 0: left out, as tritonclient does
    [output] = request.outputs
    assert output.name == "OUTPUT0"
    assert output.parameters["shared_memory_region"].string_param == "tl_1_0_OUTPUT0"
    assert output.parameters["shared_memory_byte_size"].int64_param == 64
    assert output.parameters["shared_memory_offset"].int64_param == 128


def test_a_grpc_request_without_regions_is_unchanged():
    data = np.arange(16, dtype=np.float32)
    message = grpc_client.encode_request(
        "identity_fp32", "", [Tensor("INPUT0", "FP32", (16,), data)], ["OUTPUT0"]
    )
    request = service_pb2.ModelInferRequest.FromString(message)
    assert list(request.raw_input_contents) == [data.tobytes()]
    assert not request.inputs[0].parameters and not request.outputs[0].parameters


# The flags ----------------------------------------------------------------------------------
def settings_of(*argv: str) -> SweepSettings:
    return from_pa_namespace(profile_args(["-m", "identity_fp32", *argv]))[0]


def test_defaults_are_perf_analyzers():
    settings = settings_of()
    assert settings.shared_memory == "none"
    assert settings.output_shared_memory_size == DEFAULT_OUTPUT_SHM_SIZE == 102400
    system = settings_of("--shared-memory", "SYSTEM")
    assert system.shared_memory == "system"
    assert system.output_shared_memory_size == 102400
    sized = settings_of("--shared-memory", "system", "--output-shared-memory-size", "0")
    assert sized.output_shared_memory_size == 0  # perf_analyzer takes >= 0
    assert "--shared-memory" not in NOT_YET


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["--shared-memory", "system", "--output-shared-memory-size", "-1"],
            "Failed to parse --output-shared-memory-size. The value must be >= 0.",
        ),
        (
            ["--output-shared-memory-size", "4096"],
            "--output-shared-memory-size: only with --shared-memory system (without shared "
            "memory the outputs come in the responses)",
        ),
    ],
)
def test_bad_values_are_one_line(argv, message):
    with pytest.raises(ValueError) as caught:
        settings_of(*argv)
    assert str(caught.value) == message


def test_cuda_is_refused_in_one_line():
    with pytest.raises(ValueError) as caught:
        settings_of("--shared-memory", "cuda")
    message = str(caught.value)
    assert "\n" not in message
    if os.path.exists("/dev/nvidiactl"):
        assert message == "--shared-memory cuda: not supported yet; use --shared-memory system"
    else:  # this machine
        assert message == (
            "--shared-memory cuda: this machine has no GPU (no /dev/nvidiactl); use "
            "--shared-memory system or none"
        )


def test_the_web_uis_value_is_checked_as_perf_analyzer_checks_it():
    from analysis.flag_table import FLAGS, from_values

    values = {f.dest: f.default for f in FLAGS} | {"model": "m", "shared_memory": "posix"}
    with pytest.raises(ValueError) as caught:
        from_values(values.get)
    assert str(caught.value) == (
        "Failed to parse --shared-memory. Unsupported type provided: 'posix'. The available "
        "options are 'system', 'cuda', or 'none'."
    )


@pytest.mark.parametrize(
    "argv, says",
    [
        (["--shared-memory", "posix"], "argument --shared-memory: invalid choice: 'posix'"),
        (["--shared-memory", "cuda"], "--shared-memory cuda: "),
        (["--shared-memory", "system", "--processes", "2"], DISTRIBUTED),
    ],
)
def test_the_cli_refuses_in_one_line_before_any_load(capsys, argv, says):
    # -u: a port nothing listens on; every refusal comes before any request.
    try:
        code = main(["profile", "-m", "identity_fp32", "-u", "127.0.0.1:9", *argv])
    except SystemExit as exc:  # argparse's own refusal
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2
    assert says in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_plan_with_shared_memory_needs_its_regions():
    """A Locust worker builds its own plan, without regions: refused (the master refuses
    first, before any worker has settings)."""
    settings = SweepSettings(model="identity_fp32", shared_memory="system")
    with pytest.raises(InputError) as caught:
        RequestPlan.build(settings, IDENTITY)
    assert str(caught.value) == DISTRIBUTED


def test_validation_data_with_shared_memory_is_refused(tmp_path):
    """perf_analyzer fails every such request: the outputs are not in the response."""
    path = tmp_path / "data.json"
    values = [float(i) for i in range(16)]
    path.write_text(
        json.dumps({"data": [{"INPUT0": values}], "validation_data": [{"OUTPUT0": values}]})
    )
    settings = SweepSettings(
        model="identity_fp32", shared_memory="system", input_data="file", input_files=[str(path)]
    )
    with pytest.raises(InputError, match="^--shared-memory with validation_data in --input-data"):
        RequestPlan.build(settings, IDENTITY, regions=None)


# What is said of the data and of shared memory ------------------------------------------------
def test_the_data_read_line_is_perf_analyzers():
    assert data_read_line(1, 8) == " Successfully read data for 1 stream/streams with 8 step/steps."
    assert data_read_line(3, 2) == " Successfully read data for 3 stream/streams."


def test_a_plan_of_json_files_counts_their_streams_and_steps(tmp_path):
    values = [float(i) for i in range(16)]
    one = tmp_path / "one.json"
    one.write_text(json.dumps({"data": [{"INPUT0": values}] * 3}))
    two = tmp_path / "two.json"
    two.write_text(json.dumps({"data": [[{"INPUT0": values}] * 2, [{"INPUT0": values}]]}))
    directory = tmp_path / "dir"
    directory.mkdir()
    (directory / "INPUT0").write_bytes(np.arange(16, dtype=np.float32).tobytes())

    def plan(*paths):
        settings = SweepSettings(
            model="identity_fp32", input_data="file", input_files=[str(p) for p in paths]
        )
        return RequestPlan.build(settings, IDENTITY)

    assert plan(one).data_read == (1, 3)
    assert plan(two).data_read == (2, 2)  # the first stream's steps
    assert plan(directory).data_read is None  # perf_analyzer says nothing of a directory
    assert RequestPlan.build(SweepSettings(model="identity_fp32"), IDENTITY).data_read is None


def test_the_report_lists_the_input_files_and_the_shared_memory():
    files = SweepSettings(model="m", input_data="file", input_files=["a.json", "b/c.json"])
    rows = dict(settings_rows(files.to_dict()))
    assert rows["input data"] == "from a.json, b/c.json"
    assert "input files" not in rows  # no generic row beside it
    assert rows["shared memory"] == "none"
    shm = SweepSettings(model="m", shared_memory="system", output_shared_memory_size=4096)
    rows = dict(settings_rows(shm.to_dict()))
    assert rows["shared memory"].startswith("system: inputs and outputs in regions registered")
    assert "4096 bytes per batch element" in rows["shared memory"]
    assert "output shared memory size" not in rows
    assert rows["input data"] == "random; strings of 128 characters for BYTES inputs"
