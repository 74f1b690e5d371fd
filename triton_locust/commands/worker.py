"""`triton-locust worker`: a Locust worker for a sweep whose master runs elsewhere
(`triton-locust profile --master` or `locust -f locustfiles/triton_sweep.py --master`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "worker",
        help="a Locust worker for a distributed sweep (the master sends the settings)",
    )
    parser.add_argument("--master-host", default="127.0.0.1")
    parser.add_argument("--master-port", type=int, default=5557)
    parser.add_argument("--loglevel", default="WARNING", help="Locust's log level")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import triton_user

    locustfile = Path(triton_user.__file__).with_name("locustfile.py")
    from locust.main import main as locust_main

    sys.argv = [
        "locust",
        "-f",
        str(locustfile),
        "--worker",
        "--master-host",
        args.master_host,
        "--master-port",
        str(args.master_port),
        "--loglevel",
        args.loglevel,
    ]
    try:
        locust_main()  # exits the process when the master tells it to quit
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
