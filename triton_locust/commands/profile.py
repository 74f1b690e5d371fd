"""`triton-locust profile`: perf_analyzer's flags, Locust in-process and headless."""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()  # before anything opens a socket: users share one process under gevent

import argparse  # noqa: E402
import logging  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
import locust  # noqa: E402
from locust.env import Environment  # noqa: E402

from analysis.exit_codes import EXIT_MEANINGS  # noqa: E402
from analysis.flag_table import FLAGS  # noqa: E402
from analysis.settings import Outputs, SweepSettings  # noqa: E402
from triton_locust.errors import UserError  # noqa: E402
from triton_locust.pa_flags import add_pa_flags, from_pa_namespace  # noqa: E402
from triton_locust.server.launcher import free_ports  # noqa: E402
from triton_user.options import locust_namespace  # noqa: E402
from triton_user.outputs import DISTRIBUTED_EXPORT  # noqa: E402
from triton_user.requests.shared_memory import DISTRIBUTED as SHARED_MEMORY_DISTRIBUTED  # noqa: E402
from triton_user.shape import ConcurrencySweepShape  # noqa: E402
from triton_user.sweep.cluster import Cluster, ClusterError  # noqa: E402
from triton_user.sweep.locust_sweep import (  # noqa: E402
    LocustSweep,
    PreflightError,
    check_rate_workers,
)
from triton_user.sweep.periodic import PeriodicRun  # noqa: E402
from triton_user.user import TritonUser  # noqa: E402


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "profile",
        help="a perf_analyzer-style concurrency sweep (takes perf_analyzer's flags)",
        description="Sweep concurrency against a Triton model with Locust, level by level as "
        "perf_analyzer does, print its figures in its layout and write its CSV, our JSON and "
        "an HTML report. Takes perf_analyzer's flags; on a terminal a status line shows the "
        "level under way. Exit codes: "
        + "; ".join(f"{code} {meaning}" for code, meaning in EXIT_MEANINGS)
        + ".",
        epilog=EXAMPLES + "\n\n" + locust_spellings(),
    )
    add_pa_flags(parser)
    parser.add_argument(
        "--embedded-server",
        action="store_true",
        help="start triton-locust's own Triton server (sample models) on free ports for this run",
    )
    cluster = parser.add_argument_group("distributed runs (Locust master and workers)")
    cluster.add_argument(
        "--processes",
        type=int,
        default=None,
        metavar="N",
        help="run a Locust master and N worker processes on this machine",
    )
    cluster.add_argument(
        "--master",
        action="store_true",
        help="be the master of workers started elsewhere with "
        "`triton-locust worker --master-host HOST`",
    )
    cluster.add_argument(
        "--expect-workers",
        type=int,
        default=1,
        metavar="N",
        help="with --master: wait for this many workers",
    )
    cluster.add_argument(
        "--master-bind-host", default="*", metavar="HOST", help="with --master: listen here"
    )
    cluster.add_argument(
        "--master-bind-port", type=int, default=5557, metavar="PORT", help="and on this port"
    )
    parser.set_defaults(run=run)


EXAMPLES = """\
examples:
  triton-locust profile --embedded-server -m sleep_5ms --concurrency-range 1:4 -f results/perf.csv
  triton-locust profile -m sleep_5ms -u localhost:8001 -i grpc --concurrency-range 1:4 \\
      --percentile 95 -f perf.csv"""


def locust_spellings() -> str:
    """The flags `locust -f locustfiles/triton_sweep.py` spells differently: the options
    above already say what each does, so this is the mapping alone, not a second table."""
    renamed = [f for f in FLAGS if f.locust and f.locust != f.pa[-1]]
    width = max(len(", ".join(f.pa)) for f in renamed)
    lines = [f"  {', '.join(f.pa):<{width}}  {f.locust}" for f in renamed]
    head = [
        "The same sweep from Locust, locust -f locustfiles/triton_sweep.py, takes these flags",
        "spelled alike, but for:",
    ]
    return "\n".join(head + lines)


def with_default_report(outputs: Outputs) -> Outputs:
    """A sweep writes its HTML report next to its CSV (or JSON) unless told where."""
    if outputs.report or not (outputs.csv or outputs.json):
        return outputs
    base = Path(outputs.csv or outputs.json)
    return Outputs(**{**outputs.__dict__, "report": str(base.with_suffix(".html"))})


