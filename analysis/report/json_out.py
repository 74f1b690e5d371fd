"""The summary as JSON: the levels as the report drew them, and the recommendation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from analysis.atomic_write import write_text
from analysis.report.recommend import Recommendation
from analysis.report.summary import RunSummary


def summary_dict(summary: RunSummary, rec: Recommendation) -> dict[str, Any]:
    return {
        "source": summary.source,
        "latency": summary.latency_label,
        "levels": [
            {
                "concurrency": r.concurrency,
                "throughput": r.throughput,
                "latency_us": r.latency_us,
                "percentiles_us": {f"p{p}": v for p, v in r.percentiles_us.items()},
                "breakdown_us": r.breakdown_us,
                "stable": r.stable,
            }
            for r in summary.levels
        ],
        "recommendation": rec.to_dict(),
    }


def write_summary_json(summary: RunSummary, rec: Recommendation, path: str | Path) -> None:
    write_text(path, json.dumps(summary_dict(summary, rec), indent=2) + "\n")
