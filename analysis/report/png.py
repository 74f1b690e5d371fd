"""The main chart as PNG, for CI artifacts and chat."""

from __future__ import annotations

import io
from pathlib import Path

from analysis.atomic_write import write_bytes
from analysis.report import charts
from analysis.report.recommend import Recommendation
from analysis.report.summary import RunSummary


def write_png(summary: RunSummary, rec: Recommendation, path: str | Path) -> None:
    """Written whole or not at all, with the permissions of any file we write."""
    fig = charts.throughput_latency(summary, rec)
    png = io.BytesIO()
    try:
        fig.savefig(png, format="png", dpi=120)
    finally:
        charts.close(fig)
    write_bytes(path, png.getvalue())
