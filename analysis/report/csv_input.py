"""Any perf_analyzer-format CSV (perf_analyzer's own or ours), rows in any order."""

from __future__ import annotations

import re
import time
from pathlib import Path

from analysis.csv_columns import AVG_LATENCY_COLUMN, LEADING_COLUMNS, percentile_column
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
    missing = [c for c in LEADING_COLUMNS if c not in table.columns]
    wanted = percentile_column(CSV_LATENCY_PERCENTILE)
    if wanted not in table.columns:
        missing.append(wanted)
    if missing:
        raise ValueError(f"{path}: not a perf_analyzer CSV (missing columns: {', '.join(missing)})")
    numeric = table.apply(pd.to_numeric, errors="coerce")
    if numeric[list(LEADING_COLUMNS)].isna().any().any():
        raise ValueError(f"{path}: non-numeric values in perf_analyzer columns")
    percentiles = {
        int(m.group(1)): col for col in table.columns if (m := _PERCENTILE.match(str(col)))
    }
    has_avg = AVG_LATENCY_COLUMN in table.columns
    rows = []
    first_line: dict[int, int] = {}
    for i, r in numeric.iterrows():
        line = int(i) + 2  # the file's line: the header is line 1
        concurrency = r["Concurrency"]
        if concurrency < 1 or concurrency != int(concurrency):
            raise ValueError(f"{path}: line {line}: concurrency {concurrency:g} is not 1 or more")
        if int(concurrency) in first_line:  # which of two rows to draw? neither, say so
            raise ValueError(
                f"{path}: line {line}: concurrency {int(concurrency)} again "
                f"(first on line {first_line[int(concurrency)]})"
            )
        first_line[int(concurrency)] = line
        parts = [float(r[c]) for c in LEADING_COLUMNS[2:]]
        rows.append(
            LevelRow(
                concurrency=int(r["Concurrency"]),
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
        levels=sorted(rows, key=lambda r: r.concurrency),
        # When the file was written: the closest a CSV comes to saying when it ran.
        started_at=time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(Path(path).stat().st_mtime)),
    )
