"""--input-data against the real server's input_check model, which fails a request whose
TEXT does not spell its INPUT0 values and answers with their count, sum and text: every form
of a value reaches the model unchanged, validation_data catches a wrong output, and a
malformed file is one line before any request."""

from __future__ import annotations

import base64
import json
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import load_levels, profile

pytestmark = pytest.mark.server

FAST = ["-p", "300", "-r", "4", "-s", "50"]
ROWS = [[1, 2.5, -3, 0.25], [4, 5, 6, 7], [0.5, 0.5, 0.5, 0.5], [-1, -2, -3, -4.75]]


def spelled(values: list[float]) -> str:
    """TEXT as input_check reads it: INPUT0's values, separated by commas."""
    return ",".join(str(v) for v in values)


def b64(raw: bytes) -> dict[str, str]:
    return {"b64": base64.b64encode(raw).decode()}


def strings(*values: bytes) -> bytes:
    return b"".join(len(v).to_bytes(4, "little") + v for v in values)


def f32(values: list[float]) -> bytes:
    return np.asarray(values, dtype="<f4").tobytes()


def every_form() -> list[dict]:
    """One step per form of perf_analyzer's data file, INPUT0 and TEXT alike."""
    a, b, c, d = ROWS
    return [
        {"INPUT0": a, "TEXT": [spelled(a)]},
        {"INPUT0": b64(f32(b)), "TEXT": b64(strings(spelled(b).encode()))},
        {
            "INPUT0": {"content": c, "shape": [4]},
            "TEXT": {"content": [spelled(c)], "shape": [1]},
        },
        {
            "INPUT0": {"content": b64(f32(d)), "shape": [4]},
            "TEXT": {"content": b64(strings(spelled(d).encode()))},
        },
    ]


def expected(values: list[float]) -> dict:
    return {"COUNT": [len(values)], "SUM": [float(sum(values))], "TEXT_OUT": [spelled(values)]}


