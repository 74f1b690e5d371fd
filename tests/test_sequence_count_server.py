"""perf_analyzer's "Sequence count" against the real server: the accumulator's sequences of
--sequence-length 4 end once every four requests, so each level counts a quarter of its
requests as sequences; the line sits after "Request count" as perf_analyzer prints it,
and a model without sequences has neither the line nor the JSON figures."""

from __future__ import annotations

import json
import re

import pytest

from analysis.pa_arithmetic import fmt, throughput
from tests.helpers import load_levels, profile

pytestmark = pytest.mark.server

FAST = ["-p", "300", "-r", "4", "-s", "50"]
# Request count, perf_analyzer's two lines of a late request-rate level if any, the count.
LINE = re.compile(
    r"^    Request count: (\d+)\n((?:    Avg send request rate: .*\n    \[WARNING\] .*\n)?)"
    r"    Sequence count: (\d+) \((\S+) seq/sec\)$",
    re.M,
)


def merged_levels(path) -> list[dict]:
    levels = [lvl for lvl in load_levels(path) if lvl["merged"] is not None]
    assert levels, path.read_text()[:2000]
    return levels


def check_levels(stdout: str, levels: list[dict], users: list[int]) -> None:
    """Each level's console line and JSON figures: a quarter of its requests, give or take
    the sequences each user had under way at its windows' edges."""
    printed = LINE.findall(stdout)
    assert len(printed) == len(levels), stdout[-3000:]
    for (requests, late, count, per_sec), level, n in zip(printed, levels, users, strict=True):
        merged = level["merged"]
        assert int(requests) == merged["request_count"] > 40
        assert int(count) == merged["sequence_count"]
        assert merged["sequence_count"] == sum(w["sequence_count"] for w in level["windows"][-3:])
        edges = 2 * len(level["windows"]) * n  # at most one sequence per user and edge
        assert abs(4 * merged["sequence_count"] - merged["request_count"]) <= 4 * edges
        expected = throughput(merged["sequence_count"], 1, merged["duration_ns"])
        assert merged["sequence_per_sec"] == pytest.approx(expected, rel=1e-6)
        # After the late warning, perf_analyzer's std::fixed with 2 decimals sticks.
        figure = merged["sequence_per_sec"]
        assert per_sec == (f"{figure:.2f}" if late else fmt(figure))


@pytest.mark.parametrize("client_io", ["threads", "gevent"])
def test_concurrency_levels_count_a_quarter_of_their_requests_as_sequences(
    triton_server, tmp_path, client_io
):
    out = tmp_path / "r.json"
    run = profile(
        *("-m", "accumulator", "-u", triton_server.grpc_url, "-i", "grpc", *FAST),
        *("--concurrency-range", "1:2", "--sequence-length", "4"),
        *("--sequence-length-variation", "0", "--json", str(out), "--client-io", client_io),
    )
    assert run.returncode in (0, 1), run.stdout[-2000:] + run.stderr[-2000:]
    check_levels(run.stdout, merged_levels(out), [1, 2])


@pytest.mark.parametrize("client_io", ["threads", "gevent"])
def test_request_rate_levels_count_them_too(triton_server, tmp_path, client_io):
    """--sync: request-rate mode's users in threads of their own (pacing.py), or greenlets
    on Locust's loop (user.py)."""
    out = tmp_path / "r.json"
    run = profile(
        *("-m", "accumulator", "-u", triton_server.http_url, *FAST),
        *("--request-rate-range", "150", "--sync", "--sequence-length", "4"),
        *("--sequence-length-variation", "0", "--json", str(out), "--client-io", client_io),
    )
    assert run.returncode in (0, 1), run.stdout[-2000:] + run.stderr[-2000:]
    check_levels(run.stdout, merged_levels(out), [4])  # --num-of-sequences 4


def test_a_model_without_sequences_has_no_sequence_count(triton_server, tmp_path):
    out = tmp_path / "r.json"
    run = profile(
        *("-m", "sleep_5ms", "-u", triton_server.grpc_url, "-i", "grpc", *FAST),
        *("--concurrency-range", "1", "--json", str(out)),
    )
    assert run.returncode in (0, 1), run.stdout[-2000:] + run.stderr[-2000:]
    assert "    Request count: " in run.stdout
    assert "Sequence count" not in run.stdout
    assert "sequence_count" not in json.dumps(merged_levels(out))
