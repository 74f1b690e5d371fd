"""One scenario of one scheduled run, as the history keeps it: the plan it came from, the
results file's content, the model's configuration and the checks. Pure data: the store
(triton_locust/history.py) writes and reads it, the trend report draws it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from analysis.checks import CheckResult
from analysis.results import SweepResult

# A sweep that ended as planned: every level, or up to -l. Anything else is a partial run.
FINISHED_REASONS = ("completed", "latency_threshold")


@dataclass(frozen=True)
class RunRecord:
    scenario: str
    started_at: str  # ISO 8601, UTC: when the scenario's sweep started
    exit_code: int  # the scenario's own exit code (0, 1, 3, 4, 99, 130)
    result: dict[str, Any]  # the results file's content (SweepResult.to_dict(): headers masked)
    checks: list[CheckResult] = field(default_factory=list)
    plan_path: str = ""
    plan_text: str = ""  # the plan as written: header values are never in it, only env names
    model_config: dict[str, Any] = field(default_factory=dict)
    tool_version: str = ""
    batch: str = ""  # one id shared by the scenarios of one `triton-locust run`
    id: int | None = None  # the history's id, once stored

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self.result.get("settings") or {})

    @property
    def model(self) -> str:
        return str(self.settings.get("model", ""))

    @property
    def model_version(self) -> str:
        return str(self.settings.get("model_version", ""))

    @property
    def server_version(self) -> str:
        return str(self.result.get("server_version", ""))

    @property
    def stop_reason(self) -> str:
        return str(self.result.get("stop_reason", ""))

    @property
    def finished(self) -> bool:
        """Whether the sweep ran as planned (a baseline is only ever a finished run)."""
        return self.stop_reason in FINISHED_REASONS

    @property
    def checks_passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def sweep(self) -> SweepResult:
        return SweepResult.from_dict(self.result)
