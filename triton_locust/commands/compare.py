"""`triton-locust compare A B`: two runs side by side."""

from __future__ import annotations

import argparse

from analysis.atomic_write import write_text
from analysis.report.compare import compare
from analysis.report.html import comparison_html
from analysis.report.load import load_summary
from analysis.report.text import comparison_lines
from triton_locust.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "compare",
        help="compare two runs (results JSON or perf_analyzer CSV), level by level",
        description="Per concurrency, the change in throughput and latency from run A to "
        "run B and a verdict (better, worse, mixed, within noise) against the spread of the "
        "runs' own windows (a CSV has none: a stated default band); a warning when the runs "
        "measured differently (window, percentile, protocol, ...); both curves overlaid.",
    )
    parser.add_argument("a", metavar="A")
    parser.add_argument("b", metavar="B")
    parser.add_argument("-o", "--output", default="compare.html", help="HTML to write")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        a, b = load_summary(args.a), load_summary(args.b)
    except FileNotFoundError as exc:
        raise UserError(f"{exc.filename}: no such file") from exc
    except (OSError, ValueError) as exc:
        raise UserError(str(exc)) from exc
    result = compare(a, b)
    try:
        write_text(args.output, comparison_html(result, a, b))
    except OSError as exc:
        raise UserError(f"cannot write {args.output}: {exc.strerror or exc}") from exc
    print("\n".join(comparison_lines(result)))
    print(f"Comparison: {args.output}")
    return 0
