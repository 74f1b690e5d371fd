"""What a scheduled run checks, and how each check came out: an SLO from the plan, or one
level against the baseline run. JUnit, the Markdown summary, the Pushgateway and the
history all read this one shape."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

SLO, BASELINE = "slo", "baseline"


@dataclass(frozen=True)
class CheckResult:
    name: str  # the SLO as written ("p95 < 50ms at concurrency 2"), or "baseline at concurrency 2"
    passed: bool
    measured: str  # what was measured, in words: "p95 at concurrency 2: 11.2 ms"
    kind: str = SLO  # SLO or BASELINE

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        return cls(
            name=str(data["name"]),
            passed=bool(data["passed"]),
            measured=str(data.get("measured", "")),
            kind=str(data.get("kind", SLO)),
        )
