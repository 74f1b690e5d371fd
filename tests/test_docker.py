"""docker/: no Docker engine runs here, so the files are linted, and the commands the
containers run are run as processes against the embedded server."""

from __future__ import annotations

import base64
import json
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
from prometheus_client.parser import text_string_to_metric_families

from analysis.plan import parse_plan
from analysis.run_record import RunRecord
from tests.helpers import PA_HEADER, REPO, load_levels
from tests.pushgateway_service import pushgateway_binary, pushgateway_url  # noqa: F401
from triton_locust import pushgateway
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


WORKLOADS = ("Deployment", "CronJob")


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
    assert set(services) == {
        "triton",
        "master",
        "worker",
        "webui",
        "scheduled",
        "pushgateway",
        "prometheus",
        "grafana",
    }
    assert services["webui"]["profiles"] == ["webui"]  # not started by a plain `up`
    assert services["scheduled"]["profiles"] == ["scheduled"]  # nor a second sweep
    assert services["triton"]["image"].startswith("nvcr.io/nvidia/tritonserver:")
    assert services["worker"]["deploy"]["replicas"] >= 2
    assert services["master"]["build"]["dockerfile"] == "docker/Dockerfile"


def test_kubernetes_manifests_are_what_the_issue_lists():
    kinds = sorted((d["kind"], d["metadata"]["name"]) for d in manifests())
    assert kinds == [
        ("ConfigMap", "triton-locust-plan"),
        ("CronJob", "triton-locust-nightly"),
        ("Deployment", "pushgateway"),
        ("Deployment", "triton-locust-master"),
        ("Deployment", "triton-locust-webui"),
        ("Deployment", "triton-locust-worker"),
        ("PersistentVolumeClaim", "triton-locust-history"),
        ("Service", "pushgateway"),
        ("Service", "triton-locust-master"),
        ("Service", "triton-locust-webui"),
    ]
    for doc in manifests():
        if doc["kind"] == "Deployment":
            labels = doc["spec"]["template"]["metadata"]["labels"]
            assert doc["spec"]["selector"]["matchLabels"].items() <= labels.items()


def every_command() -> list[list[str]]:
    services = compose()["services"]
    commands = [with_defaults(services[s]["command"]) for s in ("master", "worker", "scheduled")]
    commands += [
        c["args"]
        for c in k8s_containers()
        if c["image"].startswith("triton-locust:") and "command" not in c  # its entrypoint
    ]
    return commands


def k8s_containers() -> list[dict]:
    return [c for d in manifests() if d["kind"] in WORKLOADS for c in containers(d)]


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
    assert args.command in ("profile", "worker", "run")


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


# -- scheduled runs: the CronJob, the Pushgateway, Prometheus and Grafana -----------------


