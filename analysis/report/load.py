"""A run from a file: our JSON results, or any perf_analyzer-format CSV."""

from __future__ import annotations

import json
from pathlib import Path

from analysis.report.csv_input import read_csv
from analysis.report.summary import RunSummary, from_result
from analysis.results import SweepResult


def load_summary(path: str | Path) -> RunSummary:
    """Raises ValueError (or OSError for a missing file) with a message naming the problem."""
    file = Path(path)
    text = file.read_text(errors="replace")
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from exc
        try:
            return from_result(SweepResult.from_dict(data), source=str(path))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{path}: incomplete triton-locust results ({exc})") from exc
    return read_csv(file)
