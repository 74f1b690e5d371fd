"""The sweep's options on Locust's side: the flag table's Locust spellings on Locust's parser
(command line and web UI start form), the settings read back from Locust's options (on a
master, and on every worker, which learns them from the master), and on Locust workers the
answering of the master's window cuts."""

from __future__ import annotations

import argparse
from typing import Any

from locust import events
from locust.env import Environment
from locust.runners import WorkerRunner

from analysis.flag_table import FLAGS, Flag, from_values
from analysis.settings import Outputs, SweepSettings
from triton_user.sweep.window_channel import WorkerCuts

_registered = False


def register() -> None:
    global _registered
    if _registered:
        return
    _registered = True

    @events.init_command_line_parser.add_listener
    def _add_options(parser: Any) -> None:
        # On the parser itself: Locust's include_in_web_ui is not known to argument groups.
        add_locust_flags(parser)

    @events.init.add_listener
    def _on_init(environment: Environment, **_: Any) -> None:
        if isinstance(environment.runner, WorkerRunner):
            environment.triton_histograms = True  # type: ignore[attr-defined]
            WorkerCuts(environment)


def add_locust_flags(parser: Any) -> None:
    """The Locust spellings, for `locust -f locustfiles/triton_sweep.py` and its web UI."""
    for flag in FLAGS:
        if flag.locust is None:
            continue
        kwargs = flag.argparse_kwargs(locust_dest(flag))
        # The web UI's start form shows plain values; required ones are checked at start.
        kwargs["include_in_web_ui"] = flag.action == "store"
        kwargs["is_secret"] = flag.secret
        if flag.dest == "model":
            kwargs["default"] = ""
        parser.add_argument(flag.locust, **kwargs)


def locust_dest(flag: Flag) -> str:
    return f"triton_{flag.dest}"


def from_locust_options(options: Any) -> tuple[SweepSettings, Outputs]:
    by_dest = {f.dest: f for f in FLAGS}

    def get(dest: str) -> Any:
        flag = by_dest[dest]
        if flag.locust is None:
            return flag.default
        return getattr(options, locust_dest(flag), flag.default)

    return from_values(get)


def locust_namespace(ns: argparse.Namespace) -> argparse.Namespace:
    """Locust's options with ours filled from `triton-locust profile`'s: what a master
    sends its workers, so that they build the same requests."""
    from locust import argument_parser

    parser = argument_parser.get_empty_argument_parser()
    argument_parser.setup_parser_arguments(parser)
    options = parser.parse(args=[])
    options.headless = True
    for flag in FLAGS:
        if flag.locust is not None:
            setattr(options, locust_dest(flag), getattr(ns, flag.dest))
    return options
