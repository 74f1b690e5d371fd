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
            environment.events.test_start.add_listener(lambda **_: follow_new_settings(environment))
            environment.events.test_start.add_listener(lambda **_: first_level(environment))
            return
        if isinstance(environment.runner, MasterRunner):
            VersionGate.of(environment)
        same_host(environment)  # the start form's Host box shows the Triton URL


def follow_new_settings(environment: Environment) -> None:
    """A worker builds its requests once, from the first options the master sent; a new test
    started from the web UI may bring others: forget what the old ones built, and the level
    the last sweep ended at."""
    environment.triton_level = None  # type: ignore[attr-defined]
    state = getattr(environment, "triton", None)
    if state is None:
        return
    try:
        settings, _ = from_locust_options(environment.parsed_options)
    except ValueError:
        return  # the master refuses such a test
    if settings != state.plan.settings:
        del environment.triton  # type: ignore[attr-defined]


def first_level(environment: Environment) -> None:
    """A worker's requests of a new sweep are named after its first level until the master
    names the level at its first discard."""
    state = getattr(environment, "triton", None)
    if state is not None:
        state.set_level(state.plan.settings.concurrency_start)


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


# The web UI's start form leaves out options whose default is None or a boolean: on Locust's
# side, "" is unset, and a switch is a choice the command line's bare flag sets to "yes".
UNSET = ""
SWITCH = ("no", "yes")
_TRUE = {"yes", "true", "on", "1"}
_FALSE = {"no", "false", "off", "0", ""}
# The Host box (Locust's --host) is the Triton URL: the form shows it, not --triton-url.
_HOST_BOX = "url"
_KINDS = {int: "a whole number", float: "a number"}


def add_locust_flags(parser: Any) -> None:
    """The Locust spellings, for `locust -f locustfiles/triton_sweep.py` and its web UI."""
    for flag in FLAGS:
        if flag.locust is None:
            continue
        kwargs = flag.argparse_kwargs(locust_dest(flag))
        kwargs["include_in_web_ui"] = flag.dest != _HOST_BOX
        kwargs["is_secret"] = flag.secret
        if flag.action == "store_true":
            # Locust's switches are yes/no words, whatever the CLI takes (a flag of the table
            # that reads `true|false` too keeps no converter here: the form shows a word).
            kwargs.pop("type", None)
            kwargs.update(
                action="store", nargs="?", const="yes", default="no", choices=SWITCH, metavar=None
            )
        elif flag.action == "append":
            kwargs["default"] = RepeatedValues()
        elif flag.default is None:
            kwargs["default"] = UNSET
            if flag.type not in (None, str):
                kwargs["type"] = _or_unset(flag.type)
        parser.add_argument(flag.locust, **kwargs)


def _or_unset(convert: Any) -> Any:
    """argparse converts a string default too: "" stays unset."""

    def typed(text: str) -> Any:
        return UNSET if text == UNSET else convert(text)

    typed.__name__ = convert.__name__  # argparse's "invalid int value" names it
    return typed


def locust_dest(flag: Flag) -> str:
    return f"triton_{flag.dest}"


def locust_value(flag: Flag, value: Any) -> Any:
    """A Locust option's value as the flag table has it. The command line gives typed values;
    the web UI's form strings (typed as the option's default was); a worker what msgpack
    carried from its master (lists, numbers, strings, None, booleans). None and "" are unset
    (the flag's default); a switch is "yes"/"no" or a boolean. Raises ValueError naming the
    option."""
    if flag.action == "store_true":
        text = str(value).strip().lower() if value is not None else ""
        if value is True or text in _TRUE:
            return True
        if value is False or text in _FALSE:
            return False
        raise ValueError(f"{flag.locust} {value!r}: expected yes or no")
    if flag.action == "append":
        values = RepeatedValues(value) if isinstance(value, str) else list(value or [])
        return values or flag.default
    if isinstance(value, str):
        value = value.strip()
        if value == UNSET:
            return flag.default
        if flag.type not in (None, str):
            try:
                return flag.type(value)
            except ValueError:
                kind = _KINDS.get(flag.type, "a value")  # type: ignore[call-overload]
                raise ValueError(f"{flag.locust} {value!r}: expected {kind}") from None
    return flag.default if value is None else value


def from_locust_options(options: Any) -> tuple[SweepSettings, Outputs]:
    by_dest = {f.dest: f for f in FLAGS}

    def get(dest: str) -> Any:
        flag = by_dest[dest]
        if flag.locust is None:
            return flag.default
        return locust_value(flag, getattr(options, locust_dest(flag), None))

    return from_values(get)


def same_host(environment: Environment) -> None:
    """Locust's --host (the web UI's Host box) and --triton-url are one thing: the one given
    fills the other, --triton-url first, so that Locust's report names the Triton server."""
    options = environment.parsed_options
    if options is None:
        return
    url = str(getattr(options, "triton_url", None) or "").strip()
    host = str(environment.host or "").strip()
    if url:
        environment.host = url
    elif host:
        options.triton_url = host


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
