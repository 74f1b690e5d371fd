"""`triton-locust history`: the runs `triton-locust run` recorded; `history report`: their
trend over time as one HTML page."""

from __future__ import annotations

import argparse

from analysis.atomic_write import write_text
from analysis.report.trend import history_lines, trend_html
from analysis.run_record import RunRecord
from triton_locust.errors import UserError
from triton_locust.history import DEFAULT_HISTORY, HistoryError, NoHistory, masked, open_history

HISTORY_HELP = (
    "the history: a SQLite file's path, or a postgresql://USER:PASSWORD@HOST/DB URL (the "
    "password may come from PGPASSWORD or ~/.pgpass instead, out of the process list)"
)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "history",
        help="list the runs `triton-locust run` recorded; `history report`: their trend",
        description="The runs `triton-locust run` recorded, oldest first: when, which "
        "scenario, model and server, how many levels, the highest throughput, the knee, the "
        "checks and how the run ended. `history report` draws each scenario's throughput, "
        "latency and recommended concurrency over time.",
    )
    _history_flags(parser)
    # Optional: `triton-locust history` alone lists.
    actions = parser.add_subparsers(dest="history_action", metavar="[report]")
    report = actions.add_parser(
        "report",
        help="the trend over time as one HTML page",
        description="Per scenario, throughput and the stabilised latency at each "
        "concurrency, and the recommended concurrency (knee, saturation), over the runs' "
        "start times; partial runs hollow; a table of the runs.",
    )
    # Also after `report`; without defaults there, so that they override only when given.
    _history_flags(report, after_action=True)
    report.add_argument("-o", "--output", default="trend.html", help="HTML to write")
    parser.set_defaults(run=run)


def _history_flags(parser: argparse.ArgumentParser, after_action: bool = False) -> None:
    parser.add_argument(
        "--history",
        metavar="PATH|URL",
        default=argparse.SUPPRESS if after_action else DEFAULT_HISTORY,
        help=HISTORY_HELP + (f" (default: {DEFAULT_HISTORY})" if after_action else ""),
    )
    parser.add_argument(
        "--scenario",
        metavar="NAME",
        default=argparse.SUPPRESS if after_action else None,
        help="only this scenario's runs",
    )


def run(args: argparse.Namespace) -> int:
    records, source = _read(args.history, args.scenario)
    if not records:
        # Said on one line; `history report` still writes its page (saying the same), so a
        # CI job that publishes it finds a file.
        which = f" of scenario {args.scenario!r}" if args.scenario else ""
        print(f"history {source}: no runs{which} recorded yet")
    if args.history_action == "report":
        return _report(records, source, args.output)
    if records:
        print("\n".join(history_lines(records)))
    return 0


def _read(target: str, scenario: str | None) -> tuple[list[RunRecord], str]:
    """The runs (of one scenario) and the history's printable name. Reading never creates
    a history: a missing one has no runs."""
    try:
        with open_history(target, create=False) as history:
            return history.runs(scenario), history.name
    except NoHistory:
        return [], masked(target)
    except HistoryError as exc:
        raise UserError(str(exc)) from exc


def _report(records: list[RunRecord], source: str, output: str) -> int:
    try:
        write_text(output, trend_html(records, source))
    except OSError as exc:
        raise UserError(f"cannot write {output}: {exc.strerror or exc}") from exc
    print(f"Trend: {output}")
    return 0