def write(tmp_path: Path, document: dict, name: str = "data.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return str(path)


def url(server, protocol: str) -> str:
    return server.grpc_url if protocol == "grpc" else server.http_url


def run(server, protocol: str, *args: str) -> tuple:
    return profile("-m", "input_check", "-u", url(server, protocol), "-i", protocol, *FAST, *args)


def counts(levels: list[dict]) -> tuple[int, int]:
    """(requests that succeeded, requests that failed) over every window of every level."""
    windows = [w for level in levels for w in level["windows"]]
    return sum(w["request_count"] for w in windows), sum(w["error_count"] for w in windows)


def inference_count(server) -> int:
    with urllib.request.urlopen(f"http://{server.http_url}/v2/models/input_check/stats") as r:
        stats = json.load(r)["model_stats"][0]
    return int(stats["inference_count"]) + int(stats["inference_stats"]["fail"]["count"])


@pytest.mark.parametrize(
    "protocol, client_io", [("http", "threads"), ("grpc", "gevent")], ids=["http", "grpc"]
)
def test_every_form_of_a_value_reaches_the_model_unchanged(
    triton_server, tmp_path, protocol, client_io
):
    data = write(tmp_path, {"data": every_form(), "validation_data": [expected(r) for r in ROWS]})
    out = tmp_path / "perf.json"
    result = run(
        triton_server, protocol, "--input-data", data, "--shape", "INPUT0:4",
        "--concurrency-range", "1:2", "--client-io", client_io, "--json", str(out),
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stderr
    assert "Traceback" not in result.stderr
    good, failed = counts(load_levels(out))
    # input_check fails a request whose inputs changed on the way; validation_data fails one
    # whose outputs differ from those of the step sent.
    assert good > 0 and failed == 0, result.stderr


def test_a_batch_is_the_next_steps_and_is_checked_whole(triton_server, tmp_path):
    data = write(tmp_path, {"data": every_form(), "validation_data": [expected(r) for r in ROWS]})
    out = tmp_path / "perf.json"
    before = inference_count(triton_server)
    result = run(
        triton_server, "http", "--input-data", data, "--shape", "INPUT0:4", "-b", "3",
        "--concurrency-range", "2", "--json", str(out),
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stderr
    good, failed = counts(load_levels(out))
    assert good > 0 and failed == 0, result.stderr
    assert inference_count(triton_server) - before >= 3 * good  # three steps a request


def test_validation_data_catches_a_wrong_output(triton_server, tmp_path):
    validation = [expected(r) for r in ROWS]
    validation[2]["SUM"] = [999.0]
    data = write(tmp_path, {"data": every_form(), "validation_data": validation})
    out = tmp_path / "perf.json"
    result = run(
        triton_server, "http", "--input-data", data, "--shape", "INPUT0:4",
        "--concurrency-range", "1", "--json", str(out),
    )  # fmt: skip
    assert result.returncode == 4, result.stderr  # requests failed
    assert "Traceback" not in result.stderr
    assert (
        f"first error: Output doesn't match expected output: output SUM of {data} step 2"
    ) in result.stderr
    good, failed = counts(load_levels(out))
    # One user sends steps 0, 1, 2, 3, 0, ...: every fourth request fails.
    assert failed / (good + failed) == pytest.approx(0.25, abs=0.02)


def test_the_model_fails_inputs_that_do_not_spell_each_other(triton_server, tmp_path):
    steps = every_form()
    steps[1]["TEXT"] = ["4,5,6,8"]
    data = write(tmp_path, {"data": steps})
    out = tmp_path / "perf.json"
    result = run(
        triton_server, "grpc", "--input-data", data, "--shape", "INPUT0:4",
        "--concurrency-range", "1", "--json", str(out),
    )  # fmt: skip
    assert result.returncode == 4, result.stderr
    assert "input_check: batch element 0: INPUT0 [4.0, 5.0, 6.0, 7.0] is not what TEXT" in (
        result.stderr
    )
    good, failed = counts(load_levels(out))
    assert failed / (good + failed) == pytest.approx(0.25, abs=0.02)


@pytest.mark.parametrize(
    "break_it, message",
    [
        (
            lambda steps: steps[1].update(INPUT0=[4, 5, 6]),
            "step 1: input INPUT0: expected 4 values for shape [4], got 3",
        ),
        (
            lambda steps: steps[3].pop("TEXT"),
            "step 3: input TEXT is missing (a step gives every input)",
        ),
    ],
    ids=["count", "missing"],
)
def test_a_malformed_file_is_one_line_and_nothing_is_sent(
    triton_server, tmp_path, break_it, message
):
    steps = every_form()
    break_it(steps)
    data = write(tmp_path, {"data": steps})
    before = inference_count(triton_server)
    result = run(triton_server, "http", "--input-data", data, "--shape", "INPUT0:4")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.endswith(f"{data}: {message}"), line
    assert inference_count(triton_server) == before


def test_a_directory_of_a_file_per_input_reaches_the_model(triton_server, tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    values = ROWS[0]
    (folder / "INPUT0").write_bytes(f32(values))
    (folder / "TEXT").write_text(spelled(values) + "\n")
    (folder / "COUNT").write_bytes(np.int32(4).tobytes())
    (folder / "SUM").write_bytes(np.float64(sum(values)).tobytes())
    (folder / "TEXT_OUT").write_text(spelled(values))
    out = tmp_path / "perf.json"
    result = run(
        triton_server, "grpc", "--input-data", str(folder), "--shape", "INPUT0:4",
        "--concurrency-range", "1", "--json", str(out),
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stderr
    good, failed = counts(load_levels(out))
    assert good > 0 and failed == 0, result.stderr
    # The same directory with a wrong expected output fails every request.
    (folder / "SUM").write_bytes(np.float64(0).tobytes())
    result = run(
        triton_server, "grpc", "--input-data", str(folder), "--shape", "INPUT0:4",
        "--concurrency-range", "1", "--json", str(out),
    )  # fmt: skip
    assert result.returncode == 4
    assert f"Output doesn't match expected output: output SUM of {folder}" in result.stderr
    assert counts(load_levels(out))[0] == 0


def test_locust_workers_read_the_same_files(triton_server, tmp_path):
    """--processes: each Locust worker reads and checks the data itself (the same path)."""
    steps, validation = every_form(), [expected(r) for r in ROWS]
    a = write(tmp_path, {"data": steps[:2], "validation_data": validation[:2]}, "a.json")
    b = write(tmp_path, {"data": steps[2:], "validation_data": validation[2:]}, "b.json")
    out = tmp_path / "perf.json"
    result = run(
        triton_server, "http", "--input-data", a, "--input-data", b, "--shape", "INPUT0:4",
        "--concurrency-range", "2", "--processes", "2", "--json", str(out),
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stderr
    good, failed = counts(load_levels(out))
    assert good > 0 and failed == 0, result.stderr
