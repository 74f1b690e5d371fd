"""The sweep's options on Locust's side: the flag table's Locust spellings on Locust's parser
(command line and web UI start form), the settings read back from Locust's options (on a
master, and on every worker, which learns them from the master), and on Locust workers the
answering of the master's window cuts.

How the settings reach a worker (Locust 2.18): each "spawn" message carries the master's
whole `parsed_options` (msgpack: lists, numbers, strings and None travel as they are), and
the worker copies every option that is not one of Locust's own over its parsed options;
TritonUser builds its requests from them (`from_locust_options`). So every row of the flag
table needs a Locust option, or a worker falls back to that row's default."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable
from typing import Any

from locust import events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from analysis.flag_table import FLAGS, Flag, from_values
from analysis.settings import Outputs, SweepSettings
from triton_user.sweep.window_channel import VersionGate, WorkerCuts

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
            environment.events.test_start.add_listener(
                lambda **_: follow_new_settings(environment)
            )
        elif isinstance(environment.runner, MasterRunner):
            VersionGate.of(environment)


def follow_new_settings(environment: Environment) -> None:
    """A worker builds its requests once, from the first options the master sent; a new test
    started from the web UI may bring others: forget what the old ones built."""
    state = getattr(environment, "triton", None)
    if state is None:
        return
    try:
        settings, _ = from_locust_options(environment.parsed_options)
    except ValueError:
        return  # the master refuses such a test
    if settings != state.plan.settings:
        del environment.triton  # type: ignore[attr-defined]


class RepeatedValues(list):
    """A repeatable option's values (-H, --shape) in a form Locust's web UI carries: the start
    form shows str(value) in one text field, and Locust builds the submitted value back as
    type(value)(text). Values are separated by ';' (or ','); a piece that does not begin with
    NAME: continues the value before it, so 'INPUT0:2,3' and 'Accept:a, b' stay whole."""

    def __init__(self, values: Iterable[str] | str = ()) -> None:
        super().__init__(_split_values(values) if isinstance(values, str) else values)

    def __str__(self) -> str:
        return "; ".join(self)


_NEW_VALUE = re.compile(r"\s*[^\s:;,]+:")


def _split_values(text: str) -> list[str]:
    tokens = re.split(r"([;,])", text)  # pieces, with the separator before each kept
    values: list[str] = []
    for i in range(0, len(tokens), 2):
        piece = tokens[i]
        if not piece.strip():
            continue
        if values and not _NEW_VALUE.match(piece):
            values[-1] += tokens[i - 1] + piece
        else:
            values.append(piece)
    return [v.strip() for v in values]


def add_locust_flags(parser: Any) -> None:
    """The Locust spellings, for `locust -f locustfiles/triton_sweep.py` and its web UI."""
    for flag in FLAGS:
        if flag.locust is None:
            continue
        kwargs = flag.argparse_kwargs(locust_dest(flag))
        # The web UI's start form takes text and choices (required ones are checked at
        # start); it cannot set a boolean, and leaves out an option whose value is None.
        kwargs["include_in_web_ui"] = flag.action != "store_true"
        kwargs["is_secret"] = flag.secret
        if flag.action == "append":
            kwargs["default"] = RepeatedValues()
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
