"""What a sweep produced: its settings and one result per concurrency level. The JSON form
of this is the results file that `triton-locust report` and later commands consume."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from analysis.stabiliser import Spread, StabilityRule, Verdict
from analysis.window import Window

RESULTS_FORMAT = "triton-locust-results/1"


@dataclass(frozen=True)
class SweepSettings:
    """Everything that decides what is measured; perf_analyzer's flags map onto these
    fields (triton_locust/flags.py is the table)."""

    model: str
    url: str = "localhost:8000"
    protocol: str = "http"
    model_version: str = ""
    batch_size: int = 1
    concurrency_start: int = 1
    concurrency_end: int = 1
    concurrency_step: int = 1
    measurement_mode: str = "time_windows"
    measurement_interval_ms: int = 5000
    measurement_request_count: int = 50
    stability_pct: float = 10.0
    max_trials: int = 10
    percentile: int | None = None
    latency_threshold_ms: float | None = None
    input_data: str = "random"
    shapes: dict[str, list[int]] = field(default_factory=dict)
    string_length: int = 128
    headers: dict[str, str] = field(default_factory=dict)
    # How users wait on the network: "threads" (an OS thread each, blocking: the lightest
    # per request) or "gevent" (cooperative: for thousands of users per process).
    client_io: str = "threads"

    def concurrencies(self) -> Iterator[int]:
        """perf_analyzer's levels: START, +STEP, ... while <= END; a lone START (END below it)
        is one level; END 0 goes on until -l stops the sweep."""
        if self.concurrency_end == 0:
            return itertools.count(self.concurrency_start, self.concurrency_step)
        last = max(self.concurrency_start, self.concurrency_end)
        return iter(range(self.concurrency_start, last + 1, self.concurrency_step))

    @property
    def rule(self) -> StabilityRule:
        return StabilityRule(
            stability_pct=self.stability_pct,
            max_trials=self.max_trials,
            percentile=self.percentile,
            latency_threshold_ms=self.latency_threshold_ms,
        )

    @property
    def latency_label(self) -> str:
        """What the run stabilised on: 'avg' or 'p95'."""
        return "avg" if self.percentile is None else f"p{self.percentile}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepSettings:
        return cls(**data)


@dataclass(frozen=True)
class LevelResult:
    """One concurrency level. `merged` pools the last windows (the stable ones when
    verdict is STABLE; the latest ones, flagged, otherwise)."""

    concurrency: int
    verdict: Verdict
    windows: list[Window]
    merged: Window | None
    spread: Spread
    remeasured: int = 0  # times the level started over: a Locust worker lost or joined

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

    @property
    def reported_levels(self) -> list[LevelResult]:
        return [lvl for lvl in self.levels if lvl.reported]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": RESULTS_FORMAT,
            "settings": self.settings.to_dict(),
            "stabilized_on": self.settings.latency_label,
            "stop_reason": self.stop_reason,
            "started_at": self.started_at,
            "server_version": self.server_version,
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
        )

    @classmethod
    def load(cls, path: str | Path) -> SweepResult:
        return cls.from_dict(json.loads(Path(path).read_text()))
