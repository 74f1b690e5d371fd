"""The summary as JSON: the levels as the report drew them, and the recommendation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from analysis.atomic_write import write_text
from analysis.report.recommend import Recommendation
from analysis.report.summary import LevelRow, RunSummary
from analysis.window import finite_or_none


def summary_dict(summary: RunSummary, rec: Recommendation) -> dict[str, Any]:
    """`stable` is null for a CSV (it does not say), `spread` null without windows."""
    return {
        "source": summary.source,
        "model": summary.model,
        "model_version": summary.model_version,
        "server_version": summary.server_version,
        "started_at": summary.started_at,
        "latency": summary.latency_label,
        "levels": [
            {
                "concurrency": r.concurrency,
                **({} if r.request_rate is None else {"request_rate": r.request_rate}),
                "throughput": r.throughput,
                "latency_us": r.latency_us,
                "avg_latency_us": r.avg_latency_us,
                "percentiles_us": {f"p{p}": v for p, v in r.percentiles_us.items()},
                "breakdown_us": r.breakdown_us,
                "stable": r.stable,
                **_metrics(r),
                "spread": None
                if r.spread is None
                else {
                    "throughput": finite_or_none(r.spread[0]),
                    "latency": finite_or_none(r.spread[1]),
                },
            }
            for r in summary.levels
        ],
        "recommendation": rec.to_dict(),
    }


def _metrics(r: LevelRow) -> dict[str, Any]:
    """--collect-metrics: the level's aggregates (its scrapes stay in the results JSON)."""
    if r.server_metrics is None:
        return {}
    figures = r.server_metrics.to_dict()
    figures.pop("samples")
    return {"server_metrics": figures}


def write_summary_json(summary: RunSummary, rec: Recommendation, path: str | Path) -> None:
    write_text(path, json.dumps(summary_dict(summary, rec), indent=2) + "\n")
