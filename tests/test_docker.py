"""docker/: no Docker engine runs here, so the files are linted, and the commands the
containers run are run as processes against the embedded server."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from tests.helpers import PA_HEADER, REPO, load_levels
from triton_locust.cli import build_parser
from triton_locust.server import free_ports

DOCKER = REPO / "docker"
BIN = Path(sys.executable).parent


def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def manifests() -> list[dict]:
    docs = []
    for path in sorted((DOCKER / "k8s").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def with_defaults(args: list[str]) -> list[str]:
    """Compose's ${VAR:-default} as compose would fill it with nothing set."""
    return [re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", str(a)) for a in args]


def containers(doc: dict) -> list[dict]:
    spec = doc["spec"]
    if doc["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]["spec"]["containers"]


def test_dockerfile_passes_hadolint():
    run = subprocess.run(
        [str(BIN / "hadolint"), str(DOCKER / "Dockerfile")], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_yaml_passes_yamllint():
    run = subprocess.run(
        [str(BIN / "yamllint"), "-c", str(DOCKER / ".yamllint.yaml"), str(DOCKER)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_compose_has_a_server_a_master_and_scalable_workers():
    services = compose()["services"]
    assert set(services) == {"triton", "master", "worker"}
    assert services["triton"]["image"].startswith("nvcr.io/nvidia/tritonserver:")
    assert services["worker"]["deploy"]["replicas"] >= 2
    assert services["master"]["build"]["dockerfile"] == "docker/Dockerfile"


def test_kubernetes_manifests_are_what_the_issue_lists():
    kinds = sorted((d["kind"], d["metadata"]["name"]) for d in manifests())
    assert kinds == [
        ("CronJob", "triton-locust-nightly"),
        ("Deployment", "triton-locust-master"),
        ("Deployment", "triton-locust-worker"),
        ("Service", "triton-locust-master"),
    ]
    for doc in manifests():
        if doc["kind"] == "Deployment":
            labels = doc["spec"]["template"]["metadata"]["labels"]
            assert doc["spec"]["selector"]["matchLabels"].items() <= labels.items()


def every_command() -> list[list[str]]:
    services = compose()["services"]
    commands = [with_defaults(services[s]["command"]) for s in ("master", "worker")]
    commands += [c["args"] for d in manifests() if d["kind"] != "Service" for c in containers(d)]
    return commands


@pytest.mark.parametrize("command", every_command(), ids=lambda c: " ".join(c[:2]))
def test_every_container_command_is_a_valid_triton_locust_command(command):
    args = build_parser().parse_args(command)  # argparse exits on a bad one
    assert args.command in ("profile", "worker")


def test_the_wheel_the_dockerfile_installs_carries_the_models_and_the_locustfile(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        check=True,
        timeout=300,
    )
    [wheel] = tmp_path.glob("triton_locust-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "triton_user/locustfile.py" in names
    assert "triton_locust/server/models/sleep_5ms/config.pbtxt" in names
    assert "triton_locust/server/models/sleep_5ms/1/model.py" in names


@pytest.mark.server
def test_the_compose_master_and_worker_commands_run_a_sweep(triton_server, tmp_path):
    """compose's own master and worker commands, with the hosts pointed at loopback and
    windows shortened; the master writes the results where compose mounts them."""
    services = compose()["services"]
    port = str(free_ports(1)[0])
    master_cmd = with_defaults(services["master"]["command"])
    master_cmd = [triton_server.http_url if a == "triton:8000" else a for a in master_cmd]
    master_cmd = [
        str(tmp_path / Path(a).name) if a.startswith("/results/") else a for a in master_cmd
    ]
    master_cmd[master_cmd.index("--concurrency-range") + 1] = "1:2"
    master_cmd += ["-p", "300", "-r", "6", "--master-bind-port", port]
    worker_cmd = [("127.0.0.1" if a == "master" else a) for a in services["worker"]["command"]]
    worker_cmd += ["--master-port", port]
    cli = [sys.executable, "-m", "triton_locust.cli"]
    workers = [subprocess.Popen(cli + worker_cmd, cwd=tmp_path) for _ in range(2)]
    try:
        master = subprocess.run(
            cli + master_cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path
        )
        assert master.returncode in (0, 1), shlex.join(master_cmd) + "\n" + master.stderr[-2000:]
        for w in workers:
            w.wait(timeout=30)
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
    assert (tmp_path / "perf.csv").read_text().splitlines()[0] == PA_HEADER
    assert [lvl["concurrency"] for lvl in load_levels(tmp_path / "perf.json")] == [1, 2]
    assert (tmp_path / "perf.html").exists()