def run(args: argparse.Namespace) -> int:
    check_cluster_flags(args)  # before a server is started or a request sent
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
            if args.collect_metrics and not args.metrics_url:  # its port is not 8002
                args.metrics_url = server.metrics_url
            code = run_sweep(args)
    except ServerStartError as exc:
        raise UserError(f"embedded server: {exc}") from exc
    if server.kept_log is not None:  # it died mid-sweep: its log says why
        print(
            f"triton-locust: the embedded server exited; its log: {server.kept_log}",
            file=sys.stderr,
        )
    return code


class LocustAdvice(logging.Filter):
    """Locust's advice to its own users, kept off perf_analyzer's console: a level's users
    start at once by design (spawn rate = users), and our console already warns, per
    window, when the client's CPU cannot keep up. Other warnings and errors still show."""

    ADVICE = (
        "Your selected spawn rate is very high",
        "CPU usage above",
        "CPU usage was too high",
    )

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.ADVICE)


def quiet_locust_advice() -> None:
    # A logger's filters see only its own records: Locust logs the spawn rate on
    # locust.runners, the CPU warning on the root logger.
    for name in ("locust.runners", ""):
        logging.getLogger(name).addFilter(LocustAdvice())


def run_sweep(args: argparse.Namespace) -> int:
    quiet_locust_advice()
    try:
        settings, outputs = from_pa_namespace(args)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    outputs = with_default_report(outputs)
    if outputs.profile_export and (args.processes or args.master):
        raise UserError(DISTRIBUTED_EXPORT)
    if settings.shared_memory != "none" and (args.processes or args.master):
        raise UserError(SHARED_MEMORY_DISTRIBUTED)
    if settings.periodic is not None:  # no levels, no Locust users: a run of its own
        return run_periodic(settings, outputs)
    environment = Environment(user_classes=[TritonUser], events=locust.events)
    sweep = LocustSweep(environment, settings, outputs)
    try:
        check_rate_workers(settings, worker_total(args))  # before any request
        sweep.preflight()
    except PreflightError as exc:
        raise UserError(str(exc)) from exc
    environment.shape_class = ConcurrencySweepShape(sweep)
    cluster = make_cluster(args, environment)
    try:
        runner = cluster.start() if cluster else environment.create_local_runner()
    except ClusterError as exc:
        cluster.stop()  # type: ignore[union-attr]
        raise UserError(str(exc)) from exc
    gevent.signal_handler(signal.SIGINT, sweep.stop)
    gevent.signal_handler(signal.SIGTERM, sweep.stop)
    try:
        sweep.start()
        runner.start_shape()
        sweep.finished.wait()
    finally:
        cluster.stop() if cluster else runner.quit()
        sweep.release_regions()  # done on Locust's test_stop already, unless cut short
    return sweep.exit_code


def run_periodic(settings: SweepSettings, outputs: Outputs) -> int:
    """--periodic-concurrency-range: perf_analyzer's periodic concurrency mode."""
    run = PeriodicRun(settings, outputs)
    try:
        run.preflight()
    except PreflightError as exc:
        raise UserError(str(exc)) from exc
    gevent.signal_handler(signal.SIGINT, run.stop)
    gevent.signal_handler(signal.SIGTERM, run.stop)
    return run.run()


def check_cluster_flags(args: argparse.Namespace) -> None:
    # Left out, --processes means one process; an explicit 0 used to mean that silently.
    if args.processes is not None and args.processes < 1:
        raise UserError(
            f"--processes {args.processes}: must be at least 1 (leave it out for one process)"
        )
    if args.expect_workers < 1:
        raise UserError(f"--expect-workers {args.expect_workers}: must be at least 1")


def worker_total(args: argparse.Namespace) -> int:
    """The workers the sweep starts with: --processes, plus --expect-workers with --master."""
    return (args.processes or 0) + (args.expect_workers if args.master else 0)


def make_cluster(args: argparse.Namespace, environment: Environment) -> Cluster | None:
    """A master with workers, or None for the single-process run."""
    check_cluster_flags(args)
    if not (args.processes or args.master):
        return None
    environment.parsed_options = locust_namespace(args)
    if args.master:
        return Cluster(
            environment,
            args.expect_workers + (args.processes or 0),
            args.processes or 0,
            args.master_bind_host,
            args.master_bind_port,
        )
    port = free_ports(1)[0]
    return Cluster(environment, args.processes, args.processes, "127.0.0.1", port)
