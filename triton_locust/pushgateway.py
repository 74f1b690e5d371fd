"""A scheduled run's results, pushed to a Prometheus Pushgateway for Grafana to draw.

Each scenario is one group, job "triton_locust" with the grouping key {scenario}: a push
replaces that scenario's previous group (its last run is what Prometheus scrapes) and leaves
the other scenarios' groups alone. Every metric is a gauge; every one carries the labels
scenario, model and model_version (what the run measured). The names:

- triton_locust_throughput_inferences_per_second{concurrency}: a level's throughput.
- triton_locust_latency_seconds{concurrency, stat}: a level's latency; stat is "avg" and
  "p50", "p90", "p95", "p99" (the percentiles the run measured).
- triton_locust_level_stable{concurrency}: 1 if the level stabilised, 0 if flagged.
- triton_locust_recommended_concurrency{pick}: the concurrency each pick of the report
  recommends; pick is "knee", "saturation" or "max_throughput".
- triton_locust_check_passed{check, kind}: 1 if the check passed; check is the SLO as the
  plan writes it ("p95 < 50ms at concurrency 2") or "baseline at concurrency N", kind
  "slo" or "baseline".
- triton_locust_run_exit_code: the scenario's exit code (0, 1, 3, 4, 99, 130).
- triton_locust_run_finished: 1 if the sweep ended as planned, 0 if it was cut short.
- triton_locust_run_started_timestamp_seconds: when the sweep started, Unix seconds.
- triton_locust_run_failed_requests: requests that failed, in any window of any level.

The label values stay bounded: levels and percentiles are the plan's, checks the plan's
SLOs and the baseline's levels, picks three. The Pushgateway adds push_time_seconds itself.
"""

from __future__ import annotations

import http.client
import re
import urllib.error
from datetime import timezone
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from prometheus_client import CollectorRegistry, Gauge, push_to_gateway
from prometheus_client.exposition import basic_auth_handler

from analysis.exit_codes import failed_requests
from analysis.report.recommend import recommend
from analysis.report.summary import from_result
from analysis.results import SweepResult
from analysis.run_record import RunRecord, started_utc

JOB = "triton_locust"
PREFIX = "triton_locust_"
THROUGHPUT = PREFIX + "throughput_inferences_per_second"
LATENCY = PREFIX + "latency_seconds"
LEVEL_STABLE = PREFIX + "level_stable"
RECOMMENDED = PREFIX + "recommended_concurrency"
CHECK_PASSED = PREFIX + "check_passed"
EXIT_CODE = PREFIX + "run_exit_code"
FINISHED = PREFIX + "run_finished"
STARTED = PREFIX + "run_started_timestamp_seconds"
FAILED_REQUESTS = PREFIX + "run_failed_requests"
# Every name push_run emits: tests hold the Grafana dashboard's PromQL to these.
METRICS: tuple[str, ...] = (
    THROUGHPUT,
    LATENCY,
    LEVEL_STABLE,
    RECOMMENDED,
    CHECK_PASSED,
    EXIT_CODE,
    FINISHED,
    STARTED,
    FAILED_REQUESTS,
)
RUN_LABELS = ("scenario", "model", "model_version")
PICKS = ("knee", "saturation", "max_throughput")


class PushError(Exception):
    """The push failed: one line naming the gateway (credentials left out)."""


def push_run(gateway: str, record: RunRecord, timeout_s: float = 10) -> None:
    """Replace `record.scenario`'s group on the Pushgateway at `gateway` (a URL; basic-auth
    credentials in it, http://user:password@host:9091, are sent as a header)."""
    registry = run_registry(record)
    shown = _without_credentials(gateway)
    try:
        url, username, password = _split_credentials(gateway)
    except ValueError as exc:  # a port that is no number, a bracket left open
        raise PushError(f"cannot push to the Pushgateway at {shown}: {exc}") from None

    def handler(**kwargs: Any) -> Any:
        return basic_auth_handler(username=username, password=password, **kwargs)

    try:
        push_to_gateway(
            url,
            job=JOB,
            registry=registry,
            grouping_key={"scenario": record.scenario},
            timeout=timeout_s,
            handler=handler,
        )
    except (OSError, ValueError, http.client.HTTPException) as exc:
        # The credentials went in a header only, which no error quotes back.
        raise PushError(f"cannot push to the Pushgateway at {shown}: {_reason(exc)}") from None


