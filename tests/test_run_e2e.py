"""`triton-locust run PLAN` against the real embedded Triton server: SLOs that pass and fail
with the exit code k6 users know (99), JUnit a parser reads, a baseline that flags a
slowed server at the slowed levels only, the history and its trend report, and a bad plan
refused before a single request."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest
from junitparser import Error, Failure, JUnitXml

from tests.helpers import REPO
from triton_locust.history import open_history
from triton_locust.server import TritonServer, free_ports
from triton_locust.server.launcher import SAMPLE_MODELS

pytestmark = pytest.mark.server

PLAN = """\
scenarios:
  - name: slow-http
    model-name: sleep_5ms
    url: {http}
    protocol: http
    concurrency-range: "1:3"
    measurement-interval: 400
    percentile: 95
    slos:
      - p95 < 50ms at concurrency 2
      - throughput >= 100 at concurrency 1
      - errors == 0
  - name: identity-grpc
    model-name: identity_fp32
    url: {grpc}
    protocol: grpc
    concurrency-range: "1"
    measurement-interval: 400
    slos:
      - max_throughput >= 1000000
      - p99 < 1s
"""


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`triton-locust run ARGS`; the history beside the results, never in the repository's."""
    if "--history" not in args:
        folder = Path(args[args.index("--results-dir") + 1])
        args = (*args, "--history", str(folder / "history.sqlite"))
    return subprocess.run(
        [sys.executable, "-m", "triton_locust.cli", "run", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env=env,
    )


def served(server: TritonServer, model: str) -> int:
    """Requests the server has answered for `model` since it started."""
    with urllib.request.urlopen(
        f"http://{server.http_url}/v2/models/{model}/stats", timeout=5
    ) as r:
        stats = json.load(r)["model_stats"]
    return sum(int(s["inference_stats"]["success"]["count"]) for s in stats)


def test_two_scenarios_one_slo_fails_exit_99_with_junit(triton_server, tmp_path):
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN.format(http=triton_server.http_url, grpc=triton_server.grpc_url))
    junit = tmp_path / "junit.xml"
    done = run(str(plan), "--results-dir", str(tmp_path / "results"), "--junit", str(junit))

    assert done.returncode == 99, done.stdout[-3000:] + done.stderr[-2000:]
    out = done.stdout
    assert "  PASS  p95 < 50ms at concurrency 2  (p95 at concurrency 2: " in out
    assert "  PASS  throughput >= 100 at concurrency 1  (throughput at concurrency 1: " in out
    assert "  PASS  errors == 0  (errors: 0)" in out
    assert "  FAIL  max_throughput >= 1000000  (max_throughput: " in out
    assert "  PASS  p99 < 1s  (p99 at concurrency 1: " in out
    assert "exit 99 (a check failed (an SLO, or a level worse than the baseline))" in out

    suites = {suite.name: suite for suite in JUnitXml.fromfile(str(junit))}
    assert set(suites) == {"slow-http", "identity-grpc"}
    slow = {case.name: case for case in suites["slow-http"]}
    assert list(slow) == [
        "p95 < 50ms at concurrency 2",
        "throughput >= 100 at concurrency 1",
        "errors == 0",
    ]
    assert all(case.is_passed for case in slow.values())
    failed = {case.name: case for case in suites["identity-grpc"]}
    assert not failed["max_throughput >= 1000000"].is_passed
    (failure,) = failed["max_throughput >= 1000000"].result
    assert isinstance(failure, Failure) and "infer/s" in failure.message
    assert failed["p99 < 1s"].is_passed

    # Each scenario's results are files of their own, and the history holds both runs.
    (folder,) = (tmp_path / "results" / "runs").iterdir()
    assert {p.name for p in folder.iterdir()} >= {"slow-http.json", "identity-grpc.csv"}
    listing = subprocess.run(
        [
            sys.executable,
            "-m",
            "triton_locust.cli",
            "history",
            "--history",
            str(tmp_path / "results" / "history.sqlite"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert listing.returncode == 0 and "slow-http" in listing.stdout
    assert "identity-grpc" in listing.stdout


def slowed_repository(tmp_path: Path) -> Path:
    """sleep_5ms on one instance instead of three: a single request in flight is served as
    fast as before, two or three queue behind each other."""
    repository = tmp_path / "slowed-models"
    shutil.copytree(SAMPLE_MODELS / "sleep_5ms", repository / "sleep_5ms")
    config = repository / "sleep_5ms" / "config.pbtxt"
    text = config.read_text()
    assert "count: 3" in text
    config.write_text(text.replace("count: 3", "count: 1"))
    return repository


def test_a_baseline_flags_the_slowed_levels_only_and_the_trend_holds_three_runs(
    triton_server, tmp_path
):
    history = tmp_path / "history.sqlite"
    plan_text = PLAN.split("  - name: identity-grpc")[0]
    plan = tmp_path / "plan.yaml"

    def sweep(server: TritonServer) -> subprocess.CompletedProcess[str]:
        plan.write_text(plan_text.format(http=server.http_url))
        return run(
            str(plan),
            "--results-dir",
            str(tmp_path),
            "--history",
            str(history),
            "--baseline",
            "latest",
            "--markdown",
            str(tmp_path / "summary.md"),
        )

    first, second = sweep(triton_server), sweep(triton_server)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-2000:]
    assert "nothing to compare yet" in first.stdout
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-2000:]
    assert "Against the baseline: history run 1" in second.stdout

    with TritonServer(*free_ports(3), model_repository=slowed_repository(tmp_path)) as slowed:
        third = sweep(slowed)
    assert third.returncode == 99, third.stdout[-3000:] + third.stderr[-2000:]
    assert "Against the baseline: history run 2" in third.stdout
    # The verdict table: concurrency first, the verdict last.
    verdicts = {
        int(line.split()[0]): line
        for line in third.stdout.split("Against the baseline")[1].splitlines()[2:5]
    }
    assert verdicts[1].endswith("within noise"), third.stdout
    assert verdicts[2].endswith("worse") and verdicts[3].endswith("worse"), third.stdout
    assert "| 2 |" in (tmp_path / "summary.md").read_text()

    trend = tmp_path / "trend.html"
    report = subprocess.run(
        [
            sys.executable,
            "-m",
            "triton_locust.cli",
            "history",
            "report",
            "--history",
            str(history),
            "-o",
            str(trend),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert report.returncode == 0, report.stderr
    page = trend.read_text()
    with open_history(str(history)) as kept:
        started = [record.started_at for record in kept.runs("slow-http")]
    assert len(started) == 3
    for when in started:
        assert when[:19].replace("T", " ") in page


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (("    percentile: 95", "    percentile: high"), "percentile: expected a whole number"),
        (("    protocol: http", "    protocl: http"), "protocl: unknown key"),
        (("    model-name: sleep_5ms\n", ""), "model-name: missing"),
    ],
)
def test_a_malformed_plan_sends_nothing(triton_server, tmp_path, change, said):
    plan = tmp_path / "plan.yaml"
    text = PLAN.format(http=triton_server.http_url, grpc=triton_server.grpc_url)
    plan.write_text(text.replace(*change))
    before = served(triton_server, "sleep_5ms")
    done = run(str(plan), "--results-dir", str(tmp_path / "results"))
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"triton-locust run: error: {plan}:") and said in line
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert served(triton_server, "sleep_5ms") == before
    assert not (tmp_path / "results" / "runs").exists()


