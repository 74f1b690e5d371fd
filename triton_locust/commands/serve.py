"""`triton-locust serve`: the embedded Triton server with the sample models."""

from __future__ import annotations

import argparse

from triton_locust.server.launcher import LOOPBACK, serve_forever


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "serve",
        help="start Triton Inference Server 2.51 on CPU with the sample models",
        description="Start the tritonserver shipped in the nvidia-pytriton wheel, on CPU, with "
        "triton-locust's sample Python-backend models (or your own --model-repository), and "
        "keep it running until Ctrl-C (or SIGTERM) stops it.",
        epilog="examples:\n"
        "  triton-locust serve\n"
        "  triton-locust serve --http-port 9000 --grpc-port 9001 --metrics-port 9002 "
        "--model-repository ./models\n"
        "  triton-locust serve --host 0.0.0.0   # reachable from other machines, unauthenticated",
    )
    parser.add_argument("--http-port", type=int, default=8000, metavar="PORT", help="HTTP/REST")
    parser.add_argument("--grpc-port", type=int, default=8001, metavar="PORT", help="gRPC")
    parser.add_argument(
        "--metrics-port", type=int, default=8002, metavar="PORT", help="Prometheus metrics"
    )
    parser.add_argument(
        "--model-repository", default=None, metavar="DIR", help="default: the sample models"
    )
    parser.add_argument(
        "--host",
        default=LOOPBACK,
        metavar="ADDRESS",
        help="the address to listen on (default: %(default)s, this machine only; 0.0.0.0: every "
        "interface, open to anyone who reaches it: Triton has no login)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return serve_forever(
        args.http_port, args.grpc_port, args.metrics_port, args.model_repository, host=args.host
    )
