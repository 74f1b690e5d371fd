"""Results pushed to Prometheus's real Pushgateway (Debian's, started by the fixture) and
read back from its /metrics, as Prometheus would scrape them."""

from __future__ import annotations

import base64
import dataclasses
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from prometheus_client.parser import text_string_to_metric_families

from analysis.checks import BASELINE, CheckResult
from analysis.report.recommend import recommend
from analysis.report.summary import from_result
from analysis.results import LevelResult, SweepResult
from analysis.run_record import RunRecord
from analysis.settings import SweepSettings
from analysis.stabiliser import Spread, Verdict
from analysis.window import merge
from tests.pushgateway_service import pushgateway_url  # noqa: F401
from tests.synthetic import window
from triton_locust.pushgateway import (
    CHECK_PASSED,
    EXIT_CODE,
    FAILED_REQUESTS,
    FINISHED,
    LATENCY,
    LEVEL_STABLE,
    METRICS,
    RECOMMENDED,
    STARTED,
    THROUGHPUT,
    PushError,
    push_run,
)
from triton_locust.server import free_ports

pytestmark = pytest.mark.server

# Requests per 1 s window at each concurrency, and their latency (us): throughput that
# levels off after 3, latency climbing once the model is saturated.
LEVELS = {1: (100, 10_000), 2: (195, 10_200), 3: (280, 10_700), 4: (290, 13_800)}
STARTED_AT = "2026-11-25T02:00:00Z"


def sweep(scale: float = 1.0, unstable: int | None = None, errors: int = 0) -> SweepResult:
    settings = SweepSettings(
        model="sleep_5ms",
        model_version="1",
        concurrency_start=1,
        concurrency_end=len(LEVELS),
        percentile=95,
    )
    result = SweepResult(settings, started_at=STARTED_AT, server_version="2.50.0")
    for c, (count, latency_us) in LEVELS.items():
        windows = [
            window(int(count * scale), latency_us, percentile=95, spread_us=latency_us / 5)
            for _ in range(3)
        ]
        if c == 1 and errors:
            windows[0] = dataclasses.replace(windows[0], error_count=errors)
        verdict = Verdict.UNSTABLE if c == unstable else Verdict.STABLE
        result.levels.append(LevelResult(c, verdict, windows, merge(windows, 95), Spread(1, 1)))
    return result


def record(scenario: str = "slow-http", result: SweepResult | None = None, **kw) -> RunRecord:
    result = result or sweep()
    return RunRecord(
        scenario=scenario,
        started_at=STARTED_AT,
        exit_code=kw.pop("exit_code", 0),
        result=result.to_dict(),
        **kw,
    )


def scrape(url: str) -> dict[str, list]:
    """The gateway's /metrics: each of our metrics' samples, by name."""
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    families = {}
    for family in text_string_to_metric_families(text):
        if family.name.startswith("triton_locust_"):
            families[family.name] = family.samples
    return families


def value(samples: list, **labels: str) -> float:
    [found] = [s.value for s in samples if labels.items() <= s.labels.items()]
    return found


def clear(url: str, scenario: str) -> None:
    """Delete a scenario's group: each test starts from what it pushes."""
    request = urllib.request.Request(
        f"{url}/metrics/job/triton_locust/scenario/{scenario}", method="DELETE"
    )
    urllib.request.urlopen(request, timeout=10).close()


@pytest.fixture
def gateway(pushgateway_url: str) -> Iterator[str]:  # noqa: F811
    yield pushgateway_url
    for scenario in ("slow-http", "fast-grpc"):
        clear(pushgateway_url, scenario)


def test_a_run_is_read_back_labelled_by_scenario_model_and_concurrency(gateway):
    checks = [
        CheckResult("p95 < 50ms at concurrency 2", True, "p95 at concurrency 2: 11.9 ms"),
        CheckResult("throughput >= 300 at concurrency 3", False, "throughput: 280 infer/s"),
        CheckResult("baseline at concurrency 1", True, "within noise", kind=BASELINE),
    ]
    result = sweep(unstable=4, errors=3)
    push_run(gateway, record(result=result, exit_code=4, checks=checks))
    got = scrape(gateway)
    assert set(got) == set(METRICS)  # every name the module documents, and no other
    run = {"scenario": "slow-http", "model": "sleep_5ms", "model_version": "1"}
    summary = from_result(result)
    for level in summary.levels:
        at = {**run, "concurrency": str(level.concurrency)}
        assert value(got[THROUGHPUT], **at) == pytest.approx(level.throughput)
        assert value(got[LATENCY], **at, stat="p95") == pytest.approx(
            level.percentiles_us[95] / 1e6
        )
        assert value(got[LATENCY], **at, stat="avg") == pytest.approx(level.avg_latency_us / 1e6)
        assert value(got[LEVEL_STABLE], **at) == (0 if level.concurrency == 4 else 1)
    assert {s.labels["stat"] for s in got[LATENCY]} == {"avg", "p50", "p90", "p95", "p99"}
    assert value(got[THROUGHPUT], concurrency="3") == pytest.approx(280, rel=0.01)
    advice = recommend(summary)
    for pick in ("knee", "saturation", "max_throughput"):
        assert value(got[RECOMMENDED], **run, pick=pick) == getattr(advice, pick).concurrency
    assert value(got[RECOMMENDED], pick="saturation") == 3  # within 5% of level 4's
    assert value(got[RECOMMENDED], pick="max_throughput") == 4
    assert value(got[CHECK_PASSED], check="p95 < 50ms at concurrency 2", kind="slo") == 1
    assert value(got[CHECK_PASSED], check="throughput >= 300 at concurrency 3") == 0
    assert value(got[CHECK_PASSED], check="baseline at concurrency 1", kind="baseline") == 1
    assert value(got[EXIT_CODE], **run) == 4
    assert value(got[FINISHED], **run) == 1
    assert value(got[STARTED], **run) == 1795572000  # 2026-11-25T02:00:00Z
    assert value(got[FAILED_REQUESTS], **run) == 3
    # Prometheus scrapes these with honor_labels: the group's job and scenario stay.
    assert {s.labels["job"] for m in got.values() for s in m} == {"triton_locust"}


