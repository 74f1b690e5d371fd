"""The embedded server: the sample models load and answer over both protocols."""

import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient

from triton_locust.server import ServerStartError, TritonServer, free_ports

# Every test starts tritonserver (the last two see it fail to start).
pytestmark = pytest.mark.server

SAMPLES = {
    "identity_fp32": np.arange(16, dtype=np.float32),
    "sleep_5ms": np.ones((2, 16), dtype=np.float32),
    "string_identity": np.array([[b"abc"], [b"de"]], dtype=np.object_),
    "dynamic_identity": np.arange(5, dtype=np.float32),
}


def test_the_sample_models_are_ready(triton_server):
    # input_check answers with what it was sent (tests/test_input_data_server.py);
    # decoupled_stream answers over gRPC streaming only (tests/test_streaming_server.py).
    # accumulator keeps a sum per sequence (tests/test_sequences_server.py).
    others = {"input_check", "decoupled_stream", "accumulator"}
    assert set(triton_server.model_names()) >= {*SAMPLES, *others}


@pytest.mark.parametrize("module", [httpclient, grpcclient], ids=["http", "grpc"])
@pytest.mark.parametrize("model", sorted(SAMPLES))
def test_each_model_returns_its_input(triton_server, module, model):
    url = triton_server.grpc_url if module is grpcclient else triton_server.http_url
    client = module.InferenceServerClient(url)
    data = SAMPLES[model]
    tensor = module.InferInput(
        "INPUT0", list(data.shape), "BYTES" if data.dtype == object else "FP32"
    )
    tensor.set_data_from_numpy(data)
    out = client.infer(model, [tensor]).as_numpy("OUTPUT0")
    assert out.tolist() == data.tolist()
    client.close()


def test_statistics_and_metrics_answer(triton_server):
    with urllib.request.urlopen(
        f"http://{triton_server.http_url}/v2/models/identity_fp32/stats"
    ) as r:
        assert b"inference_stats" in r.read()
    with urllib.request.urlopen(triton_server.metrics_url) as r:
        assert b"nv_inference_count" in r.read()


def test_stop_leaves_no_process_and_a_bad_repository_fails_fast(tmp_path):
    with pytest.raises(ServerStartError, match="is not a folder"):
        TritonServer(*free_ports(3), model_repository=tmp_path / "missing").start()
    broken = tmp_path / "repo" / "broken"
    broken.mkdir(parents=True)
    server = TritonServer(*free_ports(3), model_repository=tmp_path / "repo")
    with pytest.raises(ServerStartError, match="exited") as failed:
        server.start()
    assert not server.running
    # The log of a start that failed is kept, and named, to find out why.
    assert server.kept_log is not None and server.kept_log.exists()
    assert f"(log: {server.kept_log})" in str(failed.value)
    server.kept_log.unlink()


def test_serve_command_reports_a_start_failure_in_one_line(tmp_path):
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "triton_locust.cli",
            "serve",
            "--model-repository",
            str(tmp_path / "nope"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert run.stderr.strip().count("\n") == 0
    assert "is not a folder" in run.stderr


def test_a_port_already_listening_is_refused_before_starting():
    # Another server there would answer the readiness check and pass for ours.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        http, metrics = free_ports(2)
        with pytest.raises(ServerStartError, match=f"port {port} on 127.0.0.1 is in use"):
            TritonServer(http, port, metrics).start()


def test_a_killed_server_leaves_no_python_backend_region_in_dev_shm():
    server = TritonServer(*free_ports(3))
    server.start()
    try:
        assert list(Path("/dev/shm").glob(f"{server.shm_prefix}*"))  # the backend's own
        os.killpg(server._process.pid, signal.SIGKILL)  # no time to clean up after itself
        server._process.wait()
    finally:
        server.stop()
    assert not list(Path("/dev/shm").glob(f"{server.shm_prefix}*"))


def test_ctrl_c_the_moment_the_server_is_spawned_leaves_no_server_behind(monkeypatch):
    """Python's Popen does not stop a child it was interrupted returning: a Ctrl-C between
    the fork and Popen's return must still reach a server the launcher knows of."""
    spawned: list[subprocess.Popen] = []
    real_popen = subprocess.Popen

    def popen_then_ctrl_c(*args, **kwargs):
        process = real_popen(*args, **kwargs)
        spawned.append(process)
        signal.raise_signal(signal.SIGINT)  # the child exists; Popen has not returned yet
        return process

    monkeypatch.setattr(subprocess, "Popen", popen_then_ctrl_c)
    server = TritonServer(*free_ports(3))
    with pytest.raises(KeyboardInterrupt):
        server.start()
    monkeypatch.undo()
    [process] = spawned
    try:
        assert process.poll() is not None, "a tritonserver was left running"
        assert not server.running and server._workdir is None
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