class RecordingProxy:
    """A pass-through TCP proxy in front of the real server that keeps what clients sent:
    the proof that a header reached the server's door."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.rsplit(":", 1)
        self.upstream = (host, int(port))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.sent = bytearray()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            client, _ = self.listener.accept()
            server = socket.create_connection(self.upstream)
            threading.Thread(target=self._pipe, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, False), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, record: bool) -> None:
        try:
            while data := src.recv(65536):
                if record:
                    self.sent += data
                dst.sendall(data)
        except OSError:
            pass
        finally:
            dst.close()


def test_a_header_from_the_environment_reaches_the_server_and_no_file(triton_server, tmp_path):
    secret = "Bearer tl-run-secret-4711"
    proxy = RecordingProxy(triton_server.http_url)
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        PLAN.split("    slos:")[0]
        .format(http=proxy.url)
        .replace('"1:3"', '"1"\n    header-from-env: ["Authorization:TL_TOKEN"]')
    )
    results = tmp_path / "results"
    done = run(
        str(plan),
        "--results-dir",
        str(results),
        "--junit",
        str(results / "j.xml"),
        "--markdown",
        str(results / "s.md"),
        env={**os.environ, "TL_TOKEN": secret},
    )
    # 1 too: a Python proxy on two shared cores may leave the level unstable.
    assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-2000:]
    assert f"Authorization: {secret}".encode() in proxy.sent
    assert secret not in done.stdout + done.stderr
    for path in results.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_an_unreachable_server_is_an_error_in_junit_not_a_pass(tmp_path):
    """The plan was fine: a scenario that cannot start is an error of the run (3), not bad
    input, and JUnit shows it as an error, never as a pass."""
    plan = tmp_path / "plan.yaml"
    port = free_ports(1)[0]
    plan.write_text(PLAN.split("  - name: identity-grpc")[0].format(http=f"localhost:{port}"))
    junit = tmp_path / "junit.xml"
    done = run(str(plan), "--results-dir", str(tmp_path), "--junit", str(junit))
    assert done.returncode == 3, done.stdout + done.stderr
    assert "cannot reach Triton" in done.stderr
    (suite,) = JUnitXml.fromfile(str(junit))
    (case,) = suite
    assert case.name == "sweep" and isinstance(case.result[0], Error)


def test_sigterm_keeps_and_records_what_was_measured_and_starts_nothing_more(
    triton_server, tmp_path
):
    """A CronJob's pod ending: the sweep under way stops, its finished levels are checked
    and recorded as a partial run, the next scenario never starts, and the exit is 130."""
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "scenarios:\n"
        f"  - {{name: long, model-name: sleep_5ms, url: '{triton_server.http_url}',"
        " concurrency-range: '1:8', measurement-interval: 400, slos: ['errors == 0']}\n"
        f"  - {{name: never, model-name: sleep_5ms, url: '{triton_server.http_url}'}}\n"
    )
    junit = tmp_path / "junit.xml"
    command = [
        sys.executable,
        "-m",
        "triton_locust.cli",
        "run",
        str(plan),
        "--history",
        str(tmp_path / "history.sqlite"),
        "--results-dir",
        str(tmp_path),
        "--junit",
        str(junit),
    ]
    child = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    seen = []
    for line in child.stdout:  # until the second level has been reported
        seen.append(line)
        if line.startswith("Request concurrency: 3"):
            break
    child.send_signal(signal.SIGTERM)
    out, _ = child.communicate(timeout=60)
    said = "".join(seen) + out
    assert child.returncode == 130, said
    assert "Scenario 2 of 2" not in said
    assert "exit 130 (interrupted)" in said
    with open_history(str(tmp_path / "history.sqlite")) as kept:
        (record,) = kept.runs()
    assert record.scenario == "long" and not record.finished and record.exit_code == 130
    assert len(record.sweep().reported_levels) >= 2
    (suite,) = JUnitXml.fromfile(str(junit))
    assert [case.name for case in suite] == ["errors == 0", "sweep"]


RATE_PLAN = """\
scenarios:
  - name: rate-http
    model-name: sleep_5ms
    url: {http}
    request-rate-range: "100:200:100"
    measurement-interval: 500
    percentile: 95
    slos:
      - p95 < 50ms
      - max_throughput >= 150
