"""Request-rate mode against the real server: below saturation the rate is held and every
request is counted as the server counts it; above it, the requests that waited for a free
user show in the latency from their slots, not in perf_analyzer's from their sends."""

from __future__ import annotations

import csv
import json

import pytest

from tests.helpers import profile
from tests.test_profile_e2e import assert_counts_match_server, url

pytestmark = pytest.mark.server


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_below_saturation_the_rate_is_held_and_counted_as_the_server_counts(
    triton_server, tmp_path, protocol
):
    out_csv, out_json = tmp_path / "perf.csv", tmp_path / "perf.json"
    run = profile(
        "-m", "identity_fp32", "-u", url(triton_server, protocol), "-i", protocol,
        "--request-rate-range", "100:300:200", "-p", "1000", "-s", "20", "-r", "6",
        "-f", str(out_csv), "--json", str(out_json),
    )  # fmt: skip
    assert run.returncode in (0, 1), run.stderr
    assert "Request Rate: 100 inference requests per seconds" in run.stdout
    levels = json.loads(out_json.read_text())["levels"]
    assert [lvl["request_rate"] for lvl in levels] == [100.0, 300.0]
    for level in levels:
        merged = level["merged"]
        assert merged["throughput"] == pytest.approx(level["request_rate"], rel=0.02)
        assert merged["send_rate"] == pytest.approx(level["request_rate"], rel=0.02)
        assert level["concurrency"] == 4  # perf_analyzer's --max-threads by default
    assert_counts_match_server(levels, protocol=protocol)
    with out_csv.open() as f:
        rows = list(csv.DictReader(f))
    assert [r["Request Rate"] for r in rows] == ["100", "300"]


def test_an_overloaded_model_shows_the_wait_in_the_latency_from_the_slot(triton_server, tmp_path):
    # sleep_5ms serves about 540 infer/s; 900 are wanted, from 4 users.
    out_csv, out_json = tmp_path / "perf.csv", tmp_path / "perf.json"
    run = profile(
        "-m", "sleep_5ms", "-u", triton_server.http_url, "--request-rate-range", "900",
        "-p", "1000", "-r", "4", "--percentile", "95", "--verbose-csv",
        "-f", str(out_csv), "--json", str(out_json),
    )  # fmt: skip
    assert run.returncode in (0, 1), run.stderr
    merged = json.loads(out_json.read_text())["levels"][0]["merged"]
    assert merged["late_count"] > merged["request_count"] // 2
    assert merged["send_rate"] < 700  # what was actually sent, not what was wanted
    from_send, from_slot = (
        merged["percentiles_us"]["p95"],
        merged["scheduled_percentiles_us"]["p95"],
    )
    assert from_slot > 5 * from_send, (from_send, from_slot)
    assert "[WARNING] triton-locust was not able to keep up with the desired request rate." in (
        run.stdout
    )
    assert "  Scheduled latency (from each request's slot, not its send): p50 " in run.stdout
    with out_csv.open() as f:
        row = next(csv.DictReader(f))
    assert int(row["Late requests"]) == merged["late_count"]
    assert int(row["Scheduled p95 latency"]) == int(from_slot)
