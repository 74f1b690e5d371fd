"""perf_analyzer's spellings of the flag table, for `triton-locust profile`."""

from __future__ import annotations

import argparse
from typing import Any

from analysis.flag_table import FLAGS, NOT_YET, from_values
from analysis.settings import Outputs, SweepSettings


class _NotYet(argparse.Action):
    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        parser.error(f"perf_analyzer flag {self.option_strings[0]} is not supported yet")


def add_pa_flags(parser: argparse.ArgumentParser) -> None:
    """Every flag of the table under perf_analyzer's names; those we know and do not take
    yet get a clear word instead of "unrecognized"."""
    for flag in FLAGS:
        parser.add_argument(*flag.pa, **flag.argparse_kwargs(flag.dest))
    for name in NOT_YET:
        parser.add_argument(name, action=_NotYet, nargs="?", help=argparse.SUPPRESS)


def from_pa_namespace(ns: argparse.Namespace) -> tuple[SweepSettings, Outputs]:
    return from_values(lambda dest: getattr(ns, dest))


def flag_table_markdown() -> str:
    """The same mapping as the README's table."""
    rows = [
        "| perf_analyzer | `locust -f locustfiles/triton_sweep.py` | meaning |",
        "|---|---|---|",
    ]
    for f in FLAGS:
        locust = f"`{f.locust}`" if f.locust else "–"
        rows.append(f"| `{', '.join(f.pa)}` | {locust} | {f.help} |")
    return "\n".join(rows)
