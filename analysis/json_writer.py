"""The results file: every level in full, as `SweepResult.to_dict()` gives it."""

from __future__ import annotations

import json
from pathlib import Path

from analysis.atomic_write import write_text
from analysis.results import SweepResult


def json_text(result: SweepResult) -> str:
    return json.dumps(result.to_dict(), indent=2) + "\n"


def write_json(result: SweepResult, path: str | Path) -> None:
    """Written whole or not at all (temporary file, then rename): a crash mid-sweep keeps
    the previous version."""
    write_text(path, json_text(result))
