"""The closing recommendation: which concurrency to run, by each rule."""

from __future__ import annotations

from typing import TextIO

from analysis.report.recommend import recommend
from analysis.report.summary import from_result
from analysis.report.text import recommendation_lines
from analysis.results import SweepResult
from triton_user.outputs.closing import finished_levels


class RecommendationOutput:
    def __init__(self, out: TextIO, latency_budget_ms: float | None = None) -> None:
        self.out = out
        self.latency_budget_ms = latency_budget_ms

    def sweep_ended(self, result: SweepResult) -> None:
        """Printed once, here alone: one line per distinct level is recommendation_lines'."""
        # The rules pick a concurrency: a request-rate sweep has none to pick.
        if result.reported_levels and not result.settings.rate_mode:
            rec = recommend(from_result(result), self.latency_budget_ms)
            lines = [*partial_sweep_lines(result), *recommendation_lines(rec)]
            print("\n" + "\n".join(lines), file=self.out, flush=True)


def partial_sweep_lines(result: SweepResult) -> list[str]:
    """A sweep cut short recommends from what it finished: say so, lest it read as complete."""
    if result.stop_reason == "interrupted":
        why = "The sweep was interrupted"
    elif result.stop_reason.startswith("error"):
        why = "The sweep stopped on an error"
    else:
        return []
    last = result.levels[-1]
    if not last.reported:
        why += f" during concurrency {last.concurrency}"
    return [f"{why}: recommended from {finished_levels(result)} only."]
