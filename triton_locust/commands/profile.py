"""`triton-locust profile`: perf_analyzer's flags, Locust in-process and headless."""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()  # before anything opens a socket: users share one process under gevent

import argparse  # noqa: E402
import signal  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
import locust  # noqa: E402
from locust.env import Environment  # noqa: E402

from analysis.results import SweepResult  # noqa: E402
from analysis.stabiliser import Verdict  # noqa: E402
from triton_locust.errors import UserError  # noqa: E402
from triton_locust.flags import Outputs, add_pa_flags, flag_table_text, from_pa_namespace  # noqa: E402
from triton_user.shape import ConcurrencySweepShape  # noqa: E402
from triton_user.sweep import LocustSweep, PreflightError  # noqa: E402
from triton_user.user import TritonUser  # noqa: E402

EXIT_OK, EXIT_UNSTABLE, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 3, 130


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "profile",
        help="a perf_analyzer-style concurrency sweep (takes perf_analyzer's flags)",
        description="Sweep concurrency against a Triton model with Locust and report "
        "perf_analyzer's figures. Flags, and what they are in the Locust locustfile:\n\n"
        + flag_table_text(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_pa_flags(parser)
    parser.add_argument(
        "--embedded-server",
        action="store_true",
        help="start triton-locust's own Triton server (sample models) on free ports for this run",
    )
    parser.set_defaults(run=run)


def with_default_report(outputs: Outputs) -> Outputs:
    """A sweep writes its HTML report next to its CSV (or JSON) unless told where."""
    if outputs.report or not (outputs.csv or outputs.json):
        return outputs
    base = Path(outputs.csv or outputs.json)
    return Outputs(**{**outputs.__dict__, "report": str(base.with_suffix(".html"))})


def run(args: argparse.Namespace) -> int:
    if not args.embedded_server:
        return run_sweep(args)
    from triton_locust.server.launcher import ServerStartError, TritonServer, free_ports

    try:
        with TritonServer(*free_ports(3)) as server:
            print(
                f"Embedded Triton server: HTTP {server.http_url}, gRPC {server.grpc_url}",
                flush=True,
            )
            if not args.url:
                args.url = (
                    server.grpc_url if str(args.protocol).lower() == "grpc" else server.http_url
                )
            return run_sweep(args)
    except ServerStartError as exc:
        raise UserError(f"embedded server: {exc}") from exc


def run_sweep(args: argparse.Namespace) -> int:
    try:
        settings, outputs = from_pa_namespace(args)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    outputs = with_default_report(outputs)
    environment = Environment(user_classes=[TritonUser], events=locust.events)
    sweep = LocustSweep(environment, settings, outputs)
    try:
        sweep.preflight()
    except PreflightError as exc:
        raise UserError(str(exc)) from exc
    environment.shape_class = ConcurrencySweepShape(sweep)
    runner = environment.create_local_runner()
    gevent.signal_handler(signal.SIGINT, sweep.stop)
    gevent.signal_handler(signal.SIGTERM, sweep.stop)
    sweep.start()
    runner.start_shape()
    sweep.finished.wait()
    runner.quit()
    assert sweep.result is not None
    return exit_code(sweep.result)


def exit_code(result: SweepResult) -> int:
    """Like perf_analyzer, non-zero when a level could not be measured stably."""
    if result.stop_reason == "interrupted":
        return EXIT_INTERRUPTED
    if result.stop_reason.startswith("error"):
        return EXIT_ERROR
    if any(level.verdict is Verdict.UNSTABLE for level in result.levels):
        return EXIT_UNSTABLE
    return EXIT_OK