def k8s(kind: str, name: str | None = None) -> dict:
    [doc] = [d for d in manifests() if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    return doc


def cronjob_plan() -> str:
    """The plan the CronJob runs: the ConfigMap file its first argument names."""
    [container] = containers(k8s("CronJob"))
    plan_path = Path(container["args"][1])
    [mount] = [m for m in container["volumeMounts"] if Path(m["mountPath"]) == plan_path.parent]
    spec = k8s("CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    [volume] = [v for v in spec["volumes"] if v["name"] == mount["name"]]
    configmap = k8s("ConfigMap", volume["configMap"]["name"])
    return configmap["data"][plan_path.name]


def plan_env(container: dict) -> dict[str, str]:
    """The environment variables the container takes from Secrets, filled for a test."""
    return {
        e["name"]: f"test value of {e['name']}"
        for e in container.get("env", [])
        if "secretKeyRef" in e.get("valueFrom", {})
    }


def test_the_cronjob_runs_its_plan_one_run_at_a_time_keeping_its_history():
    cronjob = k8s("CronJob")
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    [container] = containers(cronjob)
    args = container["args"]
    assert args[:2] == ["run", "/plan/plan.yaml"]
    assert args[args.index("--baseline") + 1] == "latest"
    history = Path(args[args.index("--history") + 1])
    assert Path(args[args.index("--junit") + 1]).parent == history.parent
    # The history's folder is the claim's volume: it outlives the pod.
    [mount] = [m for m in container["volumeMounts"] if Path(m["mountPath"]) == history.parent]
    spec = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    [volume] = [v for v in spec["volumes"] if v["name"] == mount["name"]]
    claim = volume["persistentVolumeClaim"]["claimName"]
    assert k8s("PersistentVolumeClaim", claim)["spec"]["accessModes"] == ["ReadWriteOnce"]
    # It pushes to the Pushgateway's Service, at its port.
    service = k8s("Service", "pushgateway")
    [port] = service["spec"]["ports"]
    assert args[args.index("--pushgateway") + 1] == f"http://pushgateway:{port['port']}"


def test_the_plans_header_values_come_from_secrets_never_from_the_files(monkeypatch):
    [container] = containers(k8s("CronJob"))
    secret_env = plan_env(container)
    text = cronjob_plan()
    scenarios = yaml.safe_load(text)["scenarios"]
    wanted = {spec.split(":", 1)[1] for s in scenarios for spec in s.get("header-from-env", [])}
    assert wanted and wanted <= set(secret_env)  # every header's variable is from a Secret
    for name, value in secret_env.items():
        monkeypatch.setenv(name, value)
    plan = parse_plan(text)  # the lead's own checks: keys, SLOs, no header written
    assert [s.name for s in plan.scenarios] == [s["name"] for s in scenarios]
    for scenario in plan.scenarios:
        assert not any("test value" in a for a in scenario.argv)


def test_the_compose_plan_is_the_cronjobs_less_its_login():
    def without_login(text: str) -> list[dict]:
        scenarios = yaml.safe_load(text)["scenarios"]
        return [{k: v for k, v in s.items() if k != "header-from-env"} for s in scenarios]

    compose_plan = (DOCKER / "plan.yaml").read_text()
    assert without_login(compose_plan) == without_login(cronjob_plan())
    parse_plan(compose_plan)  # needs no environment
    scheduled = compose()["services"]["scheduled"]
    assert "./plan.yaml:/plan/plan.yaml:ro" in scheduled["volumes"]
    [container] = containers(k8s("CronJob"))
    cron_args = container["args"]
    assert scheduled["command"][: cron_args.index("--history")] == cron_args[:2]
    assert "http://pushgateway:9091" in scheduled["command"]


def test_prometheus_scrapes_the_pushgateway_keeping_the_pushed_labels():
    services = compose()["services"]
    prometheus = services["prometheus"]
    config_mount = "./prometheus.yml:/etc/prometheus/prometheus.yml:ro"
    assert config_mount in prometheus["volumes"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    config = yaml.safe_load((DOCKER / "prometheus.yml").read_text())
    [job] = [j for j in config["scrape_configs"] if j["job_name"] == "pushgateway"]
    assert job["honor_labels"] is True  # the pushed job and scenario labels stay
    [targets] = job["static_configs"]
    assert targets["targets"] == ["pushgateway:9091"]
    assert services["pushgateway"]["image"].startswith("prom/pushgateway:")
    for name in ("pushgateway", "prometheus", "grafana"):  # this machine's only
        assert all(str(p).startswith("127.0.0.1:") for p in services[name]["ports"])


def test_grafana_is_provisioned_with_prometheus_and_the_dashboard():
    grafana = compose()["services"]["grafana"]
    mounts = {v.split(":")[0]: v.split(":")[1] for v in grafana["volumes"]}
    datasource = yaml.safe_load((DOCKER / "grafana" / "datasource.yaml").read_text())
    [source] = datasource["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    assert mounts["./grafana/datasource.yaml"].startswith("/etc/grafana/provisioning/datasources/")
    providers = yaml.safe_load((DOCKER / "grafana" / "dashboards.yaml").read_text())
    [provider] = providers["providers"]
    assert mounts["./grafana/dashboards.yaml"].startswith("/etc/grafana/provisioning/dashboards/")
    assert Path(mounts["./grafana/triton-locust.json"]).parent == Path(provider["options"]["path"])
    assert "GF_SECURITY_ADMIN_PASSWORD" in grafana["environment"]  # from the caller, not here


def dashboard() -> dict:
    return json.loads((DOCKER / "grafana" / "triton-locust.json").read_text())


def promql(board: dict) -> list[str]:
    """Every PromQL expression of the dashboard: its panels' and its variables' queries."""
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            exprs.append(query["query"] if isinstance(query, dict) else query)
    return exprs


def test_the_dashboard_draws_only_the_metrics_push_run_emits():
    board = dashboard()
    exprs = promql(board)
    named = [set(re.findall(r"\btriton_locust_\w+", e)) for e in exprs]
    assert all(named), "an expression that draws none of our metrics"
    used = set().union(*named)
    assert used <= set(pushgateway.METRICS), used - set(pushgateway.METRICS)
    for metric in (
        pushgateway.THROUGHPUT,
        pushgateway.LATENCY,
        pushgateway.RECOMMENDED,
        pushgateway.CHECK_PASSED,
        pushgateway.EXIT_CODE,
    ):
        assert metric in used
    assert any(pushgateway.LATENCY in e and 'stat="p95"' in e for e in exprs)
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["scenario"]["multi"] and variables["scenario"]["includeAll"]
    assert variables["datasource"]["query"] == "prometheus"
    for panel in board["panels"]:
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"
            assert '"$scenario"' in target["expr"]
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))


@pytest.mark.server
def test_the_k8s_pushgateway_keeps_its_groups_across_a_restart(tmp_path):
    """Its container's arguments, run with Debian's Pushgateway: what it holds survives a
    restart of the container, as the comment says."""
    [container] = containers(k8s("Deployment", "pushgateway"))
    args = [a.replace("/data/", f"{tmp_path}/") for a in container["args"]]
    record = RunRecord("restarted", "2026-11-25T02:00:00Z", exit_code=99, result={})
    for attempt in range(2):
        port = free_ports(1)[0]
        url = f"http://127.0.0.1:{port}"
        gateway = subprocess.Popen(
            [pushgateway_binary(), *args, f"--web.listen-address=127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    assert http_status(url + "/-/ready") == 200
                    break
                except OSError:
                    assert time.monotonic() < deadline and gateway.poll() is None
                    time.sleep(0.1)
            if attempt == 0:
                pushgateway.push_run(url, record)
            with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
                text = response.read().decode()
            assert f'{pushgateway.EXIT_CODE}{{instance="",job="triton_locust"' in text
            assert 'scenario="restarted"} 99' in text
        finally:
            gateway.terminate()  # it writes its file as it stops
            gateway.wait(timeout=30)


def short_plan(text: str, triton_server) -> str:
    """The plan with its URLs on the embedded server and its sweeps shortened: half-second
    windows, at most 5 of them a level, levels up to the highest an SLO names (at least 2)."""
    plan = yaml.safe_load(text)
    for scenario in plan["scenarios"]:
        grpc = scenario.get("protocol") == "grpc"
        scenario["url"] = triton_server.grpc_url if grpc else triton_server.http_url
        scenario["measurement-interval"] = 500
        scenario["max-trials"] = 5
        named = [
            int(n) for s in scenario.get("slos", []) for n in re.findall(r"concurrency (\d+)", s)
        ]
        start, _, end = str(scenario["concurrency-range"]).partition(":")
        scenario["concurrency-range"] = f"{start}:{min(int(end), max([2, *named]))}"
    return yaml.safe_dump(plan, sort_keys=False)


@pytest.mark.server
def test_the_cronjob_command_runs_its_plan_and_pushes_the_results(
    triton_server,
    pushgateway_url,  # noqa: F811
    tmp_path,
):
    """The CronJob's own command and ConfigMap plan, with /plan, /history and the
    Pushgateway's URL pointed at this machine, the Secret's variables filled."""
    [container] = containers(k8s("CronJob"))
    plan_dir, history = tmp_path / "plan", tmp_path / "history"
    plan_dir.mkdir()
    history.mkdir()
    (plan_dir / "plan.yaml").write_text(short_plan(cronjob_plan(), triton_server))
    args = [
        str(history)
        if a == "/history"
        else a.replace("/plan/", f"{plan_dir}/")
        .replace("/history/", f"{history}/")
        .replace("http://pushgateway:9091", pushgateway_url)
        for a in container["args"]
    ]
    secrets = plan_env(container)
    scenarios = yaml.safe_load(cronjob_plan())["scenarios"]
    for scenario in scenarios:  # a group left from another test would pass for this run's
        request = urllib.request.Request(
            f"{pushgateway_url}/metrics/job/triton_locust/scenario/{scenario['name']}",
            method="DELETE",
        )
        urllib.request.urlopen(request, timeout=10).close()
    run = subprocess.run(
        [sys.executable, "-m", "triton_locust.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={**os.environ, **secrets},
    )
    said = run.stdout + run.stderr
    assert "Traceback" not in said, said[-3000:]
    assert run.returncode not in (2, 3), shlex.join(args) + "\n" + said[-3000:]
    assert (history / "history.sqlite").exists()
    assert list((history / "runs").glob("*/*.html")), "each run's report stays on the volume"
    junit = (history / "junit.xml").read_text()
    for value in secrets.values():  # header values stay out of output, JUnit and pushes
        assert value not in said and value not in junit

    with urllib.request.urlopen(pushgateway_url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    for value in secrets.values():
        assert value not in text
    families = {
        f.name: f.samples
        for f in text_string_to_metric_families(text)
        if f.name.startswith("triton_locust_")
    }
    for scenario in scenarios:
        mine = {"scenario": scenario["name"], "model": scenario["model-name"]}

        def samples(metric: str, labels: dict = mine) -> list:
            return [s for s in families.get(metric, []) if labels.items() <= s.labels.items()]

        assert len(samples(pushgateway.EXIT_CODE)) == 1
        assert samples(pushgateway.FINISHED)[0].value == 1
        levels = {s.labels["concurrency"] for s in samples(pushgateway.THROUGHPUT)}
        assert "1" in levels and "2" in levels
        checks = {s.labels["check"] for s in samples(pushgateway.CHECK_PASSED)}
        assert set(scenario["slos"]) <= checks
