"""A run from a file: our JSON results, perf_analyzer's profile export (ours too), or any
perf_analyzer-format CSV."""

from __future__ import annotations

import json
import time
from pathlib import Path

from analysis.pa_arithmetic import NS_PER_S, NS_PER_US
from analysis.profile_export import CONCURRENCY, ProfileExport, from_dict, is_profile_export
from analysis.report.csv_input import CSV_LATENCY_PERCENTILE, read_csv
from analysis.report.summary import (
    LevelRow,
    RunSummary,
    StreamFigures,
    WindowPoint,
    from_result,
)
from analysis.results import SweepResult
from analysis.stabiliser import StabilityRule, last_windows, spread
from analysis.window import merge


def load_summary(path: str | Path) -> RunSummary:
    """Raises ValueError (or OSError for a missing file) with a message naming the problem."""
    return as_summary(load_run(path), path)


def load_run(path: str | Path) -> SweepResult | RunSummary:
    """Our results JSON in full (a request-rate sweep's report needs more than a summary),
    else the summary of a profile export or a CSV; raises as load_summary does."""
    file = Path(path)
    text = file.read_text(errors="replace")
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from exc
        if is_profile_export(data):
            return export_summary(from_dict(data, str(path)), source=str(path))
        try:
            return SweepResult.from_dict(data)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{path}: incomplete triton-locust results ({exc})") from exc
    return read_csv(file)


def as_summary(run: SweepResult | RunSummary, path: str | Path) -> RunSummary:
    """What load_run read, as the summary every report output is drawn from."""
    if isinstance(run, RunSummary):
        return run
    try:
        return from_result(run, source=str(path))
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{path}: incomplete triton-locust results ({exc})") from exc


def export_summary(export: ProfileExport, source: str = "") -> RunSummary:
    """Each experiment's windows summarised, and its figures merged from the last three, as
    perf_analyzer reports a level (analysis/window.py, over analysis/pa_arithmetic.py): from
    perf_analyzer's own export this gives its CSV's throughput and latencies. The export
    does not say the batch size (throughput counts 1 inference a request), what the run
    stabilised on (p95 is assumed, as for a CSV), nor whether a level settled (unknown);
    it has no client split and no server figures. A streamed export's requests give
    the response figures (Response Throughput, first- and inter-response latencies)."""
    rate = [e.value for e in export.experiments if e.mode != CONCURRENCY]
    if rate:
        raise ValueError(
            f"{source}: a request-rate profile export (rates {', '.join(f'{r:g}' for r in rate)}):"
            " the report draws concurrency experiments; a request-rate sweep writes its own "
            "report (--report)"
        )
    p = CSV_LATENCY_PERCENTILE
    rule = StabilityRule(percentile=p)
    bounds = [b for e in export.experiments for b in e.window_boundaries]
    first_ns = min(bounds, default=0)
    rows = []
    for e in export.experiments:
        windows = e.windows(1, p)
        tail = [w for w in last_windows(windows, rule) if w.request_count > 0]
        if not tail:
            continue  # nothing measured: no figures to draw
        m = merge(tail, p)
        s = spread(windows, rule)
        rows.append(
            LevelRow(
                concurrency=int(e.value),
                throughput=m.throughput,
                latency_us=m.percentiles_ns[p] / NS_PER_US,
                percentiles_us={q: v / NS_PER_US for q, v in m.percentiles_ns.items()},
                breakdown_us={},
                stable=None,
                windows=[
                    WindowPoint(
                        (w.end_ns - first_ns) / NS_PER_S,
                        w.throughput,
                        w.percentiles_ns[p] / NS_PER_US if w.request_count else None,
                    )
                    for w in windows
                ],
                avg_latency_us=None if m.avg_latency_ns is None else m.avg_latency_ns / NS_PER_US,
                spread=(s.throughput, s.latency),
                # Streamed requests (several response_timestamps): their responses.
                stream=StreamFigures.of(m),
            )
        )
    return RunSummary(
        origin="export",
        source=source,
        latency_label=f"p{p}",
        levels=sorted(rows, key=lambda r: r.concurrency),
        has_windows=True,
        started_at=_epoch_words(first_ns) if bounds else "",
    )


def _epoch_words(ns: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(ns / NS_PER_S))
