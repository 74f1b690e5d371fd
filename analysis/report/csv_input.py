"""Any perf_analyzer-format CSV (perf_analyzer's own or ours), rows in any order: a
concurrency sweep's, or a request-rate sweep's (`Request Rate` first)."""

from __future__ import annotations

import re
import time
from pathlib import Path

from analysis.csv_columns import (
    AVG_LATENCY_COLUMN,
    LEADING_COLUMNS,
    REQUEST_RATE_COLUMN,
    percentile_column,
)
from analysis.report.summary import BREAKDOWN_PARTS, LevelRow, RunSummary

# A CSV does not say what its run stabilised on: perf_analyzer's users read p95 from it.
CSV_LATENCY_PERCENTILE = 95
_PERCENTILE = re.compile(r"^p(\d+) latency$")


def read_csv(path: str | Path) -> RunSummary:
    """Raises ValueError naming the problem when the file is not such a CSV."""
    import pandas as pd  # here, not at start-up: every CLI command loads this module

    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        reason = str(exc).strip().splitlines()[0]
        raise ValueError(f"{path}: not a perf_analyzer CSV ({reason})") from exc
    rated = REQUEST_RATE_COLUMN in table.columns and LEADING_COLUMNS[0] not in table.columns
    load_column = REQUEST_RATE_COLUMN if rated else LEADING_COLUMNS[0]
    columns = (load_column, *LEADING_COLUMNS[1:])
    missing = [c for c in columns if c not in table.columns]
    wanted = percentile_column(CSV_LATENCY_PERCENTILE)
    if wanted not in table.columns:
        missing.append(wanted)
    if missing:
        raise ValueError(f"{path}: not a perf_analyzer CSV (missing columns: {', '.join(missing)})")
    numeric = table.apply(pd.to_numeric, errors="coerce")
    if numeric[list(columns)].isna().any().any():
        raise ValueError(f"{path}: non-numeric values in perf_analyzer columns")
    percentiles = {
        int(m.group(1)): col for col in table.columns if (m := _PERCENTILE.match(str(col)))
    }
    has_avg = AVG_LATENCY_COLUMN in table.columns
    rows = []
    first_line: dict[float, int] = {}
    what = "request rate" if rated else "concurrency"
    for i, r in numeric.iterrows():
        line = int(i) + 2  # the file's line: the header is line 1
        load = float(r[load_column])
        if rated and not load > 0:
            raise ValueError(f"{path}: line {line}: request rate {load:g} is not above 0")
        if not rated and (load < 1 or load != int(load)):
            raise ValueError(f"{path}: line {line}: concurrency {load:g} is not 1 or more")
        if load in first_line:  # which of two rows to draw? neither, say so
            raise ValueError(
                f"{path}: line {line}: {what} {load:g} again (first on line {first_line[load]})"
            )
        first_line[load] = line
        parts = [float(r[c]) for c in LEADING_COLUMNS[2:]]
        rows.append(
            LevelRow(
                # A rate CSV does not say its --max-threads: 0 stands for "not recorded".
                concurrency=0 if rated else int(load),
                request_rate=load if rated else None,
                throughput=float(r["Inferences/Second"]),
                latency_us=float(r[wanted]),
                percentiles_us={p: float(r[col]) for p, col in sorted(percentiles.items())},
                breakdown_us=dict(zip(BREAKDOWN_PARTS, parts, strict=True)),
                stable=None,  # a CSV has no column for it: unknown
                # The parts add up to the average: perf_analyzer derives the network column
                # as the average less the others.
                avg_latency_us=float(r[AVG_LATENCY_COLUMN]) if has_avg else sum(parts),
            )
        )
    if not rows:
        raise ValueError(f"{path}: the CSV has no rows")
    return RunSummary(
        origin="csv",
        source=str(path),
        latency_label=f"p{CSV_LATENCY_PERCENTILE}",
        levels=sorted(rows, key=lambda r: r.load),
        # When the file was written: the closest a CSV comes to saying when it ran.
        started_at=time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(Path(path).stat().st_mtime)),
    )
