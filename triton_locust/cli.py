"""`triton-locust`: a thin shell over the library. Each subcommand lives in
triton_locust/commands/<name>.py with `register(subparsers)`; the parser it adds carries
its `run(args) -> int` as the `run` default."""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import NoReturn

from triton_locust.errors import UserError

COMMANDS: tuple[str, ...] = ("profile", "worker", "serve", "report", "compare")


class OneLineErrorParser(argparse.ArgumentParser):
    """Bad flags get one line naming the problem (no usage dump), exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(
        prog="triton-locust",
        description="Profile NVIDIA Triton Inference Server with Locust: perf_analyzer's numbers, "
        "Locust's web UI and distributed runs, and reports that make the recommendation.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"triton_locust.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except UserError as exc:
        print(f"triton-locust {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"triton-locust {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
