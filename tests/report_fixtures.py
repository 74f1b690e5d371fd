"""Runs the tests draw reports from: the walkthrough's two tables, and a made-up sweep."""

from __future__ import annotations

from analysis.records import Records
from analysis.report.summary import LevelRow, RunSummary
from analysis.results import LevelResult, SweepResult
from analysis.server_stats import ServerStats
from analysis.settings import RateSettings, SweepSettings
from analysis.stabiliser import Spread, Verdict
from analysis.window import merge, summarize

# The walkthrough's EDSR sweep: "Concurrency: N, throughput: X infer/sec, latency Y usec".
EDSR = [
    (1, 18.2, 55233),
    (2, 35, 56711),
    (3, 52.8, 56981),
    (4, 49.8, 80075),
    (5, 55.4, 90266),
    (6, 59.6, 101349),
    (7, 56.2, 124410),
    (8, 55.6, 143304),
]

# The walkthrough's perf.csv for inception_graphdef, rows as perf_analyzer wrote them.
INCEPTION_CSV = (
    (
        "Concurrency,Inferences/Second,Client Send,Network+Server Send/Recv,Server Queue,"
        "Server Compute Input,Server Compute Infer,Server Compute Output,Client Recv,"
        "p50 latency,p90 latency,p95 latency,p99 latency\n"
    )
    + """\
1,105,118,962,21,168,8233,5,0,9539,9714,9758,9796
4,113.6,127,1037,25267,159,8604,6,0,35208,35622,35702,35900
3,114,128,991,16438,157,8573,6,0,26280,26611,26705,26842
2,114.8,127,969,7638,158,8525,6,0,17449,17661,17720,17800
"""
)


def table_summary(
    rows: list[tuple[int, float, float]], stable: set[int] | None = None
) -> RunSummary:
    return RunSummary(
        source="table",
        latency_label="p95",
        levels=[
            LevelRow(c, t, lat, {95: lat}, {}, stable=stable is None or c in stable)
            for c, t, lat in rows
        ],
    )


def sweep_result(levels: int = 3, unstable: int | None = None) -> SweepResult:
    """A sweep of `levels` levels whose latency grows with concurrency; windows included."""
    settings = SweepSettings(model="m", concurrency_start=1, concurrency_end=levels, percentile=95)
    result = SweepResult(settings)
    t = 0
    for c in range(1, levels + 1):
        windows = []
        for _ in range(3):
            rows = [(t + i * 1000 - 500 * c, t + i * 1000, 50, 30, True) for i in range(1, 100)]
            server = ServerStats(
                success_count=99,
                success_ns=99 * 400 * c,
                queue_count=99,
                queue_ns=99 * 100 * c,
                compute_input_count=99,
                compute_input_ns=99 * 10,
                compute_infer_count=99,
                compute_infer_ns=99 * 200,
                compute_output_count=99,
                compute_output_ns=99 * 10,
            )
            windows.append(summarize(Records.from_rows(rows), t, t + 100_000, 1, 95, server))
            t += 100_000
        verdict = Verdict.UNSTABLE if c == unstable else Verdict.STABLE
        result.levels.append(LevelResult(c, verdict, windows, merge(windows, 95), Spread(1.0, 1.0)))
    return result


def rate_sweep_result(rates: dict[float, float], max_threads: int = 4) -> SweepResult:
    """A request-rate sweep: at each rate (requests/s) three 1 s windows of requests that
    took the given latency (ms) from their send, each sent 50 us after its slot."""
    settings = SweepSettings(
        model="m",
        percentile=95,
        rate=RateSettings(min(rates), max(rates), 1.0, max_threads=max_threads),
    )
    result = SweepResult(settings)
    t = 0
    for rate, latency_ms in rates.items():
        windows = []
        for _ in range(3):
            n = int(rate)
            slots = [t + (i + 1) * 1_000_000_000 // n for i in range(n)]
            rows = [
                (s + 50_000, s + 50_000 + int(latency_ms * 1_000_000), 50, 30, True, s)
                for s in slots
            ]
            w = summarize(Records.from_rows(rows), t, t + 1_000_000_000, 1, 95)
            windows.append(w.__class__(**{**w.__dict__, "sent_count": n}))
            t += 1_000_000_000
        result.levels.append(
            LevelResult(
                max_threads,
                Verdict.STABLE,
                windows,
                merge(windows, 95),
                Spread(1.0, 1.0),
                request_rate=rate,
            )
        )
    return result
