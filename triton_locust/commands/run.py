"""`triton-locust run PLAN`: a plan's scenarios, their SLOs, a baseline, the history."""

from __future__ import annotations

import argparse
from pathlib import Path
from textwrap import indent

from analysis.atomic_write import check_writable
from analysis.baseline import DEFAULT_MAX_REGRESSION
from analysis.exit_codes import RUN_EXIT_MEANINGS, RUN_PRECEDENCE
from analysis.plan import EXAMPLE_PLAN, PlanError, load_plan
from triton_locust.errors import UserError
from triton_locust.history import DEFAULT_HISTORY, HistoryError, open_history
from triton_locust.plan_runner import PlanRun, RunOptions
from triton_locust.pushgateway import PushError, check_gateway

EXAMPLES = """\
examples:
  triton-locust run plan.yaml --junit junit.xml --baseline latest --max-regression 10
  triton-locust run plan.toml --history postgresql://ci@db/loadtests --pushgateway http://pg:9091

A plan (YAML or TOML; header values from the environment, never in the file):
""" + indent(EXAMPLE_PLAN, "  ")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "run",
        help="run a plan file's scenarios, check their SLOs and a baseline, keep the history",
        description="Sweep each scenario of a plan (YAML or TOML; its keys are perf_analyzer's "
        "long flag names), check it against the plan's SLOs and, with --baseline, an earlier "
        "run of the same scenario; record it in the history; write JUnit XML and a Markdown "
        "summary for CI; push the figures to a Prometheus Pushgateway. The plan is checked "
        "before any load is sent. Exit codes: "
        + "; ".join(f"{code} {meaning}" for code, meaning in RUN_EXIT_MEANINGS)
        + ". With several scenarios, the first of "
        + ", ".join(map(str, RUN_PRECEDENCE[:-1]))
        + " that any had; a scenario that could not start (its server unreachable) is 3.",
        epilog=EXAMPLES,
    )
    parser.add_argument("plan", metavar="PLAN", help="the plan file (.yaml, .yml or .toml)")
    parser.add_argument("--junit", metavar="FILE", help="write JUnit XML: a test case per check")
    parser.add_argument("--markdown", metavar="FILE", help="write a Markdown summary")
    parser.add_argument(
        "--results-dir",
        default="results",
        metavar="DIR",
        help="each run's results files go in DIR/runs/<time>/",
    )
    parser.add_argument(
        "--history",
        metavar="PATH|URL",
        help="the history: a SQLite file, or a postgresql:// URL "
        f"(default: {DEFAULT_HISTORY}, where `triton-locust history` looks)",
    )
    parser.add_argument(
        "--baseline",
        metavar="latest|FILE",
        help="compare each level with the latest finished run of the same scenario in the "
        "history, or with a results file",
    )
    parser.add_argument(
        "--max-regression",
        type=float,
        default=DEFAULT_MAX_REGRESSION * 100,
        metavar="PCT",
        help="with --baseline: the change in percent (throughput down, latency up) a level "
        "may show before it fails; a level's own window noise widens it",
    )
    parser.add_argument(
        "--pushgateway", metavar="URL", help="push each scenario's figures to this Pushgateway"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if not 0 <= args.max_regression < 100:
        raise UserError(f"--max-regression {args.max_regression:g}: a percentage in 0..100")
    try:
        if args.pushgateway:
            check_gateway(args.pushgateway)
        plan = load_plan(args.plan)
    except (PushError, PlanError) as exc:
        raise UserError(str(exc)) from exc
    for flag, path in (("--junit", args.junit), ("--markdown", args.markdown)):
        try:
            if path:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                check_writable(path)
        except OSError as exc:
            raise UserError(f"{flag} {path}: cannot write: {exc.strerror or exc}") from exc
    results_dir = Path(args.results_dir)
    target = args.history or DEFAULT_HISTORY
    options = RunOptions(
        results_dir=results_dir,
        baseline=args.baseline,
        max_regression=args.max_regression / 100,
        pushgateway=args.pushgateway,
        junit=args.junit,
        markdown=args.markdown,
    )
    try:
        history = open_history(target)
    except HistoryError as exc:
        raise UserError(str(exc)) from exc
    try:
        try:
            plan_run = PlanRun(plan, history, options)
        except ValueError as exc:
            raise UserError(str(exc)) from exc
        return plan_run.run()
    finally:
        history.close()
