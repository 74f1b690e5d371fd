"""perf_analyzer 2.51's CSV layout (report_writer.cc), the one place it is spelled out:
our writer emits it and our readers accept it, so sheets built for one read the other."""

from __future__ import annotations

# Before the percentile columns; "Concurrency" is the load column in concurrency mode.
LEADING_COLUMNS: tuple[str, ...] = (
    "Concurrency",
    "Inferences/Second",
    "Client Send",
    "Network+Server Send/Recv",
    "Server Queue",
    "Server Compute Input",
    "Server Compute Infer",
    "Server Compute Output",
    "Client Recv",
)


def percentile_column(p: int) -> str:
    return f"p{p} latency"


# --verbose-csv's extra columns; "Avg latency" only when stabilising on the average.
AVG_LATENCY_COLUMN = "Avg latency"
VERBOSE_COLUMNS: tuple[str, ...] = ("request/response", "response wait")


# Request-rate mode: perf_analyzer's load column, and (--verbose-csv) ours after all of
# perf_analyzer's columns, so that scripts reading its columns by position keep working.
REQUEST_RATE_COLUMN = "Request Rate"
SCHEDULED_PERCENTILES: tuple[int, ...] = (50, 90, 95, 99)
LATE_COLUMN = "Late requests"


# --collect-metrics with --verbose-csv: perf_analyzer's GPU columns, after its other verbose
# ones; each cell is "uuid:value;" per GPU (empty on a server without GPUs). Then ours, the
# CPU's (one value each), after all of perf_analyzer's columns.
GPU_METRIC_COLUMNS: tuple[str, ...] = (
    "Avg GPU Utilization",
    "Avg GPU Power Usage",
    "Max GPU Memory Usage",
    "Total GPU Memory",
)
CPU_METRIC_COLUMNS: tuple[str, ...] = (
    "Avg CPU Utilization",
    "Max CPU Memory Usage",
    "Total CPU Memory",
)


# A decoupled model: perf_analyzer's column after "Inferences/Second" (responses per second).
RESPONSE_THROUGHPUT_COLUMN = "Response Throughput"
# --streaming with --verbose-csv: ours, after every other appended column.
STREAM_COLUMNS: tuple[str, ...] = (
    "First Response p50 latency",
    "First Response p95 latency",
    "Inter-Response p50 latency",
    "Inter-Response p95 latency",
)
STREAM_COLUMN_PERCENTILES: tuple[int, ...] = (50, 95)


def scheduled_column(p: int) -> str:
    return f"Scheduled p{p} latency"


def header(
    percentiles: list[int],
    verbose: bool,
    stabilises_on_average: bool,
    request_rate: bool = False,
    metrics: bool = False,
    decoupled: bool = False,
    streamed: bool = False,
) -> list[str]:
    """The header row for the given percentile columns (sorted, as perf_analyzer's std::map);
    `metrics`: --collect-metrics (its columns come with `verbose` only, as perf_analyzer's);
    `decoupled`: the model is (Response Throughput); `streamed`: --streaming (ours, with
    `verbose` only)."""
    leading = [REQUEST_RATE_COLUMN, *LEADING_COLUMNS[1:]] if request_rate else LEADING_COLUMNS
    if decoupled:
        leading = [*leading[:2], RESPONSE_THROUGHPUT_COLUMN, *leading[2:]]
    cols = list(leading) + [percentile_column(p) for p in sorted(percentiles)]
    if verbose:
        if stabilises_on_average:
            cols.append(AVG_LATENCY_COLUMN)
        cols.extend(VERBOSE_COLUMNS)
        if metrics:
            cols.extend(GPU_METRIC_COLUMNS)
        if request_rate:
            cols += [scheduled_column(p) for p in SCHEDULED_PERCENTILES] + [LATE_COLUMN]
        if metrics:
            cols.extend(CPU_METRIC_COLUMNS)
        if streamed:
            cols.extend(STREAM_COLUMNS)
    return cols
