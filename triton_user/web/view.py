"""SweepView: one sweep as the Triton tab shows it. A listener of the sweep's events
(triton_user/sweep/events.py) that keeps what the page polls, ready for JSON: the level
under way with its windows so far, the finished levels in perf_analyzer's columns, the
recommendation so far, and which result files exist yet."""

from __future__ import annotations

import math
import os
import time
from typing import Any

from analysis.pa_arithmetic import fmt, server_columns_us, whole_us
from analysis.report.recommend import recommend
from analysis.report.summary import from_result
from analysis.results import LevelResult, SweepResult
from analysis.search import planned_levels
from analysis.settings import Outputs, SweepSettings
from analysis.stabiliser import Verdict, spread
from analysis.statistics import STREAM_PERCENTILES, wanted_percentiles
from analysis.window import Window, figures_only

# The files a sweep started from the web UI writes, by the name the page links them with.
FILE_KINDS = ("csv", "json", "report")

# What the page says a level's verdict means.
STATUS_WORDS = {
    Verdict.STABLE: "stable",
    Verdict.UNSTABLE: "unstable",
    Verdict.OVER_THRESHOLD: "over -l: not reported",
    Verdict.INTERRUPTED: "interrupted: not reported",
}


def spread_pct(ratio: float) -> float | None:
    """perf_analyzer's -s compares max/min with 1 + s/100: the spread as that percentage."""
    return round((ratio - 1) * 100, 2) if math.isfinite(ratio) else None


