"""The results file: written whole, read back with its figures."""

import json
import os

import pytest

from analysis import atomic_write
from analysis.json_writer import write_json
from analysis.results import SweepResult
from analysis.settings import SweepSettings
from analysis.stabiliser import Verdict
from tests.report_fixtures import sweep_result


def test_json_round_trips_levels_windows_and_verdicts(tmp_path):
    original = sweep_result(3, unstable=2)
    path = tmp_path / "r.json"
    write_json(original, path)
    back = SweepResult.load(path)
    assert back.settings == original.settings
    assert [lvl.verdict for lvl in back.levels] == [
        Verdict.STABLE,
        Verdict.UNSTABLE,
        Verdict.STABLE,
    ]
    for a, b in zip(original.levels, back.levels, strict=True):
        assert b.concurrency == a.concurrency
        assert b.merged.throughput == a.merged.throughput
        assert b.merged.avg_latency_ns == a.merged.avg_latency_ns
        assert b.merged.percentiles_ns == a.merged.percentiles_ns
        assert (b.merged.avg_send_ns, b.merged.avg_recv_ns) == (
            a.merged.avg_send_ns,
            a.merged.avg_recv_ns,
        )
        assert b.merged.server == a.merged.server
        assert b.spread == a.spread
        assert [w.request_count for w in b.windows] == [w.request_count for w in a.windows]


def test_the_file_is_to_dict_and_nothing_else_indented_by_two(tmp_path):
    result = sweep_result(2)
    path = tmp_path / "r.json"
    write_json(result, path)
    text = path.read_text()
    assert json.loads(text) == result.to_dict()
    assert text.startswith('{\n  "format": "triton-locust-results/1",\n  "settings": {\n    ')
    assert json.loads(text)["stabilized_on"] == "p95"


def test_a_failed_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "r.json"
    write_json(sweep_result(1), path)
    before = path.read_text()

    def crash(*_):
        raise OSError("disk full")

    monkeypatch.setattr(atomic_write.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        write_json(sweep_result(3), path)
    assert path.read_text() == before
    assert os.listdir(tmp_path) == ["r.json"]  # the temporary file is gone too


def test_a_file_of_another_format_is_refused(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"format": "something-else"}')
    with pytest.raises(ValueError, match="not a triton-locust results file"):
        SweepResult.load(path)


def test_header_values_never_reach_the_results_file(tmp_path):
    settings = SweepSettings(model="m", headers={"Authorization": "Bearer SECRET"})
    path = tmp_path / "r.json"
    write_json(SweepResult(settings), path)
    text = path.read_text()
    assert "SECRET" not in text
    assert SweepResult.load(path).settings.headers == {"Authorization": "***"}
