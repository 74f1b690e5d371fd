"""`triton-locust`: a thin shell over the library. Each subcommand lives in
triton_locust/commands/<name>.py with `register(subparsers)`; the parser it adds carries
its `run(args) -> int` as the `run` default."""

from __future__ import annotations

import argparse
import importlib
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Any, NoReturn

from triton_locust.errors import UserError

COMMANDS: tuple[str, ...] = (
    "profile",
    "run",
    "history",
    "worker",
    "serve",
    "report",
    "compare",
)

EXAMPLES = """\
examples:
  triton-locust serve                                   # Triton with the sample models
  triton-locust profile -m sleep_5ms -u localhost:8000 --concurrency-range 1:4 -f perf.csv

'triton-locust COMMAND --help' for a command's flags."""


class HelpFormatter(argparse.HelpFormatter):
    """Each option's default after its help (unless it has none to speak of, or its help
    says it already); a description or epilog laid out in lines (examples, a table) kept
    as written, one written as a paragraph wrapped to the terminal."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text, default = action.help or "", action.default
        if (
            not action.option_strings
            or default is None
            or default is False
            or default == ""
            or default == []
            or default is argparse.SUPPRESS
            or "default" in text
        ):
            return action.help
        return f"{text} (default: %(default)s)"

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


class OneLineErrorParser(argparse.ArgumentParser):
    """Bad flags get one line naming the problem (no usage dump), exit 2. Subcommands'
    parsers are of this class too, and show their defaults in --help."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def tool_version() -> str:
    try:
        return version("triton-locust")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(
        prog="triton-locust",
        description="Profile NVIDIA Triton Inference Server with Locust: perf_analyzer's numbers, "
        "Locust's web UI and distributed runs, and reports that make the recommendation.",
        epilog=EXAMPLES,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {tool_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"triton_locust.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    command = "triton-locust"
    try:
        # Ctrl-C while the commands import (gevent, Locust: a second or two) ends quietly too.
        args = build_parser().parse_args(argv)
        command = f"triton-locust {args.command}"
        return int(args.run(args))
    except UserError as exc:
        print(f"{command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
