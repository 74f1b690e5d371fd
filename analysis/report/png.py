"""The main chart as PNG, for CI artifacts and chat."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from analysis.report import charts
from analysis.report.recommend import Recommendation
from analysis.report.summary import RunSummary


def write_png(summary: RunSummary, rec: Recommendation, path: str | Path) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fig = charts.throughput_latency(summary, rec)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".png")
    os.close(fd)
    try:
        fig.savefig(tmp, format="png", dpi=120)
        os.replace(tmp, target)
    finally:
        charts.close(fig)
        Path(tmp).unlink(missing_ok=True)