"""


def test_a_rate_scenario_is_checked_and_held_to_its_baseline_rate_by_rate(triton_server, tmp_path):
    plan = tmp_path / "plan.yaml"
    plan.write_text(RATE_PLAN.format(http=triton_server.http_url))
    results = tmp_path / "results"
    first = run(str(plan), "--results-dir", str(results))
    assert first.returncode == 0, first.stdout + first.stderr
    assert "rate-http — sleep_5ms at" in first.stdout
    assert "request rate 100:200:100 ===" in first.stdout
    assert "PASS  p95 < 50ms  (p95 at request rate " in first.stdout
    assert "PASS  max_throughput >= 150  (max_throughput: " in first.stdout
    assert "infer/s at request rate 200)" in first.stdout
    summary = tmp_path / "summary.md"
    again = run(str(plan), "--results-dir", str(results), "--baseline", "latest",
                "--markdown", str(summary))  # fmt: skip
    assert again.returncode == 0, again.stdout + again.stderr
    rows = [line.split()[0] for line in again.stdout.splitlines() if "/s  " in line]
    assert rows == ["100/s", "200/s"], again.stdout
    markdown = summary.read_text()
    assert markdown.count("| Request rate |") == 2  # the levels, and against the baseline
    assert "baseline at request rate 200" in markdown and "Recommendation" not in markdown

    plan.write_text(
        RATE_PLAN.format(http=triton_server.http_url) + "      - recommended.knee >= 1\n"
    )
    refused = run(str(plan), "--results-dir", str(results))
    assert refused.returncode == 2
    assert refused.stderr.strip().endswith(
        "SLO 'recommended.knee >= 1': recommended.knee does not apply to a request-rate sweep "
        "(its levels are rates, all at --max-threads users)"
    )
