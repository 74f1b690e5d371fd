"""`triton-locust report RESULTS`: the chart and the recommended concurrency, no Excel."""

from __future__ import annotations

import argparse

from analysis.console import summary_block
from analysis.report.html import write_report
from analysis.report.json_out import write_summary_json
from analysis.report.load import as_summary, load_run
from analysis.report.recommend import recommend
from analysis.report.summary import RunSummary
from analysis.report.text import recommendation_lines
from analysis.results import SweepResult
from triton_locust.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "report",
        help="HTML report and recommended concurrency from a results JSON or perf_analyzer CSV",
        description="Draw the throughput-latency chart and recommend a concurrency from "
        "triton-locust's JSON results or any perf_analyzer-format CSV (rows in any order).",
    )
    parser.add_argument("results", metavar="RESULTS", help="results JSON or perf_analyzer CSV")
    parser.add_argument("-o", "--output", default="report.html", help="HTML report to write")
    parser.add_argument(
        "--json",
        dest="json_out",
        metavar="FILE",
        help="write the summary and recommendation as JSON",
    )
    parser.add_argument("--png", metavar="FILE", help="write the main chart as PNG")
    parser.add_argument(
        "--latency-budget",
        type=float,
        metavar="MS",
        help="recommend the best level within this latency (msec)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.latency_budget is not None and args.latency_budget <= 0:
        raise UserError(f"--latency-budget {args.latency_budget:g}: must be above 0 msec")
    try:
        run = load_run(args.results)
        summary = as_summary(run, args.results)
    except FileNotFoundError as exc:
        raise UserError(f"{args.results}: no such file") from exc
    except (OSError, ValueError) as exc:
        raise UserError(str(exc)) from exc
    if not summary.levels:
        raise UserError(f"{args.results}: no reported levels to draw")
    if summary.rate_mode:
        return _rate_report(args, run)
    try:
        write_report(summary, args.output, args.png, args.latency_budget)
        if args.json_out:
            write_summary_json(summary, recommend(summary, args.latency_budget), args.json_out)
    except OSError as exc:
        raise UserError(f"cannot write the report: {exc.strerror or exc}") from exc
    print("\n".join(recommendation_lines(recommend(summary, args.latency_budget))))
    print(f"Report: {args.output}")
    return 0


def _rate_report(args: argparse.Namespace, run: SweepResult | RunSummary) -> int:
    """A request-rate sweep: its own report (latency from the send and from the slot, late
    requests), drawn from our results JSON; there is no concurrency to recommend."""
    if not isinstance(run, SweepResult):
        raise UserError(
            f"{args.results}: a request-rate sweep's CSV: `report` draws a rate sweep from "
            "triton-locust's results JSON (the CSV lacks the latency from each request's slot)"
        )
    options = {"--png": args.png, "--latency-budget": args.latency_budget, "--json": args.json_out}
    asked = [flag for flag, value in options.items() if value is not None]
    if asked:
        raise UserError(
            f"{args.results}: a request-rate sweep: {', '.join(asked)} only with a concurrency "
            "sweep (a rate sweep's report is its HTML; there is no concurrency to recommend)"
        )
    try:
        write_report(run, args.output)
    except OSError as exc:
        raise UserError(f"cannot write the report: {exc.strerror or exc}") from exc
    print(summary_block(run))
    print(f"Report: {args.output}")
    return 0
