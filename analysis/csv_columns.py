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


def header(percentiles: list[int], verbose: bool, stabilises_on_average: bool) -> list[str]:
    """The header row for the given percentile columns (sorted, as perf_analyzer's std::map)."""
    cols = list(LEADING_COLUMNS) + [percentile_column(p) for p in sorted(percentiles)]
    if verbose:
        if stabilises_on_average:
            cols.append(AVG_LATENCY_COLUMN)
        cols.extend(VERBOSE_COLUMNS)
    return cols