class SweepView:
    def __init__(self, run: int, number: int, settings: SweepSettings, outputs: Outputs) -> None:
        self.run = run  # the page starts afresh when this changes
        self.number = number  # this process's n-th sweep
        self.settings = settings
        self.outputs = outputs
        self.rule = settings.rule
        self.percentiles = wanted_percentiles(settings.percentile)
        self.status = "starting"  # running, finished, stopped, failed
        self.stop_reason = ""
        self.started = time.time()
        self.level: int | None = None
        self.level_began = 0.0
        self.windows: list[Window] = []
        self.levels: list[dict[str, Any]] = []
        self.recommendation: dict[str, Any] | None = None
        self._written: set[str] = set()

    # The sweep's events ---------------------------------------------------------------
    def sweep_started(self, settings: SweepSettings) -> None:
        self.status = "running"

    def level_started(self, concurrency: int) -> None:
        self.level, self.level_began, self.windows = concurrency, time.time(), []

    def window_measured(
        self, concurrency: int, index: int, window: Window, verdict: Verdict
    ) -> None:
        if index == 1:  # a level measured again (a worker lost or joined) starts over
            self.windows = []
        self.windows.append(figures_only(window))  # a long level must not hold its samples

    def level_finished(self, level: LevelResult, result: SweepResult) -> None:
        self.levels.append(self.level_row(level))
        self.level, self.windows = None, []
        self._recommend(result)
        self._written.update(("csv", "json"))  # rewritten after every level

    def sweep_ended(self, result: SweepResult) -> None:
        self.level, self.windows = None, []
        self.stop_reason = result.stop_reason
        if result.stop_reason == "interrupted":
            self.status = "stopped"
        elif result.stop_reason.startswith("error"):
            self.status = "failed"
        else:
            self.status = "finished"
        self._recommend(result)
        self._written.update(FILE_KINDS)

    # What the page shows -------------------------------------------------------------
    def path(self, kind: str) -> str | None:
        """The file of this sweep's `kind` once written, else None."""
        path = getattr(self.outputs, kind, None) if kind in FILE_KINDS else None
        if not path or kind not in self._written or not os.path.isfile(path):
            return None
        return path

    def level_row(self, level: LevelResult) -> dict[str, Any]:
        """A finished level: perf_analyzer's figures (integer µs) for a reported one."""
        row: dict[str, Any] = {
            "concurrency": level.concurrency,
            "status": level.verdict.value,
            "status_text": STATUS_WORDS.get(level.verdict, level.verdict.value),
            "windows": len(level.windows),
            "remeasured": level.remeasured,
            "spread": {
                "throughput": spread_pct(level.spread.throughput),
                "latency": spread_pct(level.spread.latency),
            },
            "reported": level.reported,
        }
        w = level.merged
        if level.reported and w is not None:
            _, queue, c_in, c_infer, c_out = server_columns_us(w)
            row.update(
                throughput=w.throughput,
                throughput_text=fmt(w.throughput),
                latency_ms=self.rule.latency(w) / 1e6,
                percentiles_us={str(p): whole_us(w.percentiles_ns[p]) for p in self.percentiles},
                avg_us=whole_us(w.avg_latency_ns or 0),
                queue_us=queue if w.server is not None else None,
                compute_us=c_in + c_infer + c_out if w.server is not None else None,
            )
            if w.streamed:  # --streaming: perf_analyzer's Response Throughput, and ours
                row.update(
                    response_throughput_text=fmt(w.response_throughput),
                    first_response_us=_stream_us(w.first_response_percentiles_ns),
                    inter_response_us=_stream_us(w.inter_response_percentiles_ns),
                )
        return row

    def current(self) -> dict[str, Any] | None:
        """The level under way: its windows so far and their spread against -s."""
        if self.level is None:
            return None
        s = spread(self.windows, self.rule) if len(self.windows) > 1 else None  # 1: none yet
        last = self.windows[-1] if self.windows else None
        return {
            "concurrency": self.level,
            "windows_done": len(self.windows),
            "elapsed_s": round(time.time() - self.level_began, 1),
            "throughput": last.throughput if last else None,
            "latency_ms": _ms(self.rule.latency(last)) if last else None,
            "spread": None
            if s is None
            else {
                "throughput": spread_pct(s.throughput),
                "latency": spread_pct(s.latency),
                "over": min(len(self.windows), self.rule.window_count),
            },
            "series": [
                {"throughput": w.throughput, "latency_ms": _ms(self.rule.latency(w))}
                for w in self.windows
            ],
        }

    def to_json(self) -> dict[str, Any]:
        s = self.settings
        levels = planned_levels(s)
        return {
            "run": self.run,
            "number": self.number,
            "status": self.status,
            "stop_reason": self.stop_reason,
            "started": self.started,
            "settings": {
                "model": s.model,
                "model_version": s.model_version,
                "url": s.url,
                "protocol": s.protocol,
                "levels": levels,
                "concurrency_range": f"{s.concurrency_start}:{s.concurrency_end}"
                f":{s.concurrency_step}",
                "stability_pct": s.stability_pct,
                "max_trials": s.max_trials,
                "window_count": self.rule.window_count,
                "latency_label": s.latency_label,
                "measurement": f"{s.measurement_interval_ms} ms windows"
                if s.measurement_mode == "time_windows"
                else f"windows of at least {s.measurement_request_count} requests",
            },
            "percentiles": self.percentiles,
            "streaming": s.streaming,
            "stream_percentiles": list(STREAM_PERCENTILES),
            "current": self.current(),
            "levels": self.levels,
            "recommendation": self.recommendation,
            "files": {
                kind: {
                    "path": getattr(self.outputs, kind),
                    "ready": self.path(kind) is not None,
                }
                for kind in FILE_KINDS
                if getattr(self.outputs, kind)
            },
        }

    def _recommend(self, result: SweepResult) -> None:
        if not result.reported_levels:
            self.recommendation = None
            return
        rec = recommend(from_result(result), self.outputs.latency_budget_ms).to_dict()
        # The picks by name ({concurrency, throughput, latency_us, stable} each).
        picks = {k: v for k, v in rec.items() if isinstance(v, dict) and "concurrency" in v}
        self.recommendation = {"latency": rec.get("latency"), "picks": picks}


def _stream_us(percentiles_ns: dict[int, int]) -> dict[str, int]:
    """A streamed level's first- or inter-response percentiles, whole µs, by "50" etc."""
    return {str(p): whole_us(percentiles_ns[p]) for p in STREAM_PERCENTILES if p in percentiles_ns}


def _ms(latency_ns: float) -> float | None:
    return latency_ns / 1e6 if math.isfinite(latency_ns) else None
