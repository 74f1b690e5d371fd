"""Hooks the sweep into Locust: its options on Locust's parser (command line and web UI
start form), and on Locust workers the answering of the master's window cuts."""

from __future__ import annotations

from typing import Any

from locust import events
from locust.env import Environment
from locust.runners import WorkerRunner

from triton_locust.flags import add_locust_flags
from triton_user.window_channel import WorkerCuts

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
