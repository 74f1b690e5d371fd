"""The closing recommendation: which concurrency to run, by each rule."""

from __future__ import annotations

from typing import TextIO

from analysis.report.recommend import recommend
from analysis.report.summary import from_result
from analysis.report.text import recommendation_lines
from analysis.results import SweepResult


class RecommendationOutput:
    def __init__(self, out: TextIO, latency_budget_ms: float | None = None) -> None:
        self.out = out
        self.latency_budget_ms = latency_budget_ms

    def sweep_ended(self, result: SweepResult) -> None:
        if result.reported_levels:
            rec = recommend(from_result(result), self.latency_budget_ms)
            print("\n" + "\n".join(recommendation_lines(rec)), file=self.out, flush=True)
