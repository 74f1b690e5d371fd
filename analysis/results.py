"""What a sweep produced: its settings and one result per concurrency level. The JSON form
of this is the results file that `triton-locust report` and later commands consume."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analysis.settings import SweepSettings
from analysis.stabiliser import Spread, Verdict
from analysis.window import Window

RESULTS_FORMAT = "triton-locust-results/1"


def level_name(concurrency: int, request_rate: float | None) -> str:
    """A level in words: 'concurrency 4', or 'request rate 300' in a rate sweep (whose
    levels share one concurrency, --max-threads)."""
    return (
        f"concurrency {concurrency}" if request_rate is None else f"request rate {request_rate:g}"
    )


def level_cell(concurrency: int, request_rate: float | None) -> str:
    """A level in a table's first column: '4', or '300/s' in a rate sweep."""
    return str(concurrency) if request_rate is None else f"{request_rate:g}/s"


class LevelLoad:
    """What tells a level apart, for the dataclasses that hold one (a level's result, a
    report's row, a comparison's or a baseline's line): its concurrency, or in a
    request-rate sweep its rate."""

    concurrency: int
    request_rate: float | None

    @property
    def load(self) -> float:
        return self.concurrency if self.request_rate is None else self.request_rate

    @property
    def name(self) -> str:
        return level_name(self.concurrency, self.request_rate)

    @property
    def load_words(self) -> str:
        return level_cell(self.concurrency, self.request_rate)


@dataclass(frozen=True)
class LevelResult(LevelLoad):
    """One concurrency level. `merged` pools the last windows (the stable ones when
    verdict is STABLE; the latest ones, flagged, otherwise)."""

    concurrency: int
    verdict: Verdict
    windows: list[Window]
    merged: Window | None
    spread: Spread
    remeasured: int = 0  # times the level started over: a Locust worker lost or joined
    # Request-rate mode: the level's target rate (requests/s); `concurrency` is then the
    # users that could hold requests in flight (--max-threads).
    request_rate: float | None = None

    @property
    def stable(self) -> bool:
        return self.verdict is Verdict.STABLE

    @property
    def reported(self) -> bool:
        """Levels that get a CSV row: stable ones, and unstable ones flagged as such.
        A level over -l is not reported, as perf_analyzer does not."""
        return (
            self.verdict in (Verdict.STABLE, Verdict.UNSTABLE)
            and self.merged is not None
            and self.merged.request_count > 0
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "concurrency": self.concurrency,
            "status": self.verdict.value,
            "stable": self.stable,
            "spread": self.spread.to_dict(),
            "remeasured": self.remeasured,
            **({"request_rate": self.request_rate} if self.request_rate is not None else {}),
            "merged": self.merged.to_dict() if self.merged else None,
            "windows": [w.to_dict() for w in self.windows],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LevelResult:
        spread = data.get("spread") or {}
        return cls(
            concurrency=int(data["concurrency"]),
            verdict=Verdict(data["status"]),
            windows=[Window.from_dict(w) for w in data.get("windows", [])],
            merged=Window.from_dict(data["merged"]) if data.get("merged") else None,
            spread=Spread(
                throughput=_inf_if_none(spread.get("throughput")),
                latency=_inf_if_none(spread.get("latency")),
            ),
            remeasured=int(data.get("remeasured", 0)),
            request_rate=data.get("request_rate"),
        )


def _inf_if_none(x: float | None) -> float:
    return float("inf") if x is None else float(x)


@dataclass
class SweepResult:
    settings: SweepSettings
    levels: list[LevelResult] = field(default_factory=list)
    # Why the sweep ended: "completed", "latency_threshold", "interrupted", or an error.
    stop_reason: str = "completed"
    started_at: str = ""
    server_version: str = ""
    model_config: dict[str, Any] = field(default_factory=dict)  # as the server gave it

    @property
    def reported_levels(self) -> list[LevelResult]:
        return [lvl for lvl in self.levels if lvl.reported]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": RESULTS_FORMAT,
            "settings": self.settings.to_dict(),
            # A key of our published results file: its spelling stays, scripts read it.
            "stabilized_on": self.settings.latency_label,
            "stop_reason": self.stop_reason,
            "started_at": self.started_at,
            "server_version": self.server_version,
            "model_config": self.model_config,
            "levels": [lvl.to_dict() for lvl in self.levels],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepResult:
        if data.get("format") != RESULTS_FORMAT:
            raise ValueError(f"not a triton-locust results file (format {data.get('format')!r})")
        return cls(
            settings=SweepSettings.from_dict(data["settings"]),
            levels=[LevelResult.from_dict(lvl) for lvl in data.get("levels", [])],
            stop_reason=data.get("stop_reason", "completed"),
            started_at=data.get("started_at", ""),
            server_version=data.get("server_version", ""),
            model_config=dict(data.get("model_config") or {}),
        )

    @classmethod
    def load(cls, path: str | Path) -> SweepResult:
        return cls.from_dict(json.loads(Path(path).read_text()))
