"""docker/: no Docker engine runs here, so the files are linted, and the commands the
containers run are run as processes against the embedded server."""

from __future__ import annotations

import base64
import os
import re
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.request
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
    assert set(services) == {"triton", "master", "worker", "webui"}
    assert services["webui"]["profiles"] == ["webui"]  # not started by a plain `up`
    assert services["triton"]["image"].startswith("nvcr.io/nvidia/tritonserver:")
    assert services["worker"]["deploy"]["replicas"] >= 2
    assert services["master"]["build"]["dockerfile"] == "docker/Dockerfile"


def test_kubernetes_manifests_are_what_the_issue_lists():
    kinds = sorted((d["kind"], d["metadata"]["name"]) for d in manifests())
    assert kinds == [
        ("CronJob", "triton-locust-nightly"),
        ("Deployment", "triton-locust-master"),
        ("Deployment", "triton-locust-webui"),
        ("Deployment", "triton-locust-worker"),
        ("Service", "triton-locust-master"),
        ("Service", "triton-locust-webui"),
    ]
    for doc in manifests():
        if doc["kind"] == "Deployment":
            labels = doc["spec"]["template"]["metadata"]["labels"]
            assert doc["spec"]["selector"]["matchLabels"].items() <= labels.items()


def every_command() -> list[list[str]]:
    services = compose()["services"]
    commands = [with_defaults(services[s]["command"]) for s in ("master", "worker")]
    commands += [c["args"] for c in k8s_containers() if "command" not in c]  # triton-locust's
    return commands


def k8s_containers() -> list[dict]:
    return [c for d in manifests() if d["kind"] != "Service" for c in containers(d)]


def starts_a_web_ui(words: list[str]) -> bool:
    """A `locust -f` command that is neither headless nor a worker serves Locust's web UI."""
    text = " ".join(words)
    return "locust -f" in text and "--headless" not in text and "--worker" not in text


def compose_web_ui_script() -> str:
    webui = compose()["services"]["webui"]
    assert webui["entrypoint"] == ["sh", "-c"]
    [script] = webui["command"]
    return script.replace("$$", "$")  # compose's escape of a literal $


def test_every_web_ui_asks_for_a_login_that_is_not_in_the_files():
    """Whoever reaches Locust's web UI can start a sweep against any URL."""
    webui = compose()["services"]["webui"]
    script = compose_web_ui_script()
    assert starts_a_web_ui(shlex.split(script))
    assert '--web-auth "$LOCUST_WEB_AUTH"' in script
    assert 'test -n "$LOCUST_WEB_AUTH"' in script  # no login, no web UI
    assert webui["environment"] == ["LOCUST_WEB_AUTH"]  # from the caller's environment
    assert all(str(p).startswith("127.0.0.1:") for p in webui["ports"])
    for service in compose()["services"].values():
        words = [*service.get("entrypoint", []), *map(str, service.get("command", []))]
        assert not starts_a_web_ui(words) or "--web-auth" in " ".join(words)
    web_uis = [c for c in k8s_containers() if starts_a_web_ui([*c.get("command", []), *c["args"]])]
    assert web_uis
    for container in web_uis:
        args = container["args"]
        assert args[args.index("--web-auth") + 1] == "$(LOCUST_WEB_AUTH)"
        [env] = [e for e in container["env"] if e["name"] == "LOCUST_WEB_AUTH"]
        assert "secretKeyRef" in env["valueFrom"]
    for doc in manifests():
        if doc["kind"] == "Service":
            assert doc["spec"].get("type", "ClusterIP") == "ClusterIP"


def test_the_readme_starts_no_web_ui_open_to_other_machines():
    readme = (REPO / "README.md").read_text()
    blocks = re.findall(r"```\w*\n(.*?)```", readme, flags=re.S)
    commands = [c for b in blocks for c in b.replace("\\\n", " ").splitlines()]
    web_uis = [c for c in commands if starts_a_web_ui(c.split("#")[0].split())]
    assert web_uis
    for line in web_uis:
        assert "--web-auth" in line or "--web-host 127.0.0.1" in line, line


def test_the_compose_web_ui_asks_for_its_login_and_refuses_to_start_without_one(tmp_path):
    port = free_ports(1)[0]
    script = compose_web_ui_script()
    script = script.replace("exec locust", f"exec {BIN / 'locust'}")
    script = script.replace("/opt/triton-locust/locustfiles", str(REPO / "locustfiles"))
    # Run here, it must not listen beyond this machine either.
    script = script.replace("--web-host 0.0.0.0", f"--web-host 127.0.0.1 --web-port {port}")
    env = {k: v for k, v in os.environ.items() if k != "LOCUST_WEB_AUTH"}
    refused = subprocess.run(
        ["sh", "-c", script], capture_output=True, text=True, env=env, timeout=30
    )
    assert refused.returncode == 2 and "LOCUST_WEB_AUTH" in refused.stderr
    web = subprocess.Popen(
        ["sh", "-c", script],
        env={**env, "LOCUST_WEB_AUTH": "tester:s3cret"},
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                status = http_status(base + "/")
                break
            except OSError:
                assert time.monotonic() < deadline and web.poll() is None, "no web UI"
                time.sleep(0.3)
        assert status == 401
        assert http_status(base + "/swarm", data=b"user_count=1&spawn_rate=1") == 401
        assert http_status(base + "/triton/state") == 401
        login = "Basic " + base64.b64encode(b"tester:s3cret").decode()
        assert http_status(base + "/", headers={"Authorization": login}) == 200
    finally:
        web.terminate()
        try:
            web.wait(timeout=30)
        except subprocess.TimeoutExpired:
            web.kill()


def http_status(url: str, data: bytes | None = None, headers: dict | None = None) -> int:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


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
