"""The results file: written whole, read back with its figures."""

import json

import pytest

from analysis.json_writer import write_json
from analysis.results import SweepResult
from tests.report_fixtures import sweep_result


def test_json_round_trips_levels_windows_and_verdicts(tmp_path):
    original = sweep_result(3, unstable=2)
    path = tmp_path / "r.json"
    write_json(original, path)
    back = SweepResult.load(path)
    assert [lvl.verdict for lvl in back.levels] == [lvl.verdict for lvl in original.levels]
    for a, b in zip(original.levels, back.levels, strict=True):
        assert b.merged.throughput == pytest.approx(a.merged.throughput)
        assert b.merged.percentiles_ns == a.merged.percentiles_ns
        assert b.merged.server == a.merged.server
        assert len(b.windows) == len(a.windows)
    assert json.loads(path.read_text())["stabilized_on"] == "p95"


def test_a_file_of_another_format_is_refused(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"format": "something-else"}')
    with pytest.raises(ValueError, match="not a triton-locust results file"):
        SweepResult.load(path)