def run_registry(record: RunRecord) -> CollectorRegistry:
    """The gauges of one scenario's run, in a registry of their own (one per push)."""
    registry = CollectorRegistry()
    run = dict(zip(RUN_LABELS, (record.scenario, record.model, record.model_version), strict=True))

    def gauge(name: str, doc: str, *labels: str) -> Gauge:
        return Gauge(name, doc, [*RUN_LABELS, *labels], registry=registry)

    gauge(EXIT_CODE, "The scenario's exit code.").labels(**run).set(record.exit_code)
    gauge(FINISHED, "1 if the sweep ended as planned.").labels(**run).set(int(record.finished))
    started = _unix_seconds(record.started_at)
    if started is not None:
        gauge(STARTED, "When the sweep started, Unix seconds.").labels(**run).set(started)
    checks = gauge(CHECK_PASSED, "1 if the check passed.", "check", "kind")
    for check in record.checks:
        checks.labels(**run, check=check.name, kind=check.kind).set(int(check.passed))

    sweep = _sweep(record)
    if sweep is None:  # the scenario failed before measuring anything
        return registry
    gauge(FAILED_REQUESTS, "Requests that failed in the run.").labels(**run).set(
        failed_requests(sweep)
    )
    summary = from_result(sweep)
    # A rate sweep's levels share one concurrency (--max-threads): they go by their rate.
    load = "request_rate" if summary.rate_mode else "concurrency"
    throughput = gauge(THROUGHPUT, "A level's throughput, inferences/s.", load)
    latency = gauge(LATENCY, "A level's latency by stat (avg, pNN).", load, "stat")
    stable = gauge(LEVEL_STABLE, "1 if the level stabilised.", load)
    for level in summary.levels:
        at = {**run, load: f"{level.load:g}"}
        throughput.labels(**at).set(level.throughput)
        if level.stable is not None:
            stable.labels(**at).set(int(level.stable))
        if level.avg_latency_us is not None:
            latency.labels(**at, stat="avg").set(level.avg_latency_us / 1e6)
        for p, value_us in sorted(level.percentiles_us.items()):
            latency.labels(**at, stat=f"p{p}").set(value_us / 1e6)
    recommended = gauge(RECOMMENDED, "The concurrency a pick recommends.", "pick")
    advice = recommend(summary)
    for pick in PICKS:
        chosen = getattr(advice, pick)
        if chosen is not None:
            recommended.labels(**run, pick=pick).set(chosen.concurrency)
    return registry


def _reason(exc: BaseException) -> str:
    """Why the push failed, on one line; a refusal with the gateway's own words (its body
    names the inconsistency it found)."""
    if isinstance(exc, urllib.error.HTTPError):
        try:
            answer = exc.read(300).decode("utf-8", "replace")
        except (OSError, http.client.HTTPException):
            answer = ""
        text = f"HTTP {exc.code} {exc.reason}" + (f": {answer}" if answer.strip() else "")
    elif isinstance(exc, urllib.error.URLError):
        text = str(exc.reason)
    else:
        text = str(exc)
    return " ".join(text.split()) or type(exc).__name__


def _sweep(record: RunRecord) -> SweepResult | None:
    try:
        return record.sweep()
    except (ValueError, KeyError, TypeError):  # no results file's content: nothing measured
        return None


def _unix_seconds(text: str) -> float | None:
    started = started_utc(text)
    return None if started is None else started.replace(tzinfo=timezone.utc).timestamp()


def _without_credentials(gateway: str) -> str:
    """The gateway as an error names it: no user:password@."""
    return re.sub(r"^([a-z][a-z0-9+.-]*://)?[^/@]*@", r"\1", gateway, flags=re.I)


def check_gateway(gateway: str) -> None:
    """Raise PushError unless `gateway` is a URL a push can go to: said before any load."""
    try:
        url, _, _ = _split_credentials(gateway)
    except ValueError as exc:
        raise PushError(f"--pushgateway {_without_credentials(gateway)}: {exc}") from exc
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        raise PushError(f"--pushgateway {_without_credentials(gateway)}: expected an http:// URL")


def _split_credentials(gateway: str) -> tuple[str, str | None, str | None]:
    """(the URL without user:password@, user, password); ValueError for a bad URL."""
    url = gateway if "://" in gateway else f"http://{gateway}"
    parts = urlsplit(url)
    port = parts.port  # a port that is no number: ValueError here, not a confusing one later
    if parts.username is None and parts.password is None:
        return url, None, None
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    netloc = host if port is None else f"{host}:{port}"
    clean = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return clean, parts.username, parts.password
