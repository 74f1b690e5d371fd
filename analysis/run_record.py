"""One scenario of one scheduled run, as the history keeps it: the plan it came from, the
results file's content, the model's configuration and the checks. Pure data: the store
(triton_locust/history.py) writes and reads it, the trend report draws it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from analysis.checks import CheckResult
from analysis.results import SweepResult

# A sweep that ended as planned: every level, or up to -l. Anything else is a partial run.
FINISHED_REASONS = ("completed", "latency_threshold")
# How start times are written: results files give local time with its offset; the history
# keeps UTC (ISO_UTC), so that runs from machines in other zones sort together.
_TIME_FORMATS = (
    "%Y-%m-%dT%H:%M:%S.%f%z",
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%dT%H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S%z",
    "%Y-%m-%d %H:%M:%S",
)
ISO_UTC = "%Y-%m-%dT%H:%M:%SZ"


def started_utc(text: str) -> datetime | None:
    """A start time as a naive UTC datetime, None if unreadable (no offset: taken as UTC).
    strptime, not fromisoformat: Python 3.10's reads neither "+0000" nor "Z"."""
    for fmt in _TIME_FORMATS:
        try:
            when = datetime.strptime(text.strip().replace("Z", "+0000"), fmt)
        except ValueError:
            continue
        if when.tzinfo is not None:
            when = when.astimezone(timezone.utc).replace(tzinfo=None)
        return when
    return None


def utc_text(text: str) -> str:
    """`text` as the history writes start times ("2026-11-26T07:09:17Z"); kept if unreadable."""
    when = started_utc(text)
    return when.strftime(ISO_UTC) if when else text


@dataclass(frozen=True)
class RunRecord:
    scenario: str
    started_at: str  # when the scenario's sweep started, in UTC (utc_text)
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