def test_scenarios_keep_their_own_groups_and_a_new_run_replaces_the_last(gateway):
    push_run(gateway, record("slow-http", exit_code=1))
    push_run(gateway, record("fast-grpc", sweep(scale=2)))
    got = scrape(gateway)
    assert value(got[EXIT_CODE], scenario="slow-http") == 1
    assert value(got[EXIT_CODE], scenario="fast-grpc") == 0
    slow = value(got[THROUGHPUT], scenario="slow-http", concurrency="2")
    fast = value(got[THROUGHPUT], scenario="fast-grpc", concurrency="2")
    assert fast == pytest.approx(2 * slow, rel=0.02)

    # slow-http's next run measured levels 1 and 2 only, and was cut short: nothing of the
    # run before it is left to mix with it.
    short = sweep(scale=3)
    short.levels = short.levels[:2]
    short.stop_reason = "interrupted"
    push_run(gateway, record("slow-http", short, exit_code=130))
    got = scrape(gateway)
    assert value(got[EXIT_CODE], scenario="slow-http") == 130
    assert value(got[FINISHED], scenario="slow-http") == 0
    assert sorted(
        s.labels["concurrency"] for s in got[THROUGHPUT] if s.labels["scenario"] == "slow-http"
    ) == ["1", "2"]
    assert value(got[THROUGHPUT], scenario="slow-http", concurrency="2") == pytest.approx(
        3 * slow, rel=0.02
    )
    assert value(got[EXIT_CODE], scenario="fast-grpc") == 0  # untouched
    assert len([s for s in got[THROUGHPUT] if s.labels["scenario"] == "fast-grpc"]) == 4


def test_a_scenario_that_measured_nothing_still_reports_its_exit_code_and_checks(gateway):
    failed = RunRecord(
        "slow-http",
        STARTED_AT,
        exit_code=3,
        result={},
        checks=[CheckResult("errors == 0", False, "no results")],
    )
    push_run(gateway, failed)
    got = scrape(gateway)
    assert value(got[EXIT_CODE], scenario="slow-http") == 3
    assert value(got[FINISHED], scenario="slow-http") == 0
    assert value(got[CHECK_PASSED], scenario="slow-http", check="errors == 0") == 0
    assert THROUGHPUT not in got


def test_credentials_in_the_gateway_url_are_sent_not_shown(gateway):
    host = gateway.removeprefix("http://")
    push_run(f"http://ci:s3cret@{host}", record())  # this gateway asks for no login
    assert value(scrape(gateway)[EXIT_CODE], scenario="slow-http") == 0


def test_a_push_the_gateway_refuses_says_why_in_one_line(gateway):
    """Another job pushed the exit code as a counter: the gateway refuses ours, and says why."""
    other = f"{gateway}/metrics/job/someone_else"
    body = b"# TYPE triton_locust_run_exit_code counter\ntriton_locust_run_exit_code 1\n"
    urllib.request.urlopen(urllib.request.Request(other, data=body, method="PUT"), timeout=10)
    try:
        with pytest.raises(PushError) as caught:
            push_run(gateway, record())
    finally:
        urllib.request.urlopen(urllib.request.Request(other, method="DELETE"), timeout=10)
    message = str(caught.value)
    assert "\n" not in message and "400" in message
    assert "inconsistent" in message  # the gateway's own words


def test_an_unreachable_gateway_is_one_line_without_the_credentials():
    port = free_ports(1)[0]  # nothing listens there
    with pytest.raises(PushError) as caught:
        push_run(f"http://ci:s3cret@127.0.0.1:{port}", record(), timeout_s=2)
    message = str(caught.value)
    assert "\n" not in message
    assert f"127.0.0.1:{port}" in message
    assert "s3cret" not in message and "ci:" not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_a_bad_gateway_url_is_one_line_without_the_credentials():
    with pytest.raises(PushError) as caught:
        push_run("http://ci:s3cret@pushgateway:notaport", record())
    message = str(caught.value)
    assert "\n" not in message and "s3cret" not in message
    assert "pushgateway:notaport" in message


class Refusing(BaseHTTPRequestHandler):
    """A gateway behind a login that refuses every push; it keeps what it was sent."""

    seen: list[str | None] = []

    def do_PUT(self) -> None:
        Refusing.seen.append(self.headers.get("Authorization"))
        self.send_response(401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_a_refused_push_says_so_and_the_login_went_as_a_header():
    Refusing.seen.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        with pytest.raises(PushError) as caught:
            push_run(f"http://ci:s3cret@127.0.0.1:{port}", record())
    finally:
        server.shutdown()
        server.server_close()
    message = str(caught.value)
    assert "401" in message and "\n" not in message and "s3cret" not in message
    assert Refusing.seen == ["Basic " + base64.b64encode(b"ci:s3cret").decode()]
